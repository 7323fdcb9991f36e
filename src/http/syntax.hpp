#pragma once
// Character classes and small list helpers from RFC 9110 section 5.6, shared by the
// request parser, RequestHead lookups and the router. ASCII only: HTTP field names,
// tokens and methods are ASCII, and case-folding must not depend on the C locale.

#include <array>
#include <cstddef>
#include <string_view>

namespace wirehub::http::syntax {

namespace detail {
using Table = std::array<bool, 256>;

// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
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

constexpr bool is_tchar(char c) noexcept { return kTchar[static_cast<unsigned char>(c)]; }
constexpr bool is_field_value_char(char c) noexcept {
  return kFieldValueChar[static_cast<unsigned char>(c)];
}
constexpr bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }
constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
constexpr bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
// VCHAR: visible ASCII, the bytes a request-target may contain.
constexpr bool is_vchar(char c) noexcept { return c > 0x20 && c < 0x7f; }

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
