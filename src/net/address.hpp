#pragma once
// Socket addresses and listening sockets.

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace wirehub::net {

struct Address {
  sockaddr_storage storage{};
  socklen_t length = 0;
  std::string host;  // as given, without brackets
  std::uint16_t port = 0;
};

// Parses "HOST:PORT", "[V6]:PORT" or ":PORT" (all interfaces); HOST must be a numeric
// address or "localhost". Returns nullopt with a message in *error otherwise.
std::optional<Address> parse_address(std::string_view text, std::string* error);

// Creates a non-blocking listening socket bound to addr with SO_REUSEADDR and
// SO_REUSEPORT, so every loop can own a listener on the same port and the kernel spreads
// connections over them. Throws std::runtime_error with the reason on failure.
int listen_socket(const Address& addr, int backlog = 4096);

// The port a bound socket actually got (useful after binding port 0).
std::uint16_t local_port(int fd);

}  // namespace wirehub::net
