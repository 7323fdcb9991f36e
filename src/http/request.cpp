#include "http/request.hpp"

#include "http/syntax.hpp"

namespace wirehub::http {

namespace {

// Decodes one byte of form-urlencoded text at s[i], advancing i.
char decode_at(std::string_view s, std::size_t& i) noexcept {
  const char c = s[i++];
  if (c == '+') return ' ';
  if (c == '%' && i + 2 <= s.size()) {
    const int hi = syntax::hex_value(s[i]);
    const int lo = syntax::hex_value(s[i + 1]);
    if (hi >= 0 && lo >= 0) {
      i += 2;
      return static_cast<char>(hi * 16 + lo);
    }
  }
  return c;
}

// True when `encoded` decodes to exactly `plain`, without allocating.
bool decoded_equals(std::string_view encoded, std::string_view plain) noexcept {
  std::size_t i = 0, j = 0;
  while (i < encoded.size()) {
    if (j == plain.size() || decode_at(encoded, i) != plain[j]) return false;
    ++j;
  }
  return j == plain.size();
}

}  // namespace

Method method_from_text(std::string_view text) noexcept {
  switch (text.size()) {
    case 3:
      if (text == "GET") return Method::Get;
      if (text == "PUT") return Method::Put;
      break;
    case 4:
      if (text == "HEAD") return Method::Head;
      if (text == "POST") return Method::Post;
      break;
    case 5:
      if (text == "PATCH") return Method::Patch;
      break;
    case 6:
      if (text == "DELETE") return Method::Delete;
      break;
    case 7:
      if (text == "OPTIONS") return Method::Options;
      break;
    default:
      break;
  }
  return Method::Other;
}

std::string_view method_text(Method m) noexcept {
  switch (m) {
    case Method::Get:
      return "GET";
    case Method::Head:
      return "HEAD";
    case Method::Post:
      return "POST";
    case Method::Put:
      return "PUT";
    case Method::Delete:
      return "DELETE";
    case Method::Options:
      return "OPTIONS";
    case Method::Patch:
      return "PATCH";
    case Method::Other:
      break;
  }
  return "";
}

std::optional<std::string_view> RequestHead::header(std::string_view name) const noexcept {
  for (const Header& h : headers) {
    if (syntax::iequals(h.name, name)) return h.value;
  }
  return std::nullopt;
}

bool RequestHead::has_token(std::string_view name, std::string_view token) const noexcept {
  for (const Header& h : headers) {
    if (!syntax::iequals(h.name, name)) continue;
    const bool missing = syntax::for_each_list_element(
        h.value, [&](std::string_view element) { return !syntax::iequals(element, token); });
    if (!missing) return true;
  }
  return false;
}

std::optional<std::string> query_param(std::string_view query, std::string_view key) {
  while (true) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const std::size_t eq = pair.find('=');
    if (!pair.empty() && decoded_equals(pair.substr(0, eq), key)) {
      std::string value;
      if (eq != std::string_view::npos) {
        const std::string_view encoded = pair.substr(eq + 1);
        value.reserve(encoded.size());
        for (std::size_t i = 0; i < encoded.size();) value.push_back(decode_at(encoded, i));
      }
      return value;
    }
    if (amp == std::string_view::npos) return std::nullopt;
    query.remove_prefix(amp + 1);
  }
}

}  // namespace wirehub::http
