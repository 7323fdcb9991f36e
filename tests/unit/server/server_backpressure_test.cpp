// wirehub::Server back-pressure through its public API only, in-process on 127.0.0.1
// port 0, driven by the client in ws_test_client.hpp with a small receive buffer (a slow
// consumer).
//
// Covered: the slow-consumer policies (Close, DropNewest, DropOldest, KeepLatest), on_drain,
// and control frames bypassing back-pressure. Every wait has a deadline; every test ends
// with the server destroyed and /proc/self/fd as it was before.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "wirehub/server.hpp"
#include "ws_test_client.hpp"

namespace wirehub {
namespace {

using namespace test;

// --- back-pressure -----------------------------------------------------------------------

constexpr int kSlowRcvbuf = 4096;

// Broadcasts numbered 16 KiB messages in batches, waiting after each batch until the loop
// has decided on every one of them (queued or dropped), until done(stats) holds.
// Returns the number sent, or -1 if done() never held within the limit.
template <class Done>
int broadcast_until(WebSocketEndpoint& ep, int& next_seq, Done done, std::chrono::seconds limit = 15s) {
  const auto deadline = Clock::now() + limit;
  const std::uint64_t base = ep.stats().messages_out + ep.stats().dropped;
  int sent = 0;
  while (!done(ep.stats())) {
    if (Clock::now() > deadline) return -1;
    for (int i = 0; i < 16; ++i, ++sent) ep.broadcast(numbered(next_seq++));
    wait_until([&] {
      EndpointStats s = ep.stats();
      return s.messages_out + s.dropped - base >= static_cast<std::uint64_t>(sent) || done(s);
    });
  }
  return sent;
}

// Asks the loop how many bytes are queued for a connection: the client sends any text
// message and the endpoint's on_message records buffered_amount() (input is read whatever
// the output backlog).
struct QueueProbe {
  std::atomic<std::size_t> queued{0};
  std::atomic<int> answers{0};
  WebSocketHandlers handlers() {
    WebSocketHandlers h;
    h.on_message = [this](WebSocket& ws, std::string_view, bool) {
      queued = ws.buffered_amount();
      answers.fetch_add(1);
    };
    return h;
  }
  std::size_t ask(WsClient& c) {
    const int n = answers.load();
    if (!c.send_text("probe") || !wait_until([&] { return answers.load() > n; })) return 0;
    return queued.load();
  }
};

// Broadcasts batches (as broadcast_until) until the policy has acted at least
// `min_dropped` times and the connection's queue really is backed up (the kernel's
// buffers are full, so what is queued stays queued): at least 48 KiB of the 64 KiB
// hard limit. Returns the number sent, or -1.
int fill_backlog(WebSocketEndpoint& ep, WsClient& c, QueueProbe& probe, int& next_seq, std::uint64_t min_dropped) {
  int sent = 0;
  for (int round = 0; round < 200; ++round) {
    int n = broadcast_until(ep, next_seq, [&, target = ep.stats().messages_out + ep.stats().dropped + 16](
                                              const EndpointStats& s) { return s.messages_out + s.dropped >= target; });
    if (n < 0) return -1;
    sent += n;
    if (ep.stats().dropped >= min_dropped && probe.ask(c) >= 48 * 1024) return sent;
  }
  return -1;
}

WebSocketOptions slow_consumer_options(SlowConsumerPolicy policy) {
  WebSocketOptions o;
  o.send_hard_limit = 64 * 1024;
  o.send_soft_limit = 32 * 1024;
  o.slow_consumer = policy;
  return o;
}

TEST(Server, SlowConsumerPolicyCloseClosesAClientThatNeverReads) {
  const int before = open_fd_count();
  {
    std::atomic<int> closes{0};
    WebSocketHandlers h;
    h.on_close = [&](WebSocket&, std::uint16_t, std::string_view) { closes.fetch_add(1); };
    WebSocketOptions o = slow_consumer_options(SlowConsumerPolicy::Close);
    o.close_timeout_ms = 200;  // how long the server waits for a Close it will never get
    Server server(test_options(1));
    WebSocketEndpoint& ep = server.websocket("/ws/feed", h, o);
    server.start();
    WsClient c(server.port(), "/ws/feed", kSlowRcvbuf);
    ASSERT_TRUE(c.open());
    ASSERT_TRUE(wait_until([&] { return ep.connection_count() == 1; }));
    int seq = 0;
    ASSERT_GT(broadcast_until(ep, seq, [](const EndpointStats& s) { return s.slow_closed > 0; }), 0);
    // The Close cannot reach a client that does not read; the close timeout ends it.
    EXPECT_TRUE(wait_until([&] { return ep.connection_count() == 0; }, 3s));
    EndpointStats st = ep.stats();
    EXPECT_EQ(st.slow_closed, 1u);
    EXPECT_GE(st.dropped, 1u);
    EXPECT_EQ(closes.load(), 1);
    // What did reach the client is valid frames, then the end of the stream. (Where the
    // Close 1008 goes relative to queued data: server_close_order_test.cpp.)
    while (auto f = c.read_frame()) {
      EXPECT_TRUE(f->opcode == kText || f->opcode == kClose);
      if (f->opcode == kClose) {
        EXPECT_EQ(f->close_code(), 1008);
      }
    }
    EXPECT_TRUE(c.ended());
    EXPECT_FALSE(c.bad());
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(Server, SlowConsumerPolicyDropNewestCountsEveryDropAndKeepsTheConnection) {
  const int before = open_fd_count();
  {
    QueueProbe probe;
    Server server(test_options(1));
    WebSocketEndpoint& ep =
        server.websocket("/ws/feed", probe.handlers(), slow_consumer_options(SlowConsumerPolicy::DropNewest));
    server.start();
    WsClient c(server.port(), "/ws/feed", kSlowRcvbuf);
    ASSERT_TRUE(c.open());
    ASSERT_TRUE(wait_until([&] { return ep.connection_count() == 1; }));
    int seq = 0;
    const int sent = fill_backlog(ep, c, probe, seq, 20);
    ASSERT_GT(sent, 0);
    // Every broadcast was decided: queued (messages_out) or refused (dropped).
    ASSERT_TRUE(wait_until([&] { return ep.stats().messages_out + ep.stats().dropped == static_cast<std::uint64_t>(sent); }));
    EndpointStats st = ep.stats();
    EXPECT_EQ(st.slow_closed, 0u);
    EXPECT_EQ(ep.connection_count(), 1u);

    // The client now reads: exactly the queued messages, whole, oldest first.
    int last = -1;
    for (std::uint64_t i = 0; i < st.messages_out; ++i) {
      auto f = c.read_frame();
      ASSERT_TRUE(f) << "message " << i << " of " << st.messages_out;
      ASSERT_EQ(f->opcode, kText);
      ASSERT_EQ(f->payload.size(), 16u * 1024);
      ASSERT_GT(seq_of(f->payload), last);
      last = seq_of(f->payload);
    }
    // Nothing was lost silently, and the connection still works.
    EXPECT_EQ(st.messages_out + st.dropped, static_cast<std::uint64_t>(sent));
    ep.broadcast("still open");
    auto f = c.read_frame();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->payload, "still open");
    EXPECT_TRUE(c.close_gracefully());
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(Server, SlowConsumerPolicyDropOldestDeliversTheNewestMessage) {
  const int before = open_fd_count();
  {
    QueueProbe probe;
    Server server(test_options(1));
    WebSocketEndpoint& ep =
        server.websocket("/ws/feed", probe.handlers(), slow_consumer_options(SlowConsumerPolicy::DropOldest));
    server.start();
    WsClient c(server.port(), "/ws/feed", kSlowRcvbuf);
    ASSERT_TRUE(c.open());
    ASSERT_TRUE(wait_until([&] { return ep.connection_count() == 1; }));
    int seq = 0;
    int sent = fill_backlog(ep, c, probe, seq, 20);
    ASSERT_GT(sent, 0);
    const int newest = seq;
    ep.broadcast(numbered(newest));
    ++sent;
    ++seq;
    EXPECT_EQ(ep.stats().slow_closed, 0u);

    // Reading now: whole frames in order with gaps, ending with the newest one.
    int last = -1;
    int received = 0;
    while (last != newest) {
      auto f = c.read_frame();
      ASSERT_TRUE(f) << "the newest message never arrived; last seq " << last;
      ASSERT_EQ(f->opcode, kText);
      ASSERT_EQ(f->payload.size(), 16u * 1024);
      ASSERT_GT(seq_of(f->payload), last);
      last = seq_of(f->payload);
      ++received;
    }
    EXPECT_EQ(ep.connection_count(), 1u);
    // Every message was either delivered or counted as dropped.
    EXPECT_EQ(static_cast<std::uint64_t>(received) + ep.stats().dropped, static_cast<std::uint64_t>(sent));
    EXPECT_TRUE(c.close_gracefully());
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(Server, SlowConsumerPolicyKeepLatestDeliversTheNewestMessageOfEveryTopic) {
  const int before = open_fd_count();
  {
    WebSocketOptions o = slow_consumer_options(SlowConsumerPolicy::KeepLatest);
    Server server(test_options(1));
    WebSocketEndpoint& ep = server.websocket("/ws/feed", {}, o);
    server.start();
    WsClient c(server.port(), "/ws/feed", kSlowRcvbuf);
    ASSERT_TRUE(c.open());
    ASSERT_TRUE(wait_until([&] { return ep.connection_count() == 1; }));
    // 3 topics, 100 messages each, far more than the 64 KiB hard limit holds while the
    // client does not read: the queue is conflated to the latest of each topic.
    const char* topics[] = {"a", "b", "c"};
    constexpr int kPerTopic = 100;
    for (int i = 0; i < 3 * kPerTopic; ++i) {
      std::string m = std::string(topics[i % 3]) + ":" + std::to_string(i / 3) + ":";
      m.resize(16 * 1024, 'x');
      ep.broadcast(m, false, topics[i % 3]);
    }
    ASSERT_TRUE(wait_until([&] {
      EndpointStats st = ep.stats();
      return st.messages_out + st.dropped == 3 * kPerTopic;
    }));
    EXPECT_GT(ep.stats().dropped, 0u) << "the backlog never reached the hard limit";
    std::map<std::string, int> last;
    int received = 0;
    while (auto f = c.read_frame(1s)) {
      ASSERT_EQ(f->opcode, kText);
      std::string topic = f->payload.substr(0, 1);
      int seq = std::stoi(f->payload.substr(2));
      auto it = last.find(topic);
      EXPECT_TRUE(it == last.end() || seq > it->second) << "topic " << topic << " out of order";
      last[topic] = seq;
      ++received;
    }
    for (const char* t : topics) EXPECT_EQ(last[t], kPerTopic - 1) << "latest of topic " << t << " lost";
    EndpointStats st = ep.stats();
    EXPECT_EQ(static_cast<std::uint64_t>(received) + st.dropped, 3u * kPerTopic);
    EXPECT_EQ(st.slow_closed, 0u);
    EXPECT_EQ(ep.connection_count(), 1u);
    EXPECT_TRUE(c.close_gracefully());
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(Server, OnDrainIsCalledOnceAfterABacklogDrains) {
  const int before = open_fd_count();
  {
    std::atomic<int> drains{0};
    std::atomic<std::size_t> buffered_seen{0};
    std::atomic<int> drains_at_probe{-1};
    WebSocketHandlers h;
    h.on_drain = [&](WebSocket& ws) {
      EXPECT_LE(ws.buffered_amount(), 32u * 1024);
      drains.fetch_add(1);
    };
    h.on_message = [&](WebSocket& ws, std::string_view, bool) {
      drains_at_probe = drains.load();
      buffered_seen = ws.buffered_amount();
    };
    WebSocketOptions o;
    o.send_soft_limit = 32 * 1024;
    o.send_hard_limit = 256 << 20;  // no policy in play
    Server server(test_options(1));
    WebSocketEndpoint& ep = server.websocket("/ws/feed", h, o);
    server.start();
    WsClient c(server.port(), "/ws/feed", kSlowRcvbuf);
    ASSERT_TRUE(c.open());
    ASSERT_TRUE(wait_until([&] { return ep.connection_count() == 1; }));
    constexpr int kMessages = 1024;  // 16 MiB: more than the kernel buffers between us
    for (int i = 0; i < kMessages; ++i) ep.broadcast(numbered(i));
    ASSERT_TRUE(wait_until([&] { return ep.stats().messages_out == kMessages; }, 10s));
    // Ask the loop how much is queued now (input is read whatever the output backlog).
    ASSERT_TRUE(c.send_text("how much is queued?"));
    ASSERT_TRUE(wait_until([&] { return drains_at_probe.load() != -1; }));
    ASSERT_GT(buffered_seen.load(), 32u * 1024) << "no backlog above the soft limit was built";
    const int before_reading = drains_at_probe.load();
    for (int i = 0; i < kMessages; ++i) {
      auto f = c.read_frame();
      ASSERT_TRUE(f);
      ASSERT_EQ(seq_of(f->payload), i);
    }
    EXPECT_TRUE(wait_until([&] { return drains.load() == before_reading + 1; }));
    // Still once after the queue has been empty for a while.
    ep.broadcast("after");
    auto f = c.read_frame();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->payload, "after");
    EXPECT_EQ(drains.load(), before_reading + 1);
    EXPECT_TRUE(c.close_gracefully());
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(Server, PingIsAnsweredAheadOfQueuedDataWhenTheQueueIsFull) {
  const int before = open_fd_count();
  {
    QueueProbe probe;
    Server server(test_options(1));
    WebSocketEndpoint& ep =
        server.websocket("/ws/feed", probe.handlers(), slow_consumer_options(SlowConsumerPolicy::DropNewest));
    server.start();
    WsClient c(server.port(), "/ws/feed", kSlowRcvbuf);
    ASSERT_TRUE(c.open());
    ASSERT_TRUE(wait_until([&] { return ep.connection_count() == 1; }));
    int seq = 0;
    const int sent = fill_backlog(ep, c, probe, seq, 1);
    ASSERT_GT(sent, 0);
    ASSERT_TRUE(wait_until([&] { return ep.stats().messages_out + ep.stats().dropped == static_cast<std::uint64_t>(sent); }));
    const std::uint64_t queued_messages = ep.stats().messages_out;

    // The queue is at its hard limit; a ping is not subject to it and goes ahead of the
    // data frames that have not started.
    ASSERT_TRUE(c.send_frame(kPing, "still there?"));
    std::uint64_t data_before_pong = 0, data_after_pong = 0;
    bool pong = false;
    while (data_before_pong + data_after_pong < queued_messages || !pong) {
      auto f = c.read_frame();
      ASSERT_TRUE(f) << "data " << data_before_pong << "+" << data_after_pong << " pong " << pong;
      if (f->opcode == kPong) {
        ASSERT_FALSE(pong);
        EXPECT_EQ(f->payload, "still there?");
        pong = true;
      } else {
        ASSERT_EQ(f->opcode, kText);
        (pong ? data_after_pong : data_before_pong) += 1;
      }
    }
    EXPECT_TRUE(pong);
    EXPECT_GE(data_after_pong, 1u) << "the pong waited behind every queued data frame";
    EXPECT_TRUE(c.close_gracefully());
  }
  EXPECT_EQ(open_fd_count(), before);
}

}  // namespace
}  // namespace wirehub
