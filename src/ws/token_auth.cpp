#include "ws/token_auth.hpp"

#include <strings.h>

#include <stdexcept>

#include "auth/bearer.hpp"
#include "ws/handshake.hpp"

namespace wirehub::ws {

namespace {
constexpr std::string_view kRealm = "wirehub";

bool name_is(const http::Header& h, std::string_view name) {
  return h.name.size() == name.size() && strncasecmp(h.name.data(), name.data(), name.size()) == 0;
}

auth::JwtVerifier make_verifier(const JwtAuthOptions& o) {
  auth::JwtPolicy policy;
  if (!o.issuer.empty()) policy.issuer = o.issuer;
  if (!o.audience.empty()) policy.audience = o.audience;
  policy.leeway_s = o.leeway_s;
  policy.require_exp = o.require_exp;
  if (o.hs256_secret.empty() == o.public_key_pem.empty()) {
    throw std::invalid_argument("JWT authentication needs exactly one key: an HS256 secret or a PEM public key");
  }
  if (!o.hs256_secret.empty()) return auth::JwtVerifier::hs256(o.hs256_secret, policy);
  return auth::JwtVerifier::from_public_key_pem(o.public_key_pem, policy);
}

TokenAuth::Verdict refuse(int status, std::string_view error, std::string_view reason) {
  TokenAuth::Verdict v;
  v.status = status;
  v.reason = reason;
  // RFC 6750 3.1: a request that carried no token gets the bare challenge, no error code.
  v.challenge = auth::bearer_challenge(kRealm, error, error.empty() ? std::string_view{} : reason);
  return v;
}
}  // namespace

std::vector<std::string_view> offered_subprotocols(const http::RequestHead& head) {
  std::vector<std::string_view> offered;
  for (const auto& h : head.headers) {
    if (name_is(h, "Sec-WebSocket-Protocol")) {
      for (auto t : split_tokens(h.value)) offered.push_back(t);
    }
  }
  return offered;
}

TokenAuth::TokenAuth(const JwtAuthOptions& options) : options_(options), verifier_(make_verifier(options)) {
  for (const auto& [name, value] : options_.required_claims) {
    if (name.empty()) throw std::invalid_argument("a required JWT claim needs a name");
  }
}

TokenAuth::Verdict TokenAuth::check(const http::RequestHead& head, std::int64_t now_s) const {
  // Collect the token from each source; RFC 6750 2: a client must use only one.
  int sources = 0;
  std::string_view token;
  bool malformed = false;
  bool via_subprotocol = false;
  for (const auto& h : head.headers) {
    if (!name_is(h, "Authorization")) continue;
    auto creds = auth::bearer_credentials(h.value);
    if (!creds) continue;  // another scheme: not ours to judge
    ++sources;
    token = *creds;
    malformed = creds->empty();
  }
  std::optional<std::string> query_token = http::query_param(head.query, "access_token");
  if (query_token) {
    ++sources;
    token = *query_token;
    malformed = !auth::is_b64token(token);
  }
  std::vector<std::string_view> offered = offered_subprotocols(head);
  for (std::size_t i = 0; i < offered.size(); ++i) {
    if (offered[i] != kTokenSubprotocol) continue;
    ++sources;
    via_subprotocol = true;
    token = i + 1 < offered.size() ? offered[i + 1] : std::string_view{};
    malformed = !auth::is_b64token(token);
    break;
  }

  if (sources == 0) return refuse(401, {}, "missing bearer token");
  if (sources > 1) return refuse(400, "invalid_request", "more than one bearer token");
  if (malformed) return refuse(401, "invalid_token", "malformed token");

  auto result = verifier_.verify(token, now_s);
  if (result.error != auth::JwtError::None) return refuse(401, "invalid_token", auth::describe(result.error));

  const auth::VerifiedJwt& jwt = *result.token;
  if (options_.require_subject && jwt.subject.empty()) {
    return refuse(403, "insufficient_scope", "token has no subject");
  }
  for (const auto& [name, value] : options_.required_claims) {
    if (!auth::claim_satisfies(jwt.claims, name, value)) {
      return refuse(403, "insufficient_scope", "token lacks a required claim");
    }
  }
  Verdict v;
  v.principal.subject = jwt.subject;
  v.principal.claims_json = jwt.claims.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  v.principal.expires_s = jwt.expires_s.value_or(0);
  v.via_subprotocol = via_subprotocol;
  return v;
}

}  // namespace wirehub::ws
