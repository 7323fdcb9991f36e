#include "ws/frame.hpp"

#include <bit>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define WIREHUB_AVX2_MASK 1
#endif
#endif

namespace wirehub::ws {

std::size_t write_frame_header(char* out, Opcode op, bool fin, std::uint64_t payload_len,
                               const std::uint8_t* mask, bool rsv1) noexcept {
  auto* o = reinterpret_cast<unsigned char*>(out);
  o[0] = static_cast<unsigned char>((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | static_cast<unsigned>(op));
  const unsigned char mask_bit = mask ? 0x80 : 0;
  std::size_t n;
  if (payload_len <= 125) {
    o[1] = static_cast<unsigned char>(mask_bit | payload_len);
    n = 2;
  } else if (payload_len <= 0xFFFF) {
    o[1] = mask_bit | 126;
    o[2] = static_cast<unsigned char>(payload_len >> 8);
    o[3] = static_cast<unsigned char>(payload_len);
    n = 4;
  } else {
    o[1] = mask_bit | 127;
    std::uint64_t be = payload_len;
    if constexpr (std::endian::native == std::endian::little) be = __builtin_bswap64(be);
    std::memcpy(o + 2, &be, 8);
    n = 10;
  }
  if (mask) {
    std::memcpy(o + n, mask, 4);
    n += 4;
  }
  return n;
}

namespace {
// The key as a word, rotated so that its first byte in memory is key[phase]: data byte i
// then pairs with rotated byte i % 4. Every wide step starts at a multiple of 4 bytes into
// the data, so one rotation serves them all.
std::uint32_t key_word(const std::uint8_t key[4], std::size_t phase) noexcept {
  std::uint32_t k32;
  std::memcpy(&k32, key, 4);
  if (phase != 0) {
    const int bits = static_cast<int>(8 * phase);
    k32 = std::endian::native == std::endian::little ? std::rotr(k32, bits) : std::rotl(k32, bits);
  }
  return k32;
}
}  // namespace

#if WIREHUB_AVX2_MASK
namespace {
// 32 bytes per instruction where the CPU has AVX2 (chosen at run time, so the binary still
// runs on x86-64 without it). Returns how many bytes it did: a multiple of 32.
__attribute__((target("avx2"))) std::size_t xor_avx2(unsigned char* p, std::size_t n, std::uint32_t k32) noexcept {
  const __m256i k = _mm256_set1_epi32(static_cast<int>(k32));
  std::size_t i = 0;
  for (; i + 128 <= n; i += 128) {
    auto* q = reinterpret_cast<__m256i*>(p + i);
    __m256i a = _mm256_loadu_si256(q), b = _mm256_loadu_si256(q + 1);
    __m256i c = _mm256_loadu_si256(q + 2), d = _mm256_loadu_si256(q + 3);
    _mm256_storeu_si256(q, _mm256_xor_si256(a, k));
    _mm256_storeu_si256(q + 1, _mm256_xor_si256(b, k));
    _mm256_storeu_si256(q + 2, _mm256_xor_si256(c, k));
    _mm256_storeu_si256(q + 3, _mm256_xor_si256(d, k));
  }
  for (; i + 32 <= n; i += 32) {
    auto* q = reinterpret_cast<__m256i*>(p + i);
    _mm256_storeu_si256(q, _mm256_xor_si256(_mm256_loadu_si256(q), k));
  }
  return i;
}
// __builtin_cpu_init first: this initializer may run before the runtime's own.
const bool kHaveAvx2 = [] {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") != 0;
}();
// Below this, the SSE2 loop is as fast and the AVX2 one not worth the extra branch.
constexpr std::size_t kAvx2MinBytes = 256;
}  // namespace
#endif

#if WIREHUB_AVX2_MASK
// Large payloads: the bulk 32 bytes at a time, then the rest (under 32 bytes) by the
// common path. Kept out of apply_mask itself so that the small payloads most messages
// have pay one compare for it and nothing else.
[[gnu::noinline]] static std::size_t apply_mask_large(char* data, std::size_t n, const std::uint8_t key[4],
                                                std::size_t phase) noexcept {
  phase &= 3;
  const std::uint32_t k32 = key_word(key, phase);
  // A multiple of 32 bytes: the phase after them is the phase before.
  const std::size_t done = xor_avx2(reinterpret_cast<unsigned char*>(data), n, k32);
  return apply_mask(data + done, n - done, key, phase);
}
#endif

std::size_t apply_mask(char* data, std::size_t n, const std::uint8_t key[4], std::size_t phase) noexcept {
#if WIREHUB_AVX2_MASK
  if (n >= kAvx2MinBytes && kHaveAvx2) [[unlikely]] return apply_mask_large(data, n, key, phase);
#endif
  phase &= 3;
  const std::uint32_t k32 = key_word(key, phase);
  const std::uint64_t k64 = static_cast<std::uint64_t>(k32) << 32 | k32;

  auto* p = reinterpret_cast<unsigned char*>(data);
  std::size_t i = 0;
#if defined(__SSE2__)
  if (n >= 16) {
    const __m128i k = _mm_set1_epi32(static_cast<int>(k32));
    for (; i + 64 <= n; i += 64) {
      auto* q = reinterpret_cast<__m128i*>(p + i);
      __m128i a = _mm_loadu_si128(q), b = _mm_loadu_si128(q + 1);
      __m128i c = _mm_loadu_si128(q + 2), d = _mm_loadu_si128(q + 3);
      _mm_storeu_si128(q, _mm_xor_si128(a, k));
      _mm_storeu_si128(q + 1, _mm_xor_si128(b, k));
      _mm_storeu_si128(q + 2, _mm_xor_si128(c, k));
      _mm_storeu_si128(q + 3, _mm_xor_si128(d, k));
    }
    for (; i + 16 <= n; i += 16) {
      auto* q = reinterpret_cast<__m128i*>(p + i);
      _mm_storeu_si128(q, _mm_xor_si128(_mm_loadu_si128(q), k));
    }
  }
#endif
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    w ^= k64;
    std::memcpy(p + i, &w, 8);
  }
  if (i + 4 <= n) {
    std::uint32_t w;
    std::memcpy(&w, p + i, 4);
    w ^= k32;
    std::memcpy(p + i, &w, 4);
    i += 4;
  }
  unsigned char tail[4];
  std::memcpy(tail, &k32, 4);
  for (std::size_t t = 0; i < n; ++i, ++t) p[i] ^= tail[t];
  return (phase + n) & 3;
}

}  // namespace wirehub::ws
