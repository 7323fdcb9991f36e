// HTTP routes through the public API: {param} values reach the handler, also for a
// request whose body spans many reads (its head is then re-parsed into a copy, and the
// parameters must point into that copy, not into a reused read buffer).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>

#include "test_support.hpp"
#include "wirehub/server.hpp"

namespace wirehub {
namespace {

std::string exchange(std::uint16_t port, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
    for (std::size_t off = 0; off < request.size();) {  // in pieces: the body spans reads
      std::size_t n = std::min<std::size_t>(4096, request.size() - off);
      ssize_t w = ::send(fd, request.data() + off, n, MSG_NOSIGNAL);
      if (w <= 0) break;
      off += static_cast<std::size_t>(w);
    }
    out = test::read_until_eof(fd);
  }
  ::close(fd);
  return out;
}

TEST(ServerHttpRoutes, ParamsReachTheHandlerWithAndWithoutABodySpanningReads) {
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.threads = 1;
  Server server(o);
  auto handler = [](const HttpRequest& req, HttpResponse& res) {
    res.body = std::string(req.param("id").value_or("none")) + ":" + std::to_string(req.body.size());
  };
  server.route("GET", "/items/{id}", handler);
  server.route("POST", "/items/{id}", handler);
  server.start();
  std::string get = exchange(server.port(), "GET /items/abc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(get.find("\r\n\r\nabc:0"), std::string::npos) << get;
  std::string body(200 * 1024, 'b');
  std::string post = exchange(server.port(), "POST /items/q42 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                             "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  EXPECT_NE(post.find("\r\n\r\nq42:204800"), std::string::npos) << post.substr(0, 200);
  server.shutdown();
}

}  // namespace
}  // namespace wirehub
