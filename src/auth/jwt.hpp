#pragma once
// JwtVerifier: accepts or refuses a JSON Web Token (RFC 7519, compact JWS of RFC 7515).
//
// One verifier holds one key, and the key fixes the algorithm: an HMAC secret means HS256,
// an RSA public key RS256, a P-256 public key ES256 (RFC 7518 3.2-3.4). The token's "alg"
// must name exactly that algorithm, so "none" and algorithm confusion (an HS256 token
// "signed" with the server's RSA public key as the secret) are refused by construction.
// Then the claims: "exp" and "nbf" (NumericDate, with a leeway for clock skew), "iss" and
// "aud" when the policy asks for them. Errors say what was wrong, never the token.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace wirehub::auth {

enum class JwtError {
  None,
  Malformed,          // not three base64url parts of JSON, or a claim of the wrong type
  AlgorithmRefused,   // "alg" is not the algorithm of the configured key (none, confusion)
  BadSignature,
  Expired,            // "exp" is past (beyond the leeway), or missing when required
  NotYetValid,        // "nbf" is ahead (beyond the leeway)
  WrongIssuer,
  WrongAudience,
};
std::string_view describe(JwtError e) noexcept;

enum class JwtAlgorithm { HS256, RS256, ES256 };

struct JwtPolicy {
  std::optional<std::string> issuer;    // "iss" must equal it
  std::optional<std::string> audience;  // "aud" (a string or an array) must contain it
  std::int64_t leeway_s = 30;           // allowed clock skew for exp and nbf
  bool require_exp = true;              // a token without "exp" never expires: refuse it
};

struct VerifiedJwt {
  nlohmann::json claims;
  std::string subject;                   // "sub", or empty
  std::optional<std::int64_t> expires_s;  // "exp"
};

class JwtVerifier {
 public:
  // HS256 with this secret (RFC 7518 3.2 asks for at least 256 bits; shorter is refused).
  static JwtVerifier hs256(std::string secret, JwtPolicy policy = {});
  // RS256 or ES256, from a PEM public key ("-----BEGIN PUBLIC KEY-----"): RSA (2048 bits or
  // more) means RS256, EC P-256 means ES256. Throws std::invalid_argument otherwise.
  static JwtVerifier from_public_key_pem(std::string_view pem, JwtPolicy policy = {});

  JwtVerifier(JwtVerifier&&) noexcept;
  JwtVerifier& operator=(JwtVerifier&&) noexcept;
  ~JwtVerifier();

  JwtAlgorithm algorithm() const noexcept { return alg_; }

  // now_s: seconds since the Unix epoch. On success error is None and token is set.
  struct Result {
    JwtError error = JwtError::None;
    std::optional<VerifiedJwt> token;
  };
  Result verify(std::string_view token, std::int64_t now_s) const;

 private:
  struct Key;
  JwtVerifier(JwtAlgorithm alg, std::unique_ptr<Key> key, JwtPolicy policy);
  bool signature_ok(std::string_view signing_input, std::string_view signature) const;

  JwtAlgorithm alg_;
  std::unique_ptr<Key> key_;
  JwtPolicy policy_;
};

// base64url without padding (RFC 4648 5, as JWS uses it); nullopt on any other character,
// an impossible length, or non-zero bits after the last whole byte.
std::optional<std::string> base64url_decode(std::string_view in);
std::string base64url_encode(std::string_view in);

}  // namespace wirehub::auth
