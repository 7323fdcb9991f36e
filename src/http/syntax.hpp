#pragma once
// Character classes and small list helpers from RFC 9110 section 5.6, shared by the
// request parser, RequestHead lookups and the router. ASCII only: HTTP field names,
// tokens and methods are ASCII, and case-folding must not depend on the C locale.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace wirehub::http::syntax {

namespace detail {
using Table = std::array<bool, 256>;

// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" /
// DIGIT / ALPHA
constexpr Table make_tchar() {
  Table t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}

// field-value bytes: VCHAR, obs-text, SP and HTAB. Everything else is a CTL (or DEL) that
// RFC 9110 5.5 lets us reject; CR, LF and NUL must be.
constexpr Table make_field_value_char() {
  Table t{};
  t['\t'] = true;
  for (int c = 0x20; c < 0x7f; ++c) t[c] = true;
  for (int c = 0x80; c < 0x100; ++c) t[c] = true;
  return t;
}
}  // namespace detail

inline constexpr detail::Table kTchar = detail::make_tchar();
inline constexpr detail::Table kFieldValueChar = detail::make_field_value_char();

constexpr bool is_tchar(char c) noexcept {
  return kTchar[static_cast<unsigned char>(c)];
}
constexpr bool is_field_value_char(char c) noexcept {
  return kFieldValueChar[static_cast<unsigned char>(c)];
}
constexpr bool is_ows(char c) noexcept {
  return c == ' ' || c == '\t';
}
constexpr bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}
constexpr bool is_alpha(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
// VCHAR: visible ASCII, the bytes a request-target may contain.
constexpr bool is_vchar(char c) noexcept {
  return c > 0x20 && c < 0x7f;
}

constexpr char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
}

// Value of a hex digit, or -1.
constexpr int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Index of the first byte of s that may not appear in a field value, or npos. Field values
// are most of a head's bytes, so this looks at 8 bytes per step: a word is only examined
// byte by byte when it has a byte below 0x20 (HTAB or a CTL) or DEL. The filter is the
// classic "has a byte less than n" test, exact about whether any byte qualifies.
inline std::size_t find_invalid_field_value_char(std::string_view s) noexcept {
  auto suspect = [&s](std::size_t at) {
    constexpr std::uint64_t kOnes = 0x0101010101010101ull;
    constexpr std::uint64_t kHigh = 0x8080808080808080ull;
    std::uint64_t x;
    std::memcpy(&x, s.data() + at, 8);
    const std::uint64_t y = x ^ (0x7f * kOnes);
    return (((x - 0x20 * kOnes) & ~x) | ((y - kOnes) & ~y)) & kHigh;
  };
  auto scan = [&s](std::size_t from, std::size_t to) {
    for (std::size_t i = from; i < to; ++i) {
      if (!is_field_value_char(s[i])) return i;
    }
    return std::string_view::npos;
  };
  if (s.size() < 8) return scan(0, s.size());
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    if (suspect(i) == 0) continue;
    if (const std::size_t k = scan(i, i + 8); k != std::string_view::npos) return k;
  }
  // The tail: one more word, overlapping bytes already known to be fine.
  if (i == s.size() || suspect(s.size() - 8) == 0) return std::string_view::npos;
  return scan(i, s.size());
}

// iequals(a, lower) for a `lower` that is already lower case (a literal): folds one side.
constexpr bool iequals_lower(std::string_view a, std::string_view lower) noexcept {
  if (a.size() != lower.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != lower[i]) return false;
  }
  return true;
}

// ASCII case-insensitive equality.
constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

// Strips leading and trailing SP/HTAB.
constexpr std::string_view trim_ows(std::string_view s) noexcept {
  std::size_t b = 0, e = s.size();
  while (b < e && is_ows(s[b])) ++b;
  while (e > b && is_ows(s[e - 1])) --e;
  return s.substr(b, e - b);
}

constexpr bool is_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

// Calls f(element) for each element of a comma-separated list (RFC 9110 5.6.1), trimmed of
// OWS, skipping empty elements as the RFC asks recipients to. Stops early and returns
// false when f returns false.
template <class F>
constexpr bool for_each_list_element(std::string_view list, F&& f) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    const std::string_view element = trim_ows(list.substr(0, comma));
    if (!element.empty() && !f(element)) return false;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return true;
}

}  // namespace wirehub::http::syntax
