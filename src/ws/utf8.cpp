#include "ws/utf8.hpp"

#include <array>
#include <bit>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace wirehub::ws {
namespace {

// Byte classes: every byte value falls in exactly one, and bytes of one class behave
// identically in every state.
enum Class : std::uint8_t {
  kAscii,      // 00..7F
  kCont8,      // 80..8F  continuation, low quarter
  kCont9,      // 90..9F  continuation, second quarter
  kContA,      // A0..BF  continuation, upper half
  kLead2,      // C2..DF
  kLeadE0,     // E0      3-byte, next must be A0..BF (else overlong)
  kLead3,      // E1..EC, EE..EF
  kLeadED,     // ED      3-byte, next must be 80..9F (else a surrogate)
  kLeadF0,     // F0      4-byte, next must be 90..BF (else overlong)
  kLead4,      // F1..F3
  kLeadF4,     // F4      4-byte, next must be 80..8F (else above U+10FFFF)
  kInvalid,    // C0, C1, F5..FF: never appear in UTF-8
};
constexpr int kClasses = kInvalid + 1;

// States, numbered; stored premultiplied by kClasses so a step is one table load.
enum State : std::uint8_t {
  sAccept,  // between sequences
  sReject,  // sticky failure
  sNeed1,   // one more continuation byte 80..BF
  sNeed2,   // two more, first unrestricted
  sNeed3,   // three more, first unrestricted
  sAfterE0, // two more, first A0..BF
  sAfterED, // two more, first 80..9F
  sAfterF0, // three more, first 90..BF
  sAfterF4, // three more, first 80..8F
};
constexpr int kStates = sAfterF4 + 1;

static_assert(int{sAccept} * kClasses == Utf8Validator::kAccept);
static_assert(int{sReject} * kClasses == Utf8Validator::kReject);

constexpr std::array<std::uint8_t, 256> make_classes() {
  std::array<std::uint8_t, 256> c{};
  for (int b = 0; b < 256; ++b) {
    Class k = kInvalid;
    if (b <= 0x7F) k = kAscii;
    else if (b <= 0x8F) k = kCont8;
    else if (b <= 0x9F) k = kCont9;
    else if (b <= 0xBF) k = kContA;
    else if (b <= 0xC1) k = kInvalid;
    else if (b <= 0xDF) k = kLead2;
    else if (b == 0xE0) k = kLeadE0;
    else if (b == 0xED) k = kLeadED;
    else if (b <= 0xEF) k = kLead3;
    else if (b == 0xF0) k = kLeadF0;
    else if (b <= 0xF3) k = kLead4;
    else if (b == 0xF4) k = kLeadF4;
    c[static_cast<std::size_t>(b)] = k;
  }
  return c;
}

constexpr std::array<std::uint8_t, std::size_t{kStates * kClasses}> make_transitions() {
  std::array<std::uint8_t, std::size_t{kStates * kClasses}> t{};
  auto set = [&t](State from, Class cls, State to) {
    t[static_cast<std::size_t>(int{from} * kClasses + int{cls})] = static_cast<std::uint8_t>(int{to} * kClasses);
  };
  for (int s = 0; s < kStates; ++s)
    for (int k = 0; k < kClasses; ++k) set(static_cast<State>(s), static_cast<Class>(k), sReject);

  set(sAccept, kAscii, sAccept);
  set(sAccept, kLead2, sNeed1);
  set(sAccept, kLeadE0, sAfterE0);
  set(sAccept, kLead3, sNeed2);
  set(sAccept, kLeadED, sAfterED);
  set(sAccept, kLeadF0, sAfterF0);
  set(sAccept, kLead4, sNeed3);
  set(sAccept, kLeadF4, sAfterF4);
  for (Class k : {kCont8, kCont9, kContA}) {
    set(sNeed1, k, sAccept);
    set(sNeed2, k, sNeed1);
    set(sNeed3, k, sNeed2);
  }
  set(sAfterE0, kContA, sNeed1);
  set(sAfterED, kCont8, sNeed1);
  set(sAfterED, kCont9, sNeed1);
  set(sAfterF0, kCont9, sNeed2);
  set(sAfterF0, kContA, sNeed2);
  set(sAfterF4, kCont8, sNeed2);
  return t;
}

constexpr auto kClassOf = make_classes();
constexpr auto kNext = make_transitions();

// Returns the first byte in [p, end) that is not ASCII, or end.
inline const unsigned char* skip_ascii(const unsigned char* p, const unsigned char* end) noexcept {
#if defined(__SSE2__)
  // 64 bytes per step while it stays ASCII (one movemask of the OR of four vectors); the
  // 16-byte loop below then finds the exact byte.
  while (end - p >= 64) {
    const auto* q = reinterpret_cast<const __m128i*>(p);
    __m128i any = _mm_or_si128(_mm_or_si128(_mm_loadu_si128(q), _mm_loadu_si128(q + 1)),
                               _mm_or_si128(_mm_loadu_si128(q + 2), _mm_loadu_si128(q + 3)));
    if (_mm_movemask_epi8(any) != 0) break;
    p += 64;
  }
  while (end - p >= 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    unsigned high = static_cast<unsigned>(_mm_movemask_epi8(v));  // one bit per byte >= 0x80
    if (high != 0) return p + std::countr_zero(high);
    p += 16;
  }
#endif
  while (end - p >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    std::uint64_t high = w & 0x8080808080808080ULL;
    if (high != 0) {
      if constexpr (std::endian::native == std::endian::little) return p + std::countr_zero(high) / 8;
      else return p + std::countl_zero(high) / 8;
    }
    p += 8;
  }
  while (p < end && *p < 0x80) ++p;
  return p;
}

}  // namespace

bool Utf8Validator::feed(const char* data, std::size_t n) noexcept {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(data);
  const unsigned char* end = p + n;
  std::uint8_t s = state_;
  while (p < end) {
    if (s == kAccept) {
      p = skip_ascii(p, end);
      if (p == end) break;
    }
    s = kNext[s + kClassOf[*p++]];
    if (s == kReject) break;
  }
  state_ = s;
  return s != kReject;
}

bool is_valid_utf8(std::string_view s) noexcept {
  Utf8Validator v;
  return v.feed(s.data(), s.size()) && v.complete();
}

}  // namespace wirehub::ws
