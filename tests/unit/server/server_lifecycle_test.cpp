// wirehub::Server start-up and shutdown through its public API only, in-process on
// 127.0.0.1 port 0, driven by the client in ws_test_client.hpp.
//
// Covered: start/shutdown with and without connections, a server destroyed before it
// started, shutdown with open WebSockets (1001, then EOF) and with a client that never
// answers (cut at the deadline), and the accept counters. Every wait has a deadline; every
// test ends with the server destroyed and /proc/self/fd as it was before.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "wirehub/server.hpp"
#include "ws_test_client.hpp"

namespace wirehub {
namespace {

using namespace test;

bool refused_connection(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int r = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  int e = errno;
  ::close(fd);
  return r != 0 && e == ECONNREFUSED;
}

TEST(Server, StartAndShutdownWithNoConnectionsIsPromptAndLeavesNoFds) {
  const int before = open_fd_count();
  std::uint16_t port = 0;
  {
    Server server(test_options(2));
    server.websocket("/ws/echo", echo_handlers());
    server.start();
    port = server.port();
    EXPECT_NE(port, 0);
    EXPECT_EQ(server.thread_count(), 2u);
    const auto t0 = Clock::now();
    server.shutdown();
    EXPECT_LT(Clock::now() - t0, 500ms);
    server.shutdown();  // idempotent
    EXPECT_TRUE(refused_connection(port)) << "the listeners are closed after shutdown";
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(Server, DestroyingAServerThatNeverStartedLeavesNoFds) {
  const int before = open_fd_count();
  {
    Server server(test_options(3));
    server.websocket("/ws/echo", echo_handlers());
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(Server, ShutdownClosesOpenWebSocketsWith1001ThenEof) {
  const int before = open_fd_count();
  {
    std::mutex mu;
    std::vector<std::uint16_t> close_codes;
    WebSocketHandlers h = echo_handlers();
    h.on_close = [&](WebSocket&, std::uint16_t code, std::string_view) {
      std::lock_guard lock(mu);
      close_codes.push_back(code);
    };
    Server server(test_options(2));
    WebSocketEndpoint& ep = server.websocket("/ws/echo", h);
    server.start();
    std::vector<std::unique_ptr<WsClient>> clients;
    for (int i = 0; i < 4; ++i) {
      clients.push_back(std::make_unique<WsClient>(server.port()));
      ASSERT_TRUE(clients.back()->open());
      ASSERT_TRUE(clients.back()->send_text("hi"));  // fully open before the shutdown
      ASSERT_TRUE(clients.back()->read_frame());
    }
    ASSERT_EQ(ep.connection_count(), 4u);

    const auto t0 = Clock::now();
    auto shutdown = std::async(std::launch::async, [&] { server.shutdown(); });
    for (auto& c : clients) {
      auto f = c->read_frame();
      ASSERT_TRUE(f);
      EXPECT_EQ(f->opcode, kClose);
      EXPECT_EQ(f->close_code(), 1001);
      ASSERT_TRUE(c->send_close(1001));
      EXPECT_TRUE(c->wait_for_eof()) << "no EOF after the close handshake";
      EXPECT_FALSE(c->bad());
      c->close_socket();  // as a client does at the end of the stream
    }
    ASSERT_EQ(shutdown.wait_for(3s), std::future_status::ready);
    EXPECT_LT(Clock::now() - t0, 1500ms) << "shutdown waited although every client answered";
    clients.clear();
    std::lock_guard lock(mu);
    EXPECT_EQ(close_codes, std::vector<std::uint16_t>(4, 1001));
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(Server, ShutdownDropsAnUnresponsiveClientAtTheDeadline) {
  const int before = open_fd_count();
  {
    std::atomic<int> closes{0};
    WebSocketHandlers h = echo_handlers();
    h.on_close = [&](WebSocket&, std::uint16_t, std::string_view) { closes.fetch_add(1); };
    ServerOptions o = test_options(1);
    o.shutdown_timeout_ms = 300;
    Server server(o);
    server.websocket("/ws/echo", h);
    server.start();
    WsClient c(server.port());
    ASSERT_TRUE(c.open());
    ASSERT_TRUE(c.send_text("hi"));
    ASSERT_TRUE(c.read_frame());
    const auto t0 = Clock::now();
    auto shutdown = std::async(std::launch::async, [&] { server.shutdown(); });
    auto f = c.read_frame();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->close_code(), 1001);
    // We never answer: the server cuts the connection at its shutdown deadline.
    EXPECT_TRUE(c.wait_for_eof(3s));
    ASSERT_EQ(shutdown.wait_for(3s), std::future_status::ready);
    EXPECT_GE(Clock::now() - t0, 250ms);
    EXPECT_EQ(closes.load(), 1);
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(Server, StatsCountAcceptedConnections) {
  Server server(test_options(2));
  server.websocket("/ws/echo", echo_handlers());
  server.start();
  {
    WsClient a(server.port()), b(server.port());
    ASSERT_TRUE(a.open());
    ASSERT_TRUE(b.open());
    EXPECT_TRUE(a.close_gracefully());
    EXPECT_TRUE(b.close_gracefully());
  }
  EXPECT_EQ(server.stats().accepted, 2u);
  EXPECT_EQ(server.stats().accept_fd_exhausted, 0u);
  server.shutdown();
}

}  // namespace
}  // namespace wirehub
