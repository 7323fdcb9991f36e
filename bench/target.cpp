#include "target.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

namespace wirehub::bench {

bool is_loopback(const net::Address& a) noexcept {
  if (a.storage.ss_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&a.storage);
    return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
  }
  if (a.storage.ss_family == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&a.storage);
    if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr)) return true;
    return IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) && sin6->sin6_addr.s6_addr[12] == 127;
  }
  return false;
}

std::optional<Target> parse_target(std::string_view url, std::string* error) {
  auto bad = [&](std::string why) -> std::optional<Target> {
    if (error) *error = std::move(why);
    return std::nullopt;
  };
  const bool tls = url.substr(0, 6) == "wss://";
  if (!tls && url.substr(0, 5) != "ws://") return bad("the URL must start with ws:// or wss://");
  std::string_view rest = url.substr(tls ? 6 : 5);
  if (rest.find('#') != std::string_view::npos) return bad("the URL must not have a fragment");
  const std::size_t slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  std::string path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (path.front() == '?') path.insert(0, 1, '/');
  if (authority.empty()) return bad("the URL has no host");
  if (authority.find('@') != std::string_view::npos) return bad("the URL must not carry user info");

  // Split host and optional port; an IPv6 host is bracketed.
  std::string_view host = authority, port_text;
  if (authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unterminated [IPv6] host");
    host = authority.substr(0, close + 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("junk after the [IPv6] host");
      port_text = after.substr(1);
    }
  } else if (const std::size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port_text = authority.substr(colon + 1);
  }
  unsigned port = tls ? 443 : 80;
  if (!port_text.empty() || authority.back() == ':') {
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
        port > 65535)
      return bad("invalid port in the URL");
  }
  if (host.empty() || host == "[]") return bad("the URL has no host");

  std::string why;
  auto addr = net::parse_address(std::string(host) + ":" + std::to_string(port), &why);
  if (!addr) return bad("the host must be a numeric loopback address or localhost (" + why + ")");
  if (!is_loopback(*addr))
    return bad("refusing to load " + std::string(host) + ": only loopback targets (127.0.0.0/8, ::1, localhost) are allowed");

  Target t;
  t.address = *addr;
  t.host_header = std::string(host) + ":" + std::to_string(port);
  t.path = std::move(path);
  t.tls = tls;
  return t;
}

}  // namespace wirehub::bench
