// Regression test: ServerStats documents http_requests, http_parse_errors and
// http_timeouts, but Server::stats() only fills accepted and accept_fd_exhausted; the
// HTTP counters are always 0.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>

#include "wirehub/server.hpp"

namespace wirehub {
namespace {

using namespace std::chrono_literals;

// Sends raw bytes on a fresh connection and returns everything the server sends back
// until it closes (bounded by a 5 s poll per read).
std::string exchange(std::uint16_t port, std::string_view request) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
    for (;;) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) break;
      char buf[4096];
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return out;
}

TEST(ServerStats, CountHttpRequestsAndParseErrors) {
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.threads = 2;
  Server server(o);
  server.route("GET", "/healthz", [](const HttpRequest&, HttpResponse& res) { res.body = "ok\n"; });
  server.start();
  for (int i = 0; i < 3; ++i) {
    std::string r = exchange(server.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ASSERT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r;
  }
  std::string r = exchange(server.port(), "GARBAGE\r\n\r\n");
  ASSERT_EQ(r.rfind("HTTP/1.1 400", 0), 0u) << r;
  ServerStats st = server.stats();
  EXPECT_EQ(st.accepted, 4u);
  EXPECT_EQ(st.http_requests, 3u);
  EXPECT_EQ(st.http_parse_errors, 1u);
  server.shutdown();
}

}  // namespace
}  // namespace wirehub
