// Server::loops_responsive: false before start, true while every loop runs its timers,
// false while one loop is stalled by a blocking handler, true again after, false after
// shutdown.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "test_support.hpp"
#include "wirehub/server.hpp"

namespace wirehub {
namespace {

TEST(ServerReadiness, AStalledLoopIsNotResponsive) {
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.threads = 2;
  Server server(options);
  std::atomic<bool> release{false}, blocking{false};
  server.route("GET", "/block", [&](const HttpRequest&, HttpResponse& res) {
    blocking = true;
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    res.body = "done";
  });
  EXPECT_FALSE(server.loops_responsive());
  server.start();
  ASSERT_TRUE(test::wait_until([&] { return server.loops_responsive(300); }));

  std::thread client([&] { test::exchange(server.port(), "GET /block HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); });
  ASSERT_TRUE(test::wait_until([&] { return blocking.load(); }));
  // One loop is held inside the handler: its probe stops, so the server is not ready.
  EXPECT_TRUE(test::wait_until([&] { return !server.loops_responsive(300); }));
  release = true;
  client.join();
  EXPECT_TRUE(test::wait_until([&] { return server.loops_responsive(300); }));

  server.shutdown();
  EXPECT_FALSE(server.loops_responsive());
}

}  // namespace
}  // namespace wirehub
