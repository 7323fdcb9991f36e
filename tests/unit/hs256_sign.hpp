#pragma once
// Signs HS256 tokens for the tests, with OpenSSL's HMAC directly (independent of the
// verifier under test; only base64url_encode is shared, and it is tested on its own).

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>

#include <nlohmann/json.hpp>

#include "auth/jwt.hpp"

namespace wirehub::test {

inline std::string hs256_token(const nlohmann::json& claims, const std::string& secret) {
  std::string input =
      auth::base64url_encode(R"({"alg":"HS256","typ":"JWT"})") + "." + auth::base64url_encode(claims.dump());
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &n);
  return input + "." + auth::base64url_encode(std::string(reinterpret_cast<char*>(mac), n));
}

}  // namespace wirehub::test
