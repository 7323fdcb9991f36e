// Topics (WebSocket::subscribe / WebSocketEndpoint::publish) and post_to through the public
// API, in-process on 127.0.0.1 port 0, with clients on both loops of a two-loop server.
//
// Covered: a publish reaches the subscribers of its topic and nobody else, on both loops,
// from a non-loop thread and from a handler; unsubscribe; a closed connection leaves its
// topics (the next connection of its slot gets nothing of them); post_to runs on the owning
// loop, at once there, and never for a connection that is gone; publish with
// permessage-deflate in both modes; and the ordering contract the OrderFlow feed's resume
// relies on: history sent by a post_to function that then subscribes, followed by live
// publishes from the same thread, arrive complete, in order, without a duplicate.

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "wirehub/server.hpp"
#include "ws_test_client.hpp"

namespace wirehub {
namespace {

using namespace test;

constexpr std::string_view kOffer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";

// An endpoint driven by its clients' text messages:
//   index:<i>          remembers the connection as client i (no answer)
//   sub:<t> / unsub:<t> subscribes / unsubscribes; answers "sub:<t>:<1|0>" / "unsub:<t>:<1|0>"
//   pub:<t>:<m>        publishes m to t from the loop thread (no answer)
//   bcast:<m>          broadcasts m from the loop thread (no answer)
// plus whatever a test adds through `extra` (called first; true = handled; set before the
// server starts, so the loops see it without a race).
struct TopicServer {
  LoopSpread spread;
  std::mutex mu;
  std::map<int, ConnectionId> id_of;
  std::atomic<int> closed{0};
  WebSocketEndpoint* ep = nullptr;
  std::function<bool(WebSocket&, std::string_view)> extra;
  Server server;

  explicit TopicServer(unsigned threads, WebSocketOptions options = {},
                       std::function<bool(WebSocket&, std::string_view)> extra_handler = {})
      : extra(std::move(extra_handler)), server(test_options(threads)) {
    WebSocketHandlers h;
    h.on_open = [this](WebSocket& ws) { spread.record(ws); };
    h.on_close = [this](WebSocket&, std::uint16_t, std::string_view) { closed.fetch_add(1); };
    h.on_message = [this](WebSocket& ws, std::string_view m, bool) { handle(ws, m); };
    ep = &server.websocket("/ws/topics", h, std::move(options));
    server.start();
  }

  void handle(WebSocket& ws, std::string_view m) {
    if (extra && extra(ws, m)) return;
    auto after = [&](std::string_view prefix) { return m.substr(prefix.size()); };
    if (m.rfind("index:", 0) == 0) {
      std::lock_guard lock(mu);
      id_of[std::atoi(std::string(after("index:")).c_str())] = ws.id();
    } else if (m.rfind("sub:", 0) == 0) {
      ws.send("sub:" + std::string(after("sub:")) + ":" + (ws.subscribe(after("sub:")) ? "1" : "0"));
    } else if (m.rfind("unsub:", 0) == 0) {
      ws.send("unsub:" + std::string(after("unsub:")) + ":" + (ws.unsubscribe(after("unsub:")) ? "1" : "0"));
    } else if (m.rfind("pub:", 0) == 0) {
      std::string_view rest = after("pub:");
      const auto colon = rest.find(':');
      ep->publish(rest.substr(0, colon), rest.substr(colon + 1));
    } else if (m.rfind("bcast:", 0) == 0) {
      ep->broadcast(after("bcast:"));
    }
  }

  // Opens clients on every loop (at least per_loop each) and learns their ids.
  std::vector<std::unique_ptr<WsClient>> open_clients(int per_loop, std::string_view extra_headers = {}) {
    auto clients = open_on_every_loop(server, spread, per_loop, "/ws/topics", extra_headers);
    for (std::size_t i = 0; i < clients.size(); ++i) {
      if (!clients[i]->send_text("index:" + std::to_string(i))) return {};
    }
    if (!wait_until([&] {
          std::lock_guard lock(mu);
          return id_of.size() == clients.size();
        }))
      return {};
    return clients;
  }
  ConnectionId id(std::size_t i) {
    std::lock_guard lock(mu);
    return id_of.at(static_cast<int>(i));
  }
};

std::string next_text(WsClient& c) {
  auto f = c.read_frame();
  return f ? f->payload : "<nothing>";
}

bool spread_over_two_loops(TopicServer& ts, int per_loop) {
  auto m = ts.spread.per_loop();
  if (m.size() != 2) return false;
  for (auto& [t, n] : m) {
    if (n < per_loop) return false;
  }
  return true;
}

TEST(ServerTopics, PublishReachesOnlyTheSubscribersOfItsTopicOnBothLoops) {
  const int before = open_fd_count();
  {
    TopicServer ts(2);
    auto clients = ts.open_clients(2);
    ASSERT_TRUE(spread_over_two_loops(ts, 2)) << "could not get clients onto both loops";
    const std::size_t n = clients.size();
    // Even clients take "even", odd ones "odd"; client 0 takes both.
    for (std::size_t i = 0; i < n; ++i) {
      const std::string t = i % 2 ? "odd" : "even";
      ASSERT_TRUE(clients[i]->send_text("sub:" + t));
      EXPECT_EQ(next_text(*clients[i]), "sub:" + t + ":1");
    }
    ASSERT_TRUE(clients[0]->send_text("sub:odd"));
    EXPECT_EQ(next_text(*clients[0]), "sub:odd:1");
    ASSERT_TRUE(clients[0]->send_text("sub:even"));
    EXPECT_EQ(next_text(*clients[0]), "sub:even:0") << "already subscribed";
    ASSERT_TRUE(clients[0]->send_text("sub:"));
    EXPECT_EQ(next_text(*clients[0]), "sub::0") << "the empty topic";

    std::thread outside([&] {
      ts.ep->publish("even", "E1");
      ts.ep->publish("odd", std::string_view("O1\0", 3), true);
      ts.ep->publish("nobody", "N1");
      ts.ep->broadcast("marker1");
    });
    outside.join();
    for (std::size_t i = 0; i < n; ++i) {
      if (i % 2 == 0) {
        EXPECT_EQ(next_text(*clients[i]), "E1") << "client " << i;
      }
      if (i % 2 == 1 || i == 0) {
        auto f = clients[i]->read_frame();
        ASSERT_TRUE(f) << "client " << i;
        EXPECT_EQ(f->opcode, kBinary);
        EXPECT_EQ(f->payload, std::string("O1\0", 3)) << "client " << i;
      }
      EXPECT_EQ(next_text(*clients[i]), "marker1") << "client " << i;
    }

    // From a handler on a loop thread: the publish and the broadcast after it reach the
    // other loop through its task queue, in that order.
    ASSERT_TRUE(clients[1]->send_text("pub:even:E2"));
    ASSERT_TRUE(clients[1]->send_text("bcast:marker2"));
    for (std::size_t i = 0; i < n; ++i) {
      if (i % 2 == 0) {
        EXPECT_EQ(next_text(*clients[i]), "E2") << "client " << i;
      }
      EXPECT_EQ(next_text(*clients[i]), "marker2") << "client " << i;
    }

    ASSERT_TRUE(clients[0]->send_text("unsub:odd"));
    EXPECT_EQ(next_text(*clients[0]), "unsub:odd:1");
    ASSERT_TRUE(clients[0]->send_text("unsub:odd"));
    EXPECT_EQ(next_text(*clients[0]), "unsub:odd:0");
    std::thread again([&] {
      ts.ep->publish("odd", "O3");
      ts.ep->broadcast("marker3");
    });
    again.join();
    for (std::size_t i = 0; i < n; ++i) {
      if (i % 2 == 1) {
        EXPECT_EQ(next_text(*clients[i]), "O3") << "client " << i;
      }
      EXPECT_EQ(next_text(*clients[i]), "marker3") << "client " << i;
    }
    const std::size_t evens = (n + 1) / 2, odds = n / 2;
    // The answers count too: n to the first subscribes, 3 more to client 0's, 2 to unsubscribes.
    const std::uint64_t replies = n + 3 + 2;
    const std::uint64_t published = evens + (odds + 1) + evens + odds;  // E1, O1, E2, O3
    EXPECT_EQ(ts.ep->stats().messages_out, replies + published + 3 * n);
    for (auto& c : clients) EXPECT_TRUE(c->close_gracefully());
  }
  EXPECT_EQ(open_fd_count(), before);
}

// A connection id names a slot, and slots are reused: a closed connection's topics must
// not reach the connection that takes its slot next.
TEST(ServerTopics, AClosedConnectionLeavesItsTopicsBeforeItsSlotIsReused) {
  const int before = open_fd_count();
  {
    TopicServer ts(1);
    auto first = std::make_unique<WsClient>(ts.server.port(), "/ws/topics");
    ASSERT_TRUE(first->open());
    for (std::string_view t : {"t", "u"}) {
      ASSERT_TRUE(first->send_text("sub:" + std::string(t)));
      EXPECT_EQ(next_text(*first), "sub:" + std::string(t) + ":1");
    }
    ASSERT_TRUE(first->close_gracefully());
    ASSERT_TRUE(wait_until([&] { return ts.closed.load() == 1 && ts.ep->connection_count() == 0; }));

    WsClient second(ts.server.port(), "/ws/topics");
    ASSERT_TRUE(second.open());
    ASSERT_TRUE(wait_until([&] { return ts.spread.opened() == 2; }));
    {
      std::lock_guard lock(ts.spread.mu);
      ASSERT_EQ(ts.spread.loop_of.size(), 2u);
      EXPECT_EQ(ts.spread.loop_of.begin()->first & 0xFFFFFF, ts.spread.loop_of.rbegin()->first & 0xFFFFFF)
          << "the second connection should have taken the first one's slot";
    }
    std::thread outside([&] {
      ts.ep->publish("t", "for the closed one");
      ts.ep->broadcast("marker");
    });
    outside.join();
    EXPECT_EQ(next_text(second), "marker");
    ASSERT_TRUE(second.send_text("sub:u"));
    EXPECT_EQ(next_text(second), "sub:u:1") << "the slot kept a subscription of the closed connection";
    ASSERT_TRUE(second.send_text("unsub:t"));
    EXPECT_EQ(next_text(second), "unsub:t:0");
    EXPECT_TRUE(second.close_gracefully());
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(ServerTopics, PostToRunsOnTheOwningLoopAndNeverForAConnectionThatIsGone) {
  const int before = open_fd_count();
  {
    std::atomic<int> on_loop_result{-1};
    std::atomic<int> ran_at_once{-1};
    std::atomic<ConnectionId> closed_id{0};
    WebSocketEndpoint* ep = nullptr;
    TopicServer ts(2, {}, [&](WebSocket& ws, std::string_view m) {
      if (m == "post-to-closed") {
        on_loop_result = ep->post_to(closed_id.load(), [](WebSocket& w) { w.send("must not run"); }) ? 1 : 0;
        return true;
      }
      if (m == "post-to-self") {
        bool ran = false;
        const bool ok = ep->post_to(ws.id(), [&ran](WebSocket&) { ran = true; });
        ran_at_once = ok && ran ? 1 : 0;
        return true;
      }
      return false;
    });
    ep = ts.ep;
    auto clients = ts.open_clients(2);
    ASSERT_TRUE(spread_over_two_loops(ts, 2));
    const std::size_t n = clients.size();

    // From a non-loop thread: fn runs on the loop that owns the connection, with it.
    std::mutex mu;
    std::map<ConnectionId, std::thread::id> ran_on;
    std::thread worker([&] {
      for (std::size_t i = 0; i < n; ++i) {
        const ConnectionId id = ts.id(i);
        EXPECT_TRUE(ts.ep->post_to(id, [&, id](WebSocket& ws) {
          {
            std::lock_guard lock(mu);
            ran_on[ws.id()] = std::this_thread::get_id();
          }
          ws.send("posted for " + std::to_string(id));
        }));
      }
      // No such loop: known at once.
      EXPECT_FALSE(ts.ep->post_to(ts.id(0) | (ConnectionId{0xFF} << 56), [](WebSocket&) {}));
      EXPECT_FALSE(ts.ep->post_to(ts.id(0), nullptr));
    });
    worker.join();
    for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(next_text(*clients[i]), "posted for " + std::to_string(ts.id(i)));
    {
      std::lock_guard lock(mu);
      std::lock_guard lock2(ts.spread.mu);
      ASSERT_EQ(ran_on.size(), n);
      for (auto& [id, thread] : ran_on) EXPECT_EQ(thread, ts.spread.loop_of[id]) << "connection " << id;
    }

    // On the owning loop it runs before post_to returns (so that it keeps its place
    // among the sends of the same thread).
    ASSERT_TRUE(clients[0]->send_text("post-to-self"));
    ASSERT_TRUE(wait_until([&] { return ran_at_once.load() != -1; }));
    EXPECT_EQ(ran_at_once.load(), 1);

    // Close the last client; find a live one on the same loop.
    const std::size_t gone = n - 1;
    closed_id = ts.id(gone);
    std::size_t neighbour = n;
    for (std::size_t i = 0; i + 1 < n; ++i) {
      const ConnectionId id = ts.id(i);
      std::lock_guard lock(ts.spread.mu);
      if (ts.spread.loop_of[id] == ts.spread.loop_of[closed_id.load()]) neighbour = i;
    }
    ASSERT_LT(neighbour, n);
    ASSERT_TRUE(clients[gone]->close_gracefully());
    ASSERT_TRUE(wait_until([&] { return ts.closed.load() == 1; }));

    // From another thread: posted (true), then dropped on the loop without running.
    std::atomic<bool> ran_for_closed{false}, ran_for_neighbour{false};
    std::thread late([&] {
      EXPECT_TRUE(ts.ep->post_to(closed_id.load(), [&](WebSocket&) { ran_for_closed = true; }));
      EXPECT_TRUE(ts.ep->post_to(ts.id(neighbour), [&](WebSocket&) { ran_for_neighbour = true; }));
    });
    late.join();
    ASSERT_TRUE(wait_until([&] { return ran_for_neighbour.load(); }));
    EXPECT_FALSE(ran_for_closed.load()) << "fn ran for a closed connection";  // same loop, queued first
    // On the owning loop the answer is known: false.
    ASSERT_TRUE(clients[neighbour]->send_text("post-to-closed"));
    ASSERT_TRUE(wait_until([&] { return on_loop_result.load() != -1; }));
    EXPECT_EQ(on_loop_result.load(), 0);
    ts.ep->broadcast("marker");
    for (std::size_t i = 0; i < gone; ++i) EXPECT_EQ(next_text(*clients[i]), "marker") << "client " << i;
    for (std::size_t i = 0; i < gone; ++i) EXPECT_TRUE(clients[i]->close_gracefully());
  }
  EXPECT_EQ(open_fd_count(), before);
}

// --- permessage-deflate ---------------------------------------------------------------

// One side of a raw DEFLATE stream (RFC 7692 7.2.2), optionally keeping its window from
// one message to the next (context takeover).
class ClientInflater {
 public:
  ClientInflater() { inflateInit2(&z_, -15); }
  ~ClientInflater() { inflateEnd(&z_); }
  ClientInflater(const ClientInflater&) = delete;
  ClientInflater& operator=(const ClientInflater&) = delete;
  std::string inflate_message(std::string payload) {
    payload.append("\0\0\xff\xff", 4);
    std::string out(1 << 20, '\0');
    z_.next_in = reinterpret_cast<Bytef*>(payload.data());
    z_.avail_in = static_cast<uInt>(payload.size());
    z_.next_out = reinterpret_cast<Bytef*>(out.data());
    z_.avail_out = static_cast<uInt>(out.size());
    if (inflate(&z_, Z_SYNC_FLUSH) != Z_OK) return "<corrupt>";
    out.resize(out.size() - z_.avail_out);
    return out;
  }

 private:
  z_stream z_{};
};

// Compressed publishes reach subscribers as compression allows: shared mode compresses
// once for everybody (identical bytes); per-connection mode compresses for each receiver
// with its own context, which the receiver's own inflater must follow across messages.
void publish_with_compression(CompressionMode mode) {
  WebSocketOptions o;
  o.compression.enabled = true;
  o.compression.mode = mode;
  TopicServer ts(2, o);
  auto clients = ts.open_clients(2, kOffer);
  ASSERT_TRUE(spread_over_two_loops(ts, 2));
  // One more that does not offer deflate.
  clients.push_back(std::make_unique<WsClient>(ts.server.port(), "/ws/topics"));
  ASSERT_TRUE(clients.back()->open());
  const std::size_t n = clients.size();
  const std::size_t skipped = 1;  // client 1 does not subscribe
  for (std::size_t i = 0; i < n; ++i) {
    clients[i]->accept_rsv1 = true;
    if (i == skipped) continue;
    ASSERT_TRUE(clients[i]->send_text("sub:z"));
    EXPECT_EQ(next_text(*clients[i]), "sub:z:1");
  }
  const std::string first = std::string(3000, 'x') + "first", second = std::string(3000, 'x') + "second";
  std::thread outside([&] {
    ts.ep->publish("z", first);
    ts.ep->publish("z", second);
    ts.ep->broadcast("marker");
  });
  outside.join();
  std::string shared_bytes;
  for (std::size_t i = 0; i < n; ++i) {
    ClientInflater inflater;
    const bool offered = i + 1 < n;
    if (i != skipped) {
      for (int m = 0; m < 2; ++m) {
        auto f = clients[i]->read_frame();
        ASSERT_TRUE(f) << "client " << i;
        EXPECT_EQ(f->rsv1, offered) << "client " << i;
        EXPECT_EQ(offered ? inflater.inflate_message(f->payload) : f->payload, m == 0 ? first : second)
            << "client " << i << ", message " << m;
        if (mode == CompressionMode::Shared && offered && m == 0) {
          if (shared_bytes.empty()) shared_bytes = f->payload;
          EXPECT_EQ(f->payload, shared_bytes) << "shared mode: the same compressed frame for every receiver";
        }
      }
    }
    EXPECT_EQ(next_text(*clients[i]), "marker") << "client " << i;
  }
  for (auto& c : clients) EXPECT_TRUE(c->close_gracefully());
}

TEST(ServerTopics, PublishIsCompressedOnceForEveryReceiverInSharedMode) {
  const int before = open_fd_count();
  publish_with_compression(CompressionMode::Shared);
  EXPECT_EQ(open_fd_count(), before);
}

TEST(ServerTopics, PublishIsCompressedWithEachReceiversContextInPerConnectionMode) {
  const int before = open_fd_count();
  publish_with_compression(CompressionMode::PerConnection);
  EXPECT_EQ(open_fd_count(), before);
}

// --- ordering: the OrderFlow resume -----------------------------------------------------

// One iteration of the OrderFlow feed's resume, for every connection in turn: post_to a
// function that sends the connection's history and then subscribes it, then send_to it,
// with live publishes before and after each; then a broadcast, and a post_to that
// unsubscribes and says so, and a last publish nobody may get. Records what each
// connection must receive, exactly and in order, before each call.
struct ResumeDriver {
  static constexpr int kHistory = 3;
  WebSocketEndpoint& ep;
  std::vector<ConnectionId> ids;
  std::mutex mu;
  std::vector<std::vector<std::string>> expected;  // by client index

  ResumeDriver(WebSocketEndpoint& e, std::vector<ConnectionId> i) : ep(e), ids(std::move(i)), expected(ids.size()) {}

  void iteration(int k) {
    std::lock_guard lock(mu);
    const std::string topic = "orders:" + std::to_string(k % 7);  // topics are reused
    const std::string ks = std::to_string(k);
    std::vector<std::size_t> subscribed;
    int live = 0;
    auto publish = [&] {
      const std::string m = "l:" + ks + ":" + std::to_string(live++);
      for (std::size_t c : subscribed) expected[c].push_back(m);
      ep.publish(topic, m);
    };
    const std::size_t n = ids.size();
    for (std::size_t r = 0; r < n; ++r) {
      const std::size_t c = (r + static_cast<std::size_t>(k)) % n;  // a different order each time
      publish();
      for (int h = 0; h < kHistory; ++h) expected[c].push_back("h:" + ks + ":" + std::to_string(h));
      subscribed.push_back(c);
      ep.post_to(ids[c], [topic, ks](WebSocket& ws) {
        for (int h = 0; h < kHistory; ++h) ws.send("h:" + ks + ":" + std::to_string(h));
        ws.subscribe(topic);
      });
      expected[c].push_back("s:" + ks);
      ep.send_to(ids[c], "s:" + ks);
    }
    for (int i = 0; i < 3; ++i) publish();
    for (std::size_t c = 0; c < n; ++c) expected[c].push_back("b:" + ks);
    ep.broadcast("b:" + ks);
    for (std::size_t c = 0; c < n; ++c) {
      expected[c].push_back("u:" + ks);
      ep.post_to(ids[c], [topic, ks](WebSocket& ws) {
        ws.unsubscribe(topic);
        ws.send("u:" + ks);
      });
    }
    subscribed.clear();
    publish();  // after every unsubscribe: nobody
  }
};

// Readers collect everything each client receives up to "u:<last>"; then it is compared
// with what the driver recorded.
void expect_resume_order(std::vector<std::unique_ptr<WsClient>>& clients, ResumeDriver& driver, int iterations,
                         const std::function<void()>& run) {
  const std::string last = "u:" + std::to_string(iterations - 1);
  std::vector<std::vector<std::string>> got(clients.size());
  std::vector<std::thread> readers;
  for (std::size_t i = 0; i < clients.size(); ++i) {
    readers.emplace_back([&, i] {
      auto deadline = Clock::now() + 60s;
      for (;;) {
        auto f = clients[i]->read_frame(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
        if (!f) {
          got[i].push_back("<stream ended>");
          return;
        }
        got[i].push_back(f->payload);
        if (f->payload == last) return;
      }
    });
  }
  run();
  for (auto& t : readers) t.join();
  std::lock_guard lock(driver.mu);
  for (std::size_t i = 0; i < clients.size(); ++i) {
    const std::vector<std::string>& want = driver.expected[i];
    for (std::size_t m = 0; m < std::min(got[i].size(), want.size()); ++m) {
      ASSERT_EQ(got[i][m], want[m]) << "client " << i << ", message " << m;
    }
    ASSERT_EQ(got[i].size(), want.size()) << "client " << i;
  }
}

constexpr int kResumeIterations = 150;

TEST(ServerTopics, HistoryThenLiveFromAWorkerThreadArriveInCallOrderWithoutGapOrDuplicate) {
  const int before = open_fd_count();
  {
    TopicServer ts(2);
    auto clients = ts.open_clients(6);
    ASSERT_TRUE(spread_over_two_loops(ts, 6));
    std::vector<ConnectionId> ids;
    for (std::size_t i = 0; i < clients.size(); ++i) ids.push_back(ts.id(i));
    ResumeDriver driver(*ts.ep, ids);
    expect_resume_order(clients, driver, kResumeIterations, [&] {
      std::thread worker([&] {
        for (int k = 0; k < kResumeIterations; ++k) driver.iteration(k);
      });
      worker.join();
    });
    EXPECT_EQ(ts.ep->stats().dropped, 0u);
    for (auto& c : clients) EXPECT_TRUE(c->close_gracefully());
  }
  EXPECT_EQ(open_fd_count(), before);
}

// The same calls made in a handler, on a loop thread: for connections of that loop they
// act at once, for the other loop's they are posted, and each connection still sees them
// in call order.
TEST(ServerTopics, HistoryThenLiveFromALoopThreadArriveInCallOrderWithoutGapOrDuplicate) {
  const int before = open_fd_count();
  {
    std::unique_ptr<ResumeDriver> driver;
    std::atomic<ResumeDriver*> driving{nullptr};  // published to the loop threads
    TopicServer ts(2, {}, [&](WebSocket&, std::string_view m) {
      if (m.rfind("go:", 0) != 0) return false;
      driving.load()->iteration(std::atoi(std::string(m.substr(3)).c_str()));
      return true;
    });
    auto clients = ts.open_clients(6);
    ASSERT_TRUE(spread_over_two_loops(ts, 6));
    std::vector<ConnectionId> ids;
    for (std::size_t i = 0; i < clients.size(); ++i) ids.push_back(ts.id(i));
    driver = std::make_unique<ResumeDriver>(*ts.ep, ids);
    driving = driver.get();
    bool sent = false;
    expect_resume_order(clients, *driver, kResumeIterations, [&] {
      // Client 0's loop drives, one iteration per message, in order.
      std::string batch;
      for (int k = 0; k < kResumeIterations; ++k) clients[0]->encode(batch, kText, "go:" + std::to_string(k));
      sent = clients[0]->send_raw(batch);
    });
    EXPECT_TRUE(sent);
    EXPECT_EQ(ts.ep->stats().dropped, 0u);
    for (auto& c : clients) EXPECT_TRUE(c->close_gracefully());
  }
  EXPECT_EQ(open_fd_count(), before);
}

}  // namespace
}  // namespace wirehub
