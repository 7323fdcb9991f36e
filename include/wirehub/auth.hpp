#pragma once
// wirehub public API: bearer-token authentication of WebSocket handshakes (JWT).
//
// An endpoint with WebSocketOptions::jwt set refuses every upgrade without a valid token,
// before switching protocols: no token -> 401, a bad one -> 401 with
// WWW-Authenticate: Bearer error="invalid_token", a valid one that lacks a required claim
// -> 403 (RFC 6750 3). The token comes from exactly one of (RFC 6750 2):
//   Authorization: Bearer <jwt>
//   the query parameter access_token=<jwt>
//   Sec-WebSocket-Protocol: access_token, <jwt>   (browsers cannot set headers: the
//     offer "access_token" followed directly by the token; the server answers with
//     "access_token", or with an application subprotocol offered beside them)
// Two of them at once -> 400 error="invalid_request". Tokens never reach the logs.

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace wirehub {

struct JwtAuthOptions {
  // The key, which fixes the algorithm; set exactly one. An HMAC secret of at least 32
  // bytes means HS256; a PEM public key means RS256 (RSA, 2048 bits or more) or ES256
  // (EC P-256). Tokens signed with any other algorithm ("none" included) are refused.
  std::string hs256_secret;
  std::string public_key_pem;
  std::string issuer;    // when set, "iss" must equal it
  std::string audience;  // when set, "aud" (a string or an array) must contain it
  std::uint32_t leeway_s = 30;  // clock skew allowed on "exp" and "nbf"
  // A token without "exp" never expires; by default it is refused.
  bool require_exp = true;
  // A token without a non-empty "sub" is answered 403.
  bool require_subject = false;
  // Claims the token must carry, name -> value, else 403: a string claim must equal the
  // value, an array claim must contain it as a string, and "scope" (a space-separated
  // list, RFC 8693 4.2) must list it.
  std::vector<std::pair<std::string, std::string>> required_claims;
  // Close a connection with 1008 "token expired" once its token's "exp" (plus the
  // leeway) passes.
  bool close_on_expiry = true;
};

// Who opened a connection, from its verified token.
struct Principal {
  std::string subject;      // "sub", or empty
  std::string claims_json;  // every claim, as the JSON object the token carried
  std::int64_t expires_s = 0;  // "exp" in seconds since the Unix epoch; 0 = none
};

class HttpRequest;

// The same bearer-token check for a plain HTTP route (e.g. a REST POST): the token from
// "Authorization: Bearer <jwt>" or ?access_token=<jwt> (one of them), judged as for a
// WebSocket endpoint, with the same statuses and WWW-Authenticate challenges.
class BearerAuth {
 public:
  // Throws std::invalid_argument for a missing, doubled or unusable key.
  explicit BearerAuth(const JwtAuthOptions& options);
  ~BearerAuth();
  BearerAuth(BearerAuth&&) noexcept;
  BearerAuth& operator=(BearerAuth&&) noexcept;

  struct Verdict {
    int status = 0;         // 0: accepted; else 400, 401 or 403 to answer with
    std::string challenge;  // the WWW-Authenticate value when refused
    std::string reason;     // what was wrong (never the token)
    Principal principal;    // when accepted
  };
  // Thread-safe (const); uses the system clock for "exp" and "nbf".
  Verdict check(const HttpRequest& request) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wirehub
