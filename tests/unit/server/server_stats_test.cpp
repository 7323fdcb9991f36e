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

#include "test_support.hpp"
#include "wirehub/server.hpp"

namespace wirehub {
namespace {

using namespace std::chrono_literals;

TEST(ServerStats, CountHttpRequestsAndParseErrors) {
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.threads = 2;
  Server server(o);
  server.route("GET", "/healthz", [](const HttpRequest&, HttpResponse& res) { res.body = "ok\n"; });
  server.start();
  for (int i = 0; i < 3; ++i) {
    std::string r = test::exchange(server.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ASSERT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r;
  }
  std::string r = test::exchange(server.port(), "GARBAGE\r\n\r\n");
  ASSERT_EQ(r.rfind("HTTP/1.1 400", 0), 0u) << r;
  ServerStats st = server.stats();
  EXPECT_EQ(st.accepted, 4u);
  EXPECT_EQ(st.http_requests, 3u);
  EXPECT_EQ(st.http_parse_errors, 1u);
  server.shutdown();
}

}  // namespace
}  // namespace wirehub
