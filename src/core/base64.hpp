#pragma once
// The value of one base64 character (RFC 4648): the alphabets differ only in the two
// characters for 62 and 63 ("+/" in section 4, "-_" in the URL-safe one of section 5).
// The WebSocket key check and the JWT decoder both validate strictly with it.

namespace wirehub {

enum class Base64Alphabet { Standard, Url };

// 0..63 for a character of the alphabet, -1 for anything else (padding included).
constexpr int base64_value(char c, Base64Alphabet alphabet) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  const bool url = alphabet == Base64Alphabet::Url;
  if (c == (url ? '-' : '+')) return 62;
  if (c == (url ? '_' : '/')) return 63;
  return -1;
}

}  // namespace wirehub
