#include "auth/jwt.hpp"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <array>
#include <stdexcept>
#include <utility>

#include "core/base64.hpp"

namespace wirehub::auth {

namespace {

std::string_view algorithm_name(JwtAlgorithm a) {
  switch (a) {
    case JwtAlgorithm::HS256: return "HS256";
    case JwtAlgorithm::RS256: return "RS256";
    case JwtAlgorithm::ES256: return "ES256";
  }
  return "";
}

// A NumericDate claim: a JSON number of seconds (fractions allowed, RFC 7519 2).
std::optional<std::int64_t> numeric_date(const nlohmann::json& v) {
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (d != d || d > 9.2e18 || d < -9.2e18) return std::nullopt;
    return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

struct PkeyFree {
  void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};

}  // namespace

std::string_view describe(JwtError e) noexcept {
  switch (e) {
    case JwtError::None: return "valid";
    case JwtError::Malformed: return "malformed token";
    case JwtError::AlgorithmRefused: return "token algorithm not accepted";
    case JwtError::BadSignature: return "invalid signature";
    case JwtError::Expired: return "token expired";
    case JwtError::NotYetValid: return "token not yet valid";
    case JwtError::WrongIssuer: return "wrong issuer";
    case JwtError::WrongAudience: return "wrong audience";
  }
  return "invalid token";
}

std::optional<std::string> base64url_decode(std::string_view in) {
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = base64_value(c, Base64Alphabet::Url);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;  // non-canonical
  return out;
}

std::string base64url_encode(std::string_view in) { return base64_encode(in, Base64Alphabet::Url, false); }

struct JwtVerifier::Key {
  std::string secret;                           // HS256
  std::unique_ptr<EVP_PKEY, PkeyFree> pkey;     // RS256, ES256
};

JwtVerifier::JwtVerifier(JwtAlgorithm alg, std::unique_ptr<Key> key, JwtPolicy policy)
    : alg_(alg), key_(std::move(key)), policy_(std::move(policy)) {}
JwtVerifier::JwtVerifier(JwtVerifier&&) noexcept = default;
JwtVerifier& JwtVerifier::operator=(JwtVerifier&&) noexcept = default;
JwtVerifier::~JwtVerifier() {
  if (key_ && !key_->secret.empty()) OPENSSL_cleanse(key_->secret.data(), key_->secret.size());
}

JwtVerifier JwtVerifier::hs256(std::string secret, JwtPolicy policy) {
  if (secret.size() < 32) throw std::invalid_argument("HS256 secret shorter than 256 bits");
  auto key = std::make_unique<Key>();
  key->secret = std::move(secret);
  return JwtVerifier(JwtAlgorithm::HS256, std::move(key), std::move(policy));
}

JwtVerifier JwtVerifier::from_public_key_pem(std::string_view pem, JwtPolicy policy) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (!bio) throw std::bad_alloc();
  std::unique_ptr<EVP_PKEY, PkeyFree> pkey(PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  if (!pkey) throw std::invalid_argument("not a PEM public key");
  JwtAlgorithm alg;
  if (EVP_PKEY_is_a(pkey.get(), "RSA")) {
    if (EVP_PKEY_get_bits(pkey.get()) < 2048) throw std::invalid_argument("RSA key shorter than 2048 bits");
    alg = JwtAlgorithm::RS256;
  } else if (EVP_PKEY_is_a(pkey.get(), "EC")) {
    char group[64] = {};
    std::size_t len = 0;
    if (!EVP_PKEY_get_utf8_string_param(pkey.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) ||
        std::string_view(group, len) != "prime256v1") {
      throw std::invalid_argument("EC key is not on P-256 (ES256)");
    }
    alg = JwtAlgorithm::ES256;
  } else {
    throw std::invalid_argument("public key is neither RSA nor EC");
  }
  auto key = std::make_unique<Key>();
  key->pkey = std::move(pkey);
  return JwtVerifier(alg, std::move(key), std::move(policy));
}

bool JwtVerifier::signature_ok(std::string_view input, std::string_view sig) const {
  if (alg_ == JwtAlgorithm::HS256) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (!HMAC(EVP_sha256(), key_->secret.data(), static_cast<int>(key_->secret.size()),
              reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &mac_len)) {
      return false;
    }
    return sig.size() == mac_len && CRYPTO_memcmp(sig.data(), mac, mac_len) == 0;
  }
  std::string der;
  const unsigned char* s = reinterpret_cast<const unsigned char*>(sig.data());
  std::size_t s_len = sig.size();
  if (alg_ == JwtAlgorithm::ES256) {
    // JWS carries r || s, 32 bytes each (RFC 7518 3.4); OpenSSL verifies DER.
    if (sig.size() != 64) return false;
    ECDSA_SIG* es = ECDSA_SIG_new();
    if (!es) return false;
    BIGNUM* r = BN_bin2bn(s, 32, nullptr);
    BIGNUM* ss = BN_bin2bn(s + 32, 32, nullptr);
    if (!r || !ss || !ECDSA_SIG_set0(es, r, ss)) {
      BN_free(r);
      BN_free(ss);
      ECDSA_SIG_free(es);
      return false;
    }
    unsigned char* out = nullptr;
    int n = i2d_ECDSA_SIG(es, &out);
    ECDSA_SIG_free(es);
    if (n <= 0) return false;
    der.assign(reinterpret_cast<char*>(out), static_cast<std::size_t>(n));
    OPENSSL_free(out);
    s = reinterpret_cast<const unsigned char*>(der.data());
    s_len = der.size();
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (!ctx) return false;
  bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key_->pkey.get()) == 1 &&
            EVP_DigestVerify(ctx, s, s_len, reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

JwtVerifier::Result JwtVerifier::verify(std::string_view token, std::int64_t now_s) const {
  auto refuse = [](JwtError e) { return Result{e, std::nullopt}; };
  const std::size_t dot1 = token.find('.');
  const std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return refuse(JwtError::Malformed);
  }
  auto header_text = base64url_decode(token.substr(0, dot1));
  auto claims_text = base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  auto signature = base64url_decode(token.substr(dot2 + 1));
  if (!header_text || !claims_text || !signature) return refuse(JwtError::Malformed);
  nlohmann::json header = nlohmann::json::parse(*header_text, nullptr, /*allow_exceptions=*/false);
  nlohmann::json claims = nlohmann::json::parse(*claims_text, nullptr, /*allow_exceptions=*/false);
  if (!header.is_object() || !claims.is_object()) return refuse(JwtError::Malformed);

  // The algorithm is the key's; "crit" extensions are not understood, so such tokens are
  // refused (RFC 7515 4.1.11).
  auto alg = header.find("alg");
  if (alg == header.end() || !alg->is_string()) return refuse(JwtError::Malformed);
  if (alg->get_ref<const std::string&>() != algorithm_name(alg_)) return refuse(JwtError::AlgorithmRefused);
  if (header.contains("crit")) return refuse(JwtError::Malformed);
  if (!signature_ok(token.substr(0, dot2), *signature)) return refuse(JwtError::BadSignature);

  VerifiedJwt v;
  if (auto it = claims.find("exp"); it != claims.end()) {
    auto exp = numeric_date(*it);
    if (!exp) return refuse(JwtError::Malformed);
    if (now_s > *exp + policy_.leeway_s) return refuse(JwtError::Expired);
    v.expires_s = *exp;
  } else if (policy_.require_exp) {
    return refuse(JwtError::Expired);
  }
  if (auto it = claims.find("nbf"); it != claims.end()) {
    auto nbf = numeric_date(*it);
    if (!nbf) return refuse(JwtError::Malformed);
    if (now_s + policy_.leeway_s < *nbf) return refuse(JwtError::NotYetValid);
  }
  if (policy_.issuer) {
    auto it = claims.find("iss");
    if (it == claims.end() || !it->is_string() || it->get_ref<const std::string&>() != *policy_.issuer) {
      return refuse(JwtError::WrongIssuer);
    }
  }
  if (policy_.audience) {
    auto it = claims.find("aud");
    bool found = false;
    if (it != claims.end() && it->is_string()) {
      found = it->get_ref<const std::string&>() == *policy_.audience;
    } else if (it != claims.end() && it->is_array()) {
      for (const auto& a : *it) found = found || (a.is_string() && a.get_ref<const std::string&>() == *policy_.audience);
    }
    if (!found) return refuse(JwtError::WrongAudience);
  }
  if (auto it = claims.find("sub"); it != claims.end()) {
    if (!it->is_string()) return refuse(JwtError::Malformed);
    v.subject = it->get<std::string>();
  }
  v.claims = std::move(claims);
  return Result{JwtError::None, std::move(v)};
}

}  // namespace wirehub::auth
