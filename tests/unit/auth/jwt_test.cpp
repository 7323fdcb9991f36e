// JwtVerifier: valid HS256, RS256 and ES256 tokens are accepted; expired, not yet valid,
// wrong issuer or audience, bad signature, "alg": "none", HS256 signed with the RSA public
// key (algorithm confusion), truncated and garbage tokens are refused with the matching
// error. Keys are generated here with OpenSSL; tokens are signed here, independently of
// the code under test (only base64url_encode is shared, and it is tested on its own).

#include <openssl/bio.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "auth/jwt.hpp"

namespace wirehub::auth {
namespace {

using nlohmann::json;

constexpr std::int64_t kNow = 1'800'000'000;
const std::string kSecret = "0123456789abcdef0123456789abcdef-a-test-secret";

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

Pkey make_rsa() { return Pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048))); }
Pkey make_ec() { return Pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")); }

std::string public_pem(EVP_PKEY* k) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, k);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return pem;
}

std::string b64(const std::string& s) { return base64url_encode(s); }

std::string hmac256(const std::string& key, const std::string& input) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(input.data()),
       input.size(), mac, &n);
  return std::string(reinterpret_cast<char*>(mac), n);
}

std::string pkey_sign(EVP_PKEY* k, const std::string& input) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, k);
  std::size_t n = 0;
  EVP_DigestSign(ctx, nullptr, &n, reinterpret_cast<const unsigned char*>(input.data()), input.size());
  std::string sig(n, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &n,
                 reinterpret_cast<const unsigned char*>(input.data()), input.size());
  sig.resize(n);
  EVP_MD_CTX_free(ctx);
  if (EVP_PKEY_is_a(k, "EC")) {  // DER -> the r || s of JWS
    const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    std::string raw(64, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(raw.data()), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
    ECDSA_SIG_free(es);
    return raw;
  }
  return sig;
}

enum class Sign { Hmac, PrivateKey };

// header.claims.signature, signed with the HMAC secret or the private key k.
std::string token(const json& header, const json& claims, Sign how, EVP_PKEY* k = nullptr,
                  const std::string& secret = kSecret) {
  std::string input = b64(header.dump()) + "." + b64(claims.dump());
  std::string sig = how == Sign::Hmac ? hmac256(secret, input) : pkey_sign(k, input);
  return input + "." + b64(sig);
}

json claims(std::int64_t exp_in = 600) {
  return json{{"sub", "alice"}, {"iss", "https://issuer.test"}, {"aud", "wirehub"}, {"exp", kNow + exp_in},
              {"iat", kNow}};
}

JwtPolicy strict() {
  JwtPolicy p;
  p.issuer = "https://issuer.test";
  p.audience = "wirehub";
  return p;
}

TEST(Base64url, RoundTripsAndRefusesWhatIsNotCanonical) {
  for (const std::string& s : std::initializer_list<std::string>{"", "f", "fo", "foo", "foob", "fooba", "foobar", std::string("\xff\xfe\x00\x01", 4)}) {
    auto d = base64url_decode(base64url_encode(s));
    ASSERT_TRUE(d) << s;
    EXPECT_EQ(*d, s);
  }
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  EXPECT_FALSE(base64url_decode("Zm9v="));  // padding is not base64url as JWS uses it
  EXPECT_FALSE(base64url_decode("Zm+v"));   // '+' is base64, not base64url
  EXPECT_FALSE(base64url_decode("Z"));      // impossible length
  EXPECT_FALSE(base64url_decode("Zh"));     // non-zero bits after the last byte
}

TEST(Jwt, ValidHs256Rs256AndEs256TokensAreAccepted) {
  auto hs = JwtVerifier::hs256(kSecret, strict());
  auto r = hs.verify(token({{"alg", "HS256"}, {"typ", "JWT"}}, claims(), Sign::Hmac), kNow);
  ASSERT_EQ(r.error, JwtError::None) << describe(r.error);
  EXPECT_EQ(r.token->subject, "alice");
  EXPECT_EQ(r.token->expires_s, kNow + 600);

  Pkey rsa = make_rsa();
  auto rs = JwtVerifier::from_public_key_pem(public_pem(rsa.get()), strict());
  EXPECT_EQ(rs.algorithm(), JwtAlgorithm::RS256);
  r = rs.verify(token({{"alg", "RS256"}}, claims(), Sign::PrivateKey, rsa.get()), kNow);
  EXPECT_EQ(r.error, JwtError::None) << describe(r.error);

  Pkey ec = make_ec();
  auto es = JwtVerifier::from_public_key_pem(public_pem(ec.get()), strict());
  EXPECT_EQ(es.algorithm(), JwtAlgorithm::ES256);
  r = es.verify(token({{"alg", "ES256"}}, claims(), Sign::PrivateKey, ec.get()), kNow);
  EXPECT_EQ(r.error, JwtError::None) << describe(r.error);
  // An audience array that contains ours.
  json c = claims();
  c["aud"] = json::array({"other", "wirehub"});
  EXPECT_EQ(es.verify(token({{"alg", "ES256"}}, c, Sign::PrivateKey, ec.get()), kNow).error, JwtError::None);
}

TEST(Jwt, TimeClaimsAreCheckedWithTheLeeway) {
  auto hs = JwtVerifier::hs256(kSecret);  // leeway 30 s
  auto at = [&](const json& c, std::int64_t now) { return hs.verify(token({{"alg", "HS256"}}, c, Sign::Hmac), now).error; };
  EXPECT_EQ(at(claims(-31), kNow), JwtError::Expired);
  EXPECT_EQ(at(claims(-29), kNow), JwtError::None);
  json c = claims();
  c["nbf"] = kNow + 31;
  EXPECT_EQ(at(c, kNow), JwtError::NotYetValid);
  c["nbf"] = kNow + 29;
  EXPECT_EQ(at(c, kNow), JwtError::None);
  c["nbf"] = "tomorrow";
  EXPECT_EQ(at(c, kNow), JwtError::Malformed);
  json no_exp = claims();
  no_exp.erase("exp");
  EXPECT_EQ(at(no_exp, kNow), JwtError::Expired);  // a token that never expires is refused
  JwtPolicy lax;
  lax.require_exp = false;
  EXPECT_EQ(JwtVerifier::hs256(kSecret, lax).verify(token({{"alg", "HS256"}}, no_exp, Sign::Hmac), kNow).error,
            JwtError::None);
  json frac = claims();
  frac["exp"] = static_cast<double>(kNow) + 0.5;
  EXPECT_EQ(at(frac, kNow), JwtError::None);
}

TEST(Jwt, IssuerAndAudienceMustMatchWhenRequired) {
  auto hs = JwtVerifier::hs256(kSecret, strict());
  json c = claims();
  c["iss"] = "https://other.test";
  EXPECT_EQ(hs.verify(token({{"alg", "HS256"}}, c, Sign::Hmac), kNow).error, JwtError::WrongIssuer);
  c = claims();
  c.erase("iss");
  EXPECT_EQ(hs.verify(token({{"alg", "HS256"}}, c, Sign::Hmac), kNow).error, JwtError::WrongIssuer);
  c = claims();
  c["aud"] = json::array({"other"});
  EXPECT_EQ(hs.verify(token({{"alg", "HS256"}}, c, Sign::Hmac), kNow).error, JwtError::WrongAudience);
  c["aud"] = 7;
  EXPECT_EQ(hs.verify(token({{"alg", "HS256"}}, c, Sign::Hmac), kNow).error, JwtError::WrongAudience);
}

TEST(Jwt, BadSignaturesAreRefused) {
  auto hs = JwtVerifier::hs256(kSecret);
  std::string t = token({{"alg", "HS256"}}, claims(), Sign::Hmac, nullptr, kSecret + "x");
  EXPECT_EQ(hs.verify(t, kNow).error, JwtError::BadSignature);
  // A claim changed after signing.
  std::string good = token({{"alg", "HS256"}}, claims(), Sign::Hmac);
  json c = claims();
  c["sub"] = "mallory";
  std::string forged = good.substr(0, good.find('.')) + "." + b64(c.dump()) + good.substr(good.rfind('.'));
  EXPECT_EQ(hs.verify(forged, kNow).error, JwtError::BadSignature);

  Pkey ec = make_ec();
  Pkey other = make_ec();
  auto es = JwtVerifier::from_public_key_pem(public_pem(ec.get()));
  EXPECT_EQ(es.verify(token({{"alg", "ES256"}}, claims(), Sign::PrivateKey, other.get()), kNow).error, JwtError::BadSignature);
  Pkey rsa = make_rsa();
  auto rs = JwtVerifier::from_public_key_pem(public_pem(rsa.get()));
  std::string rt = token({{"alg", "RS256"}}, claims(), Sign::PrivateKey, rsa.get());
  rt[rt.size() - 5] = rt[rt.size() - 5] == 'A' ? 'B' : 'A';
  EXPECT_EQ(rs.verify(rt, kNow).error, JwtError::BadSignature);
}

TEST(Jwt, AlgNoneAndAlgorithmConfusionAreRefused) {
  auto hs = JwtVerifier::hs256(kSecret);
  std::string none = b64(json{{"alg", "none"}}.dump()) + "." + b64(claims().dump()) + ".";
  EXPECT_EQ(hs.verify(none, kNow).error, JwtError::AlgorithmRefused);
  Pkey rsa = make_rsa();
  const std::string pem = public_pem(rsa.get());
  auto rs = JwtVerifier::from_public_key_pem(pem);
  EXPECT_EQ(rs.verify(none, kNow).error, JwtError::AlgorithmRefused);
  // HS256 "signed" with the server's public key as the HMAC secret.
  std::string confused = token({{"alg", "HS256"}}, claims(), Sign::Hmac, nullptr, pem);
  EXPECT_EQ(rs.verify(confused, kNow).error, JwtError::AlgorithmRefused);
  // An RS256 token offered to an HS256 verifier, and an ES256 one to an RS256 verifier.
  EXPECT_EQ(hs.verify(token({{"alg", "RS256"}}, claims(), Sign::PrivateKey, rsa.get()), kNow).error,
            JwtError::AlgorithmRefused);
  Pkey ec = make_ec();
  EXPECT_EQ(rs.verify(token({{"alg", "ES256"}}, claims(), Sign::PrivateKey, ec.get()), kNow).error,
            JwtError::AlgorithmRefused);
  // Unknown critical extensions are refused even with a good signature.
  EXPECT_EQ(hs.verify(token({{"alg", "HS256"}, {"crit", {"exp"}}}, claims(), Sign::Hmac), kNow).error,
            JwtError::Malformed);
}

TEST(Jwt, TruncatedAndGarbageTokensAreMalformed) {
  auto hs = JwtVerifier::hs256(kSecret);
  std::string good = token({{"alg", "HS256"}}, claims(), Sign::Hmac);
  for (std::string bad : {std::string(), std::string("garbage"), std::string("a.b"), std::string("a.b.c.d"),
                          good.substr(0, good.find('.')), good.substr(0, good.rfind('.')),
                          std::string("!!!.???.***"), b64("not json") + "." + b64("{}") + ".",
                          b64("[1]") + "." + b64("{}") + ".", b64("{}") + "." + b64("{}") + ".",
                          b64(R"({"alg":7})") + "." + b64("{}") + "."}) {
    EXPECT_EQ(hs.verify(bad, kNow).error, JwtError::Malformed) << bad;
  }
  // A truncated signature is a bad signature, not a crash.
  EXPECT_NE(hs.verify(good.substr(0, good.size() - 4), kNow).error, JwtError::None);
}

TEST(Jwt, WeakOrUnusableKeysAreRefusedWhenConfigured) {
  EXPECT_THROW(JwtVerifier::hs256("short"), std::invalid_argument);
  EXPECT_THROW(JwtVerifier::from_public_key_pem("not a key"), std::invalid_argument);
  Pkey small(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(1024)));
  EXPECT_THROW(JwtVerifier::from_public_key_pem(public_pem(small.get())), std::invalid_argument);
  Pkey p384(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
  EXPECT_THROW(JwtVerifier::from_public_key_pem(public_pem(p384.get())), std::invalid_argument);
}

}  // namespace
}  // namespace wirehub::auth
