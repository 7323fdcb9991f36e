// Fuzzing of the JWT verifier: arbitrary bytes as a token, to an HS256 verifier (whose
// secret the fuzzer may find, so the claim checks after the signature are reached too),
// and to an ES256 verifier (signature parsing and DER conversion). The first byte picks
// the time the token is checked at. Nothing may crash, leak or read out of bounds, and a
// token is accepted only when its header names the verifier's algorithm.
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "auth/jwt.hpp"

namespace {

const wirehub::auth::JwtVerifier& hs() {
  static const auto v = wirehub::auth::JwtVerifier::hs256(std::string(32, 'k'));
  return v;
}

const wirehub::auth::JwtVerifier& es() {
  static const auto v = [] {
    EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, k);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    EVP_PKEY_free(k);
    return wirehub::auth::JwtVerifier::from_public_key_pem(pem);
  }();
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::int64_t now = static_cast<std::int64_t>(data[0]) * 100'000'000;
  std::string_view token(reinterpret_cast<const char*>(data + 1), size - 1);
  for (const auto* v : {&hs(), &es()}) {
    auto r = v->verify(token, now);
    if ((r.error == wirehub::auth::JwtError::None) != r.token.has_value()) std::abort();
    if (r.token && v == &es()) std::abort();  // no one can sign for a key made just now
  }
  return 0;
}
