// Regression tests: once a Close frame has been sent, no data frame may follow it
// (RFC 6455 5.5.1: "After sending a Close frame, the endpoint MUST NOT send any more data
// frames"), whoever starts the closing handshake and however much data is queued. The
// server used to queue every Close with send_control(), ahead of the data frames that had
// not started to be written, which then went out after it.
//
// Driven by the client in ws_test_client.hpp.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <future>

#include "wirehub/server.hpp"
#include "ws_test_client.hpp"

namespace wirehub {
namespace {

using namespace test;

struct Tally {
  int data_before_close = 0;
  int data_after_close = 0;
  int closes = 0;
  std::uint16_t close_code = 0;
};

// Reads everything to the end of the stream, counting data frames on each side of the
// server's Close; answers the Close, and closes the socket at the end of the stream.
Tally read_through_close(WsClient& c) {
  Tally t;
  while (auto f = c.read_frame(2s)) {
    if (f->opcode == kClose) {
      if (t.closes++ == 0) {
        t.close_code = f->close_code();
        c.send_close(t.close_code);
      }
    } else if (t.closes == 0) {
      ++t.data_before_close;
    } else {
      ++t.data_after_close;
    }
  }
  c.close_socket();
  return t;
}

TEST(ServerCloseOrder, SlowConsumerCloseSendsNoDataFrameAfterItsClose) {
  const int before = open_fd_count();
  {
    WebSocketOptions o;
    o.send_hard_limit = 64 * 1024;
    o.slow_consumer = SlowConsumerPolicy::Close;
    ServerOptions so;
    so.listen = "127.0.0.1:0";
    so.threads = 1;
    Server server(so);
    WebSocketEndpoint& ep = server.websocket("/ws/feed", {}, o);
    server.start();
    WsClient c(server.port(), "/ws/feed", 4096);
    ASSERT_TRUE(c.open());
    ASSERT_TRUE(wait_until([&] { return ep.connection_count() == 1; }));
    // Batches of 16 (usually one loop iteration each) until the policy fires, typically
    // with frames queued that have not started to be written.
    int seq = 0;
    ASSERT_TRUE(wait_until([&] {
      for (int i = 0; i < 16 && ep.stats().slow_closed == 0; ++i) ep.broadcast(numbered(seq++));
      return ep.stats().slow_closed == 1;
    }, 10s));
    Tally t = read_through_close(c);
    EXPECT_EQ(t.closes, 1);
    EXPECT_EQ(t.close_code, 1008);
    EXPECT_EQ(t.data_after_close, 0) << "data frames after the Close (" << t.data_before_close << " before it)";
    EXPECT_TRUE(c.ended());
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(ServerCloseOrder, ShutdownWithQueuedBroadcastsSendsNoDataFrameAfterClose1001) {
  const int before = open_fd_count();
  {
    WebSocketOptions o;
    o.send_soft_limit = 1 << 30;
    o.send_hard_limit = 1 << 30;
    ServerOptions so;
    so.listen = "127.0.0.1:0";
    so.threads = 1;
    Server server(so);
    WebSocketEndpoint& ep = server.websocket("/ws/feed", {}, o);
    server.start();
    WsClient c(server.port(), "/ws/feed", 4096);
    ASSERT_TRUE(c.open());
    ASSERT_TRUE(wait_until([&] { return ep.connection_count() == 1; }));
    // Far more than the socket buffers hold: most of it is still queued at shutdown.
    for (int i = 0; i < 512; ++i) ep.broadcast(numbered(i));
    ASSERT_TRUE(wait_until([&] { return ep.stats().messages_out == 512; }));
    auto shutdown = std::async(std::launch::async, [&] { server.shutdown(); });
    Tally t = read_through_close(c);
    EXPECT_EQ(t.closes, 1);
    EXPECT_EQ(t.close_code, 1001);
    EXPECT_EQ(t.data_after_close, 0) << "data frames after the Close (" << t.data_before_close << " before it)";
    EXPECT_EQ(shutdown.wait_for(10s), std::future_status::ready);
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(ServerCloseOrder, CloseReplyToTheClientSendsNoDataFrameAfterIt) {
  // The client starts the closing handshake while the server has a backlog for it: the
  // server's answering Close must not be followed by the rest of that backlog.
  const int before = open_fd_count();
  {
    WebSocketOptions o;
    o.send_soft_limit = 1 << 30;
    o.send_hard_limit = 1 << 30;
    ServerOptions so;
    so.listen = "127.0.0.1:0";
    so.threads = 1;
    Server server(so);
    WebSocketEndpoint& ep = server.websocket("/ws/feed", {}, o);
    server.start();
    WsClient c(server.port(), "/ws/feed", 4096);
    ASSERT_TRUE(c.open());
    ASSERT_TRUE(wait_until([&] { return ep.connection_count() == 1; }));
    for (int i = 0; i < 512; ++i) ep.broadcast(numbered(i));
    ASSERT_TRUE(wait_until([&] { return ep.stats().messages_out == 512; }));
    ASSERT_TRUE(c.send_close(1000));
    Tally t;
    while (auto f = c.read_frame(2s)) {
      if (f->opcode == kClose) {
        ++t.closes;
        t.close_code = f->close_code();
      } else if (t.closes == 0) {
        ++t.data_before_close;
      } else {
        ++t.data_after_close;
      }
    }
    c.close_socket();
    EXPECT_EQ(t.closes, 1);
    EXPECT_EQ(t.close_code, 1000);
    EXPECT_EQ(t.data_after_close, 0) << "data frames after the Close (" << t.data_before_close << " before it)";
    EXPECT_TRUE(wait_until([&] { return ep.connection_count() == 0; }));
  }
  EXPECT_EQ(open_fd_count(), before);
}

}  // namespace
}  // namespace wirehub
