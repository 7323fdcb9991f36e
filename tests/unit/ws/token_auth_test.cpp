// TokenAuth: where the token of an upgrade request may come from (RFC 6750 2, plus the
// subprotocol form of auth.hpp), and which status each refusal gets (RFC 6750 3.1).
// Tokens are HS256-signed with OpenSSL's HMAC, independently of the verifier.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "hs256_sign.hpp"
#include "ws/token_auth.hpp"

namespace wirehub::ws {
namespace {

constexpr std::int64_t kNow = 1'800'000'000;
const std::string kSecret = "a-secret-of-more-than-thirty-two-bytes-for-hs256";

std::string hs256(const nlohmann::json& claims, const std::string& secret = kSecret) {
  return test::hs256_token(claims, secret);
}

nlohmann::json alice() { return {{"sub", "alice"}, {"exp", kNow + 600}, {"scope", "orders:read ws:secure"}}; }

JwtAuthOptions options() {
  JwtAuthOptions o;
  o.hs256_secret = kSecret;
  o.require_subject = true;
  return o;
}

// A request head whose views point into strings the struct owns.
struct Request {
  std::vector<std::pair<std::string, std::string>> fields;
  std::string query;
  http::RequestHead head() const {
    http::RequestHead h;
    h.query = query;
    for (const auto& [n, v] : fields) h.headers.push_back({n, v});
    return h;
  }
};

TokenAuth::Verdict check(const Request& r, const JwtAuthOptions& o = options()) {
  return TokenAuth(o).check(r.head(), kNow);
}

TEST(TokenAuth, AcceptsEachSourceAndKeepsThePrincipal) {
  const std::string t = hs256(alice());
  for (const Request& r : {Request{{{"Authorization", "Bearer " + t}}, ""},
                           Request{{}, "x=1&access_token=" + t},
                           Request{{{"Sec-WebSocket-Protocol", "access_token, " + t}}, ""},
                           Request{{{"Sec-WebSocket-Protocol", "chat"}, {"Sec-WebSocket-Protocol", "access_token"},
                                    {"Sec-WebSocket-Protocol", t}},
                                   ""}}) {
    auto v = check(r);
    ASSERT_EQ(v.status, 0) << v.reason;
    EXPECT_EQ(v.principal.subject, "alice");
    EXPECT_EQ(v.principal.expires_s, kNow + 600);
    EXPECT_EQ(nlohmann::json::parse(v.principal.claims_json), alice());
    EXPECT_EQ(v.via_subprotocol, r.fields.size() >= 1 && r.fields[0].first == "Sec-WebSocket-Protocol");
  }
}

TEST(TokenAuth, NoTokenIs401WithABareChallenge) {  // RFC 6750 3.1: no error code without a token
  for (const Request& r : {Request{}, Request{{{"Authorization", "Basic dXNlcjpwYXNz"}}, ""},
                           Request{{{"Sec-WebSocket-Protocol", "chat"}}, "token=abc"}}) {
    auto v = check(r);
    EXPECT_EQ(v.status, 401);
    EXPECT_EQ(v.challenge, R"(Bearer realm="wirehub")");
  }
}

TEST(TokenAuth, TwoSourcesAre400InvalidRequest) {  // RFC 6750 2: one method per request
  const std::string t = hs256(alice());
  auto v = check({{{"Authorization", "Bearer " + t}}, "access_token=" + t});
  EXPECT_EQ(v.status, 400);
  EXPECT_NE(v.challenge.find(R"(error="invalid_request")"), std::string::npos);
  v = check({{{"Authorization", "Bearer " + t}, {"Authorization", "Bearer " + t}}, ""});
  EXPECT_EQ(v.status, 400);
}

TEST(TokenAuth, BadTokensAre401InvalidTokenSayingWhyButNeverTheToken) {
  auto expired = alice();
  expired["exp"] = kNow - 31;
  const std::string good = hs256(alice());
  struct Case {
    Request r;
    std::string_view description;
  } cases[] = {
      {{{{"Authorization", "Bearer " + hs256(expired)}}, ""}, "token expired"},
      {{{{"Authorization", "Bearer " + hs256(alice(), kSecret + "x")}}, ""}, "invalid signature"},
      {{{{"Authorization", "Bearer " + good.substr(0, good.rfind('.'))}}, ""}, "malformed token"},  // truncated
      {{{{"Authorization", "Bearer not-a-jwt"}}, ""}, "malformed token"},
      {{{{"Authorization", "Bearer"}}, ""}, "malformed token"},
      {{{}, "access_token="}, "malformed token"},
      {{{}, "access_token=a%20b"}, "malformed token"},
      {{{{"Sec-WebSocket-Protocol", "access_token"}}, ""}, "malformed token"},  // no token after it
  };
  for (const auto& c : cases) {
    auto v = check(c.r);
    EXPECT_EQ(v.status, 401) << c.description;
    EXPECT_EQ(v.reason, c.description);
    EXPECT_EQ(v.challenge, std::string(R"(Bearer realm="wirehub", error="invalid_token", error_description=")") +
                               std::string(c.description) + "\"");
  }
}

TEST(TokenAuth, AValidTokenWithoutANeededClaimIs403InsufficientScope) {
  auto no_sub = alice();
  no_sub.erase("sub");
  auto v = check({{{"Authorization", "Bearer " + hs256(no_sub)}}, ""});
  EXPECT_EQ(v.status, 403);
  EXPECT_NE(v.challenge.find(R"(error="insufficient_scope")"), std::string::npos);

  auto o = options();
  o.required_claims = {{"scope", "ws:secure"}};
  EXPECT_EQ(check({{{"Authorization", "Bearer " + hs256(alice())}}, ""}, o).status, 0);
  o.required_claims = {{"scope", "ws:secure"}, {"role", "admin"}};
  EXPECT_EQ(check({{{"Authorization", "Bearer " + hs256(alice())}}, ""}, o).status, 403);
}

TEST(TokenAuth, ClosingTimeIsExpiryPlusLeewayUnlessDisabled) {
  auto o = options();
  o.leeway_s = 5;
  Principal p;
  p.expires_s = kNow + 100;
  EXPECT_EQ(TokenAuth(o).close_at_s(p), kNow + 105);
  o.close_on_expiry = false;
  EXPECT_EQ(TokenAuth(o).close_at_s(p), 0);
}

TEST(TokenAuth, NeedsExactlyOneUsableKey) {
  JwtAuthOptions none;
  EXPECT_THROW(TokenAuth{none}, std::invalid_argument);
  auto both = options();
  both.public_key_pem = "-----BEGIN PUBLIC KEY-----";
  EXPECT_THROW(TokenAuth{both}, std::invalid_argument);
  auto short_secret = options();
  short_secret.hs256_secret = "too short";
  EXPECT_THROW(TokenAuth{short_secret}, std::invalid_argument);
}

}  // namespace
}  // namespace wirehub::ws
