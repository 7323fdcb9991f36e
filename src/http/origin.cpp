#include "http/origin.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace wirehub::http {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// RFC 3986 scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
bool valid_scheme(std::string_view s) {
  if (s.empty() || !std::isalpha(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isalnum(c) || c == '+' || c == '-' || c == '.'; });
}

// A registered name or IPv4 address (letters, digits, '-', '.'), or a bracketed IPv6
// address. Origins carry no user info, path, query or fragment.
bool valid_host(std::string_view h) {
  if (h.empty()) return false;
  if (h.front() == '[') {
    return h.size() > 2 && h.back() == ']' &&
           std::all_of(h.begin() + 1, h.end() - 1, [](unsigned char c) { return std::isxdigit(c) || c == ':' || c == '.'; });
  }
  if (h.front() == '.' || h.back() == '.') return false;
  return std::all_of(h.begin(), h.end(), [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '.'; });
}

std::uint16_t default_port(std::string_view scheme) {
  if (scheme == "http" || scheme == "ws") return 80;
  if (scheme == "https" || scheme == "wss") return 443;
  return 0;
}

}  // namespace

std::optional<OriginPolicy::Origin> OriginPolicy::parse(std::string_view text, bool allow_wildcard) {
  const std::size_t sep = text.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  std::string_view scheme = text.substr(0, sep);
  std::string_view rest = text.substr(sep + 3);
  if (!valid_scheme(scheme)) return std::nullopt;
  // The port is after the last ':' outside an IPv6 literal's brackets.
  std::string_view host = rest;
  std::optional<std::uint32_t> port;
  const std::size_t colon = rest.rfind(':');
  if (colon != std::string_view::npos && rest.find(']', colon) == std::string_view::npos) {
    host = rest.substr(0, colon);
    std::string_view digits = rest.substr(colon + 1);
    if (digits.empty() || digits.size() > 5) return std::nullopt;
    std::uint32_t p = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
      p = p * 10 + static_cast<std::uint32_t>(c - '0');
    }
    if (p == 0 || p > 65535) return std::nullopt;
    port = p;
  }
  bool wildcard = false;
  if (allow_wildcard && host.substr(0, 2) == "*.") {
    wildcard = true;
    host.remove_prefix(2);
    if (host.front() == '[') return std::nullopt;  // no wildcards over IP addresses
  }
  if (!valid_host(host)) return std::nullopt;
  Origin o;
  o.scheme = lower(scheme);
  o.host = lower(host);
  o.port = static_cast<std::uint16_t>(port ? *port : default_port(o.scheme));
  o.wildcard = wildcard;
  return o;
}

OriginPolicy::OriginPolicy(const std::vector<std::string>& allowed) {
  for (const std::string& entry : allowed) {
    if (entry == "null") {
      allow_null_ = true;
      continue;
    }
    auto o = parse(entry, /*allow_wildcard=*/true);
    if (!o) {
      throw std::invalid_argument("not an origin or origin pattern: \"" + entry +
                                  "\" (expected scheme://host[:port] or scheme://*.domain[:port], or null)");
    }
    entries_.push_back(std::move(*o));
  }
}

bool OriginPolicy::allows(std::optional<std::string_view> origin) const {
  if (allows_any() || !origin) return true;
  if (*origin == "null") return allow_null_;
  auto o = parse(*origin, /*allow_wildcard=*/false);
  if (!o) return false;
  for (const Origin& e : entries_) {
    if (e.scheme != o->scheme || e.port != o->port) continue;
    if (!e.wildcard) {
      if (e.host == o->host) return true;
    } else if (o->host.size() > e.host.size() + 1 && o->host.ends_with(e.host) &&
               o->host[o->host.size() - e.host.size() - 1] == '.') {
      return true;
    }
  }
  return false;
}

}  // namespace wirehub::http
