#pragma once
// Incremental UTF-8 validation (RFC 3629, Unicode table 3-7 "well-formed byte sequences").
//
// The validator is a byte-at-a-time DFA whose only state is one byte, so it can follow a
// text message across frames and across partially received frames. It rejects at the
// first byte that cannot start or continue a well-formed sequence: overlongs (C0, C1,
// E0 80..9F, F0 80..8F), UTF-16 surrogates (ED A0..BF), code points above U+10FFFF
// (F4 90.., F5..FF), stray continuation bytes and truncated sequences interrupted by a
// new lead byte. Runs of ASCII are skipped 16 (SSE2) or 8 bytes at a time.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace wirehub::ws {

class Utf8Validator {
 public:
  // Validates the next n bytes of the stream. Returns false as soon as the stream can no
  // longer be valid UTF-8; the validator then stays failed until reset().
  bool feed(const char* p, std::size_t n) noexcept;
  bool feed(std::string_view s) noexcept { return feed(s.data(), s.size()); }
  // True when every byte so far is valid and no multi-byte sequence is left open.
  bool complete() const noexcept { return state_ == kAccept; }
  // True once feed() has returned false.
  bool failed() const noexcept { return state_ == kReject; }
  void reset() noexcept { state_ = kAccept; }

  // DFA states are stored premultiplied by the number of byte classes (see utf8.cpp).
  static constexpr std::uint8_t kAccept = 0;
  static constexpr std::uint8_t kReject = 12;

 private:
  std::uint8_t state_ = kAccept;
};

// True when all of s is well-formed UTF-8.
bool is_valid_utf8(std::string_view s) noexcept;

}  // namespace wirehub::ws
