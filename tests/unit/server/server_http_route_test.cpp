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
  std::string get = test::exchange(server.port(), "GET /items/abc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(get.find("\r\n\r\nabc:0"), std::string::npos) << get;
  std::string body(200 * 1024, 'b');
  std::string post = test::exchange(server.port(), "POST /items/q42 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                             "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  EXPECT_NE(post.find("\r\n\r\nq42:204800"), std::string::npos) << post.substr(0, 200);
  server.shutdown();
}

}  // namespace
}  // namespace wirehub
