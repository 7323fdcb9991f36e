// Bearer tokens over HTTP (RFC 6750): the Authorization field's credentials, the
// WWW-Authenticate challenge, and required claims.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "auth/bearer.hpp"

namespace wirehub::auth {
namespace {

TEST(BearerCredentials, SchemeIsCaseInsensitiveAndSpacesMaySeparate) {  // RFC 6750 2.1, RFC 9110 11.1
  EXPECT_EQ(bearer_credentials("Bearer abc.def-_~+/=="), "abc.def-_~+/==");
  EXPECT_EQ(bearer_credentials("bearer abc"), "abc");
  EXPECT_EQ(bearer_credentials("BEARER   abc"), "abc");
}

TEST(BearerCredentials, OtherSchemesAreNotOurs) {
  EXPECT_FALSE(bearer_credentials("Basic dXNlcjpwYXNz"));
  EXPECT_FALSE(bearer_credentials("Bearerabc"));
  EXPECT_FALSE(bearer_credentials("Bear abc"));
  EXPECT_FALSE(bearer_credentials(""));
}

TEST(BearerCredentials, ABearerFieldWithoutAB64TokenIsMalformed) {
  for (std::string_view v : {"Bearer", "Bearer ", "Bearer a b", "Bearer =abc", "Bearer a=b", "Bearer a\"b",
                             "Bearer abc,def", "Bearer abc "}) {
    auto c = bearer_credentials(v);
    ASSERT_TRUE(c) << v;
    EXPECT_TRUE(c->empty()) << v;
  }
}

TEST(B64Token, Grammar) {
  EXPECT_TRUE(is_b64token("eyJ.eyJ.sig"));
  EXPECT_TRUE(is_b64token("a=="));
  EXPECT_FALSE(is_b64token(""));
  EXPECT_FALSE(is_b64token("=="));
  EXPECT_FALSE(is_b64token("a%20b"));
}

TEST(BearerChallenge, BareWhenNoTokenWasSentElseWithErrorAndDescription) {  // RFC 6750 3, 3.1
  EXPECT_EQ(bearer_challenge("wirehub"), R"(Bearer realm="wirehub")");
  EXPECT_EQ(bearer_challenge("wirehub", "invalid_token", "token expired"),
            R"(Bearer realm="wirehub", error="invalid_token", error_description="token expired")");
}

TEST(ClaimSatisfies, StringsArraysAndScopeLists) {
  auto claims = nlohmann::json::parse(
      R"({"role": "trader", "groups": ["a", "desk-7", 3], "scope": "orders:read ws:secure", "n": 7, "other": "x y"})");
  EXPECT_TRUE(claim_satisfies(claims, "role", "trader"));
  EXPECT_FALSE(claim_satisfies(claims, "role", "trade"));
  EXPECT_TRUE(claim_satisfies(claims, "groups", "desk-7"));
  EXPECT_FALSE(claim_satisfies(claims, "groups", "3"));
  EXPECT_TRUE(claim_satisfies(claims, "scope", "ws:secure"));
  EXPECT_TRUE(claim_satisfies(claims, "scope", "orders:read"));
  EXPECT_FALSE(claim_satisfies(claims, "scope", "ws"));
  EXPECT_FALSE(claim_satisfies(claims, "other", "y"));  // only "scope" is a list
  EXPECT_FALSE(claim_satisfies(claims, "n", "7"));      // numbers are not strings
  EXPECT_FALSE(claim_satisfies(claims, "missing", "x"));
}

}  // namespace
}  // namespace wirehub::auth
