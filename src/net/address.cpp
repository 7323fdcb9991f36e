#include "net/address.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>

namespace wirehub::net {

std::optional<Address> parse_address(std::string_view text, std::string* error) {
  auto bad = [&](const char* why) -> std::optional<Address> {
    if (error) *error = std::string(why) + ": '" + std::string(text) + "'";
    return std::nullopt;
  };
  std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return bad("expected HOST:PORT");
  std::string_view host = text.substr(0, colon);
  std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535 || port_text.empty())
    return bad("invalid port");
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";

  Address a;
  a.host = std::string(host);
  a.port = static_cast<std::uint16_t>(port);
  if (host.empty()) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_addr = in6addr_any;
    sin6->sin6_port = htons(a.port);
    a.length = sizeof(sockaddr_in6);
    return a;
  }
  auto* sin = reinterpret_cast<sockaddr_in*>(&a.storage);
  if (inet_pton(AF_INET, a.host.c_str(), &sin->sin_addr) == 1) {
    sin->sin_family = AF_INET;
    sin->sin_port = htons(a.port);
    a.length = sizeof(sockaddr_in);
    return a;
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
  if (inet_pton(AF_INET6, a.host.c_str(), &sin6->sin6_addr) == 1) {
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(a.port);
    a.length = sizeof(sockaddr_in6);
    return a;
  }
  return bad("host must be a numeric IPv4/IPv6 address or localhost");
}

int listen_socket(const Address& addr, int backlog) {
  int fd = ::socket(addr.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
    int e = errno;
    ::close(fd);
    throw std::runtime_error(std::string("SO_REUSEPORT: ") + std::strerror(e));
  }
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr.storage), addr.length) < 0 ||
      ::listen(fd, backlog) < 0) {
    int e = errno;
    ::close(fd);
    throw std::runtime_error("cannot listen on " + addr.host + ":" + std::to_string(addr.port) + ": " +
                             std::strerror(e));
  }
  return fd;
}

std::uint16_t local_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

}  // namespace wirehub::net
