#pragma once
// The value of one base64 character (RFC 4648): the alphabets differ only in the two
// characters for 62 and 63 ("+/" in section 4, "-_" in the URL-safe one of section 5).
// The WebSocket key check and the JWT decoder both validate strictly with it.

#include <cstdint>
#include <string>
#include <string_view>

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

// in encoded in the alphabet; padded with '=' to a multiple of 4 when pad is set.
inline std::string base64_encode(std::string_view in, Base64Alphabet alphabet, bool pad) {
  const char* chars = alphabet == Base64Alphabet::Url
                          ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                          : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(chars[(acc >> bits) & 0x3F]);
    }
  }
  if (bits > 0) out.push_back(chars[(acc << (6 - bits)) & 0x3F]);
  if (pad) out.append((4 - out.size() % 4) % 4, '=');
  return out;
}

}  // namespace wirehub
