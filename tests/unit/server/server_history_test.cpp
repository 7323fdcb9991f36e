// Topic history (TopicHistoryOptions) through the public API and real sockets: one node,
// and two nodes of this process joined by the in-memory backplane (the Redis one is
// covered by tests/integration/test_topic_history.py).
//
// Covered: numbered envelopes; a resume gets exactly the messages after its position, then
// the live ones; a position that can no longer be served (trimmed, another epoch,
// malformed, empty) gets a reset with the current position; clients that keep
// reconnecting while a thread publishes see every number once, in order; SSE ids are
// positions and Last-Event-ID resumes; across nodes one numbering for both nodes and a
// resume on the other node.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "sse_test_client.hpp"
#include "test_support.hpp"
#include "wirehub/server.hpp"
#include "ws_test_client.hpp"

namespace wirehub {
namespace {

using namespace test;
using namespace std::chrono_literals;
using json = nlohmann::json;

// A node with /ws/h and /sse/h, both with history. /ws/h clients send
//   sub:<topic>            subscribe live
//   resume:<topic> <pos>   subscribe(topic, pos) (pos may be empty)
// and /sse/h streams resume ?topic= after Last-Event-ID (or from "" without one).
struct Node {
  std::unique_ptr<Server> server;
  WebSocketEndpoint* ws = nullptr;
  SseEndpoint* sse = nullptr;

  explicit Node(TopicHistoryOptions history, std::string backplane = {}) {
    ServerOptions o = test_options(2);
    o.backplane = std::move(backplane);
    server = std::make_unique<Server>(o);
    WebSocketOptions wo;
    wo.history = history;
    WebSocketHandlers h;
    h.on_message = [](WebSocket& c, std::string_view m, bool) {
      if (m.starts_with("sub:")) {
        c.subscribe(m.substr(4));
      } else if (m.starts_with("resume:")) {
        const std::string_view rest = m.substr(7);
        const auto space = rest.find(' ');
        c.subscribe(rest.substr(0, space), rest.substr(space + 1));
      }
    };
    ws = &server->websocket("/ws/h", h, wo);
    SseOptions so;
    so.history = history;
    so.retry_ms = 0;
    so.heartbeat_ms = 0;
    SseHandlers sh;
    sh.on_open = [](SseStream& s, const HttpRequest& req) {
      s.subscribe(req.query_param("topic").value_or("t"), req.header("Last-Event-ID").value_or(""));
    };
    sse = &server->sse("/sse/h", sh, so);
    server->start();
  }
  ~Node() { server->shutdown(); }
};

json next_json(WsClient& c, std::chrono::milliseconds wait = 3s) {
  auto f = c.read_frame(wait);
  if (!f) return json();
  return json::parse(f->payload, nullptr, false);
}

// A client of node n resumed on topic from position (a reset comes first when position
// cannot be served; the caller reads it).
std::unique_ptr<WsClient> resumed(Node& n, std::string_view topic, std::string_view position) {
  auto c = std::make_unique<WsClient>(n.server->port(), "/ws/h");
  EXPECT_TRUE(c->open());
  c->send_text("resume:" + std::string(topic) + " " + std::string(position));
  return c;
}

// Resumes with "" and reads the reset: the client is then subscribed, at that position.
std::pair<std::unique_ptr<WsClient>, std::string> fresh(Node& n, std::string_view topic) {
  auto c = resumed(n, topic, "");
  const json reset = next_json(*c);
  EXPECT_EQ(reset.value("reset", false), true) << reset.dump();
  return {std::move(c), reset.value("position", "")};
}

TEST(ServerHistory, AResumeGetsExactlyWhatFollowedItsPositionThenTheLiveMessages) {
  Node n({.max_messages = 100});
  auto [c, start] = fresh(n, "t");
  EXPECT_EQ(start.substr(16), "-0");  // nothing numbered yet
  for (int i = 1; i <= 3; ++i) n.ws->publish("t", "m" + std::to_string(i));
  std::string third;
  for (int i = 1; i <= 3; ++i) {
    const json m = next_json(*c);
    EXPECT_EQ(m["topic"], "t");
    EXPECT_EQ(m["seq"], i);
    EXPECT_EQ(m["data"], "m" + std::to_string(i));
    EXPECT_EQ(m["position"], start.substr(0, 17) + std::to_string(i));
    third = m["position"];
  }
  c.reset();  // gone; five more are published meanwhile
  for (int i = 4; i <= 8; ++i) n.ws->publish("t", "m" + std::to_string(i));
  n.ws->publish("other", "x");
  auto back = resumed(n, "t", third);
  for (int i = 4; i <= 8; ++i) EXPECT_EQ(next_json(*back)["data"], "m" + std::to_string(i));
  n.ws->publish("t", "m9", true);  // live, and binary: base64 in the envelope
  const json live = next_json(*back);
  EXPECT_EQ(live["seq"], 9);
  EXPECT_EQ(live["data_base64"], "bTk=");
  EXPECT_TRUE(next_json(*back, 200ms).is_null());  // nothing twice, nothing of "other"
}

TEST(ServerHistory, APositionThatCannotBeServedGetsAResetWithTheCurrentPosition) {
  Node n({.max_messages = 3});
  auto [c, start] = fresh(n, "t");
  for (int i = 1; i <= 10; ++i) n.ws->publish("t", "m" + std::to_string(i));
  const std::string epoch = start.substr(0, 16);
  std::string other_epoch = epoch;
  other_epoch[0] = other_epoch[0] == '0' ? '1' : '0';
  std::uint64_t current = 10;
  for (const std::string& p : {epoch + "-6" /* 7 is gone: 8..10 kept */, other_epoch + "-9", std::string("junk"),
                               std::string()}) {
    auto r = resumed(n, "t", p);
    const json reset = next_json(*r);
    EXPECT_EQ(reset["reset"], true) << p;
    EXPECT_EQ(reset["position"], epoch + "-" + std::to_string(current)) << p;
    EXPECT_EQ(reset["seq"], current);
    n.ws->publish("t", "after " + p);  // then live, numbered on
    const json live = next_json(*r);
    EXPECT_EQ(live["data"], "after " + p);
    EXPECT_EQ(live["seq"], ++current);
    EXPECT_FALSE(live.contains("reset"));
  }
  // Counted: the first client's reset and the four above.
  const std::string metrics = n.server->metrics_text();
  EXPECT_NE(metrics.find("wirehub_topic_resumes_total{transport=\"websocket\",endpoint=\"/ws/h\",result=\"reset\"} 5\n"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("wirehub_topic_resumes_total{transport=\"websocket\",endpoint=\"/ws/h\",result=\"replayed\"} 0\n"),
            std::string::npos);
}

TEST(ServerHistory, ClientsThatKeepReconnectingWhileAThreadPublishesSeeEveryNumberOnceInOrder) {
  Node n({.max_messages = 100'000});
  constexpr int kCount = 6000;
  auto [first, position] = fresh(n, "t");
  first.reset();
  std::atomic<bool> go{false};
  std::thread publisher([&] {
    while (!go) std::this_thread::yield();
    for (int i = 1; i <= kCount; ++i) n.ws->publish("t", std::to_string(i));
  });
  go = true;
  // Reconnect after every 100-500 messages; each connection lands on one of the two loops.
  std::uint64_t expected = 1;
  int reconnects = 0;
  while (expected <= kCount) {
    auto c = resumed(n, "t", position);
    const std::uint64_t stop_at = std::min<std::uint64_t>(kCount, expected + 100 + (reconnects * 37) % 400);
    while (expected <= stop_at) {
      const json m = next_json(*c);
      ASSERT_TRUE(m.is_object()) << "nothing after seq " << expected - 1;
      ASSERT_FALSE(m.contains("reset")) << m.dump();
      ASSERT_EQ(m["seq"], expected);
      ASSERT_EQ(m["data"], std::to_string(expected));
      position = m["position"];
      ++expected;
    }
    ++reconnects;
  }
  publisher.join();
  EXPECT_GT(reconnects, 10);
}

TEST(ServerHistory, SseEventsCarryTheirPositionAsIdAndLastEventIdResumes) {
  Node n({.max_messages = 100});
  SseClient s(n.server->port(), "/sse/h?topic=t");
  ASSERT_TRUE(s.read_until_text("event: reset\n"));
  ASSERT_TRUE(wait_until([&] { return n.sse->connection_count() == 1; }));
  // The reset's data is the reset JSON; its id the position a reconnect would send.
  ASSERT_TRUE(s.has_events(1));
  const json reset = json::parse(s.events()[0]);
  EXPECT_EQ(reset["reset"], true);
  const std::string epoch = reset["position"].get<std::string>().substr(0, 16);
  EXPECT_NE(s.bytes().find("id: " + epoch + "-0\n"), std::string::npos);
  for (int i = 1; i <= 4; ++i) n.sse->publish("t", {.data = "e" + std::to_string(i), .id = "ignored", .event = "order"});
  ASSERT_TRUE(s.has_events(5));
  EXPECT_EQ(s.events(), (std::vector<std::string>{s.events()[0], "e1", "e2", "e3", "e4"}));
  EXPECT_NE(s.bytes().find("id: " + epoch + "-2\nevent: order\ndata: e2\n\n"), std::string::npos) << s.bytes();
  EXPECT_EQ(s.bytes().find("ignored"), std::string::npos);
  s.close();
  n.sse->publish("t", {.data = "e5"});
  SseClient back(n.server->port(), "/sse/h?topic=t", "Last-Event-ID: " + epoch + "-2\r\n");
  ASSERT_TRUE(back.has_events(3));
  EXPECT_EQ(back.events(), (std::vector<std::string>{"e3", "e4", "e5"}));
  EXPECT_EQ(back.bytes().find("event: reset"), std::string::npos);
}

TEST(ServerHistory, AcrossNodesOneNumberingServesBothAndAResumeWorksOnTheOtherNode) {
  const std::string bus = "memory://history-across";
  Node a({.max_messages = 1000}, bus), b({.max_messages = 1000}, bus);
  auto [on_a, pa] = fresh(a, "t");
  auto [on_b, pb] = fresh(b, "t");
  EXPECT_EQ(pa, pb);  // one numbering: the same epoch on both nodes
  // Publishers on both nodes at once: both subscribers see the same messages under the
  // same numbers, 1..N, in order.
  constexpr int kEach = 500;
  std::thread ta([&] {
    for (int i = 0; i < kEach; ++i) a.ws->publish("t", "a" + std::to_string(i));
  });
  std::thread tb([&] {
    for (int i = 0; i < kEach; ++i) b.ws->publish("t", "b" + std::to_string(i));
  });
  std::vector<std::string> seen_a, seen_b;
  std::string position_at_100;
  for (int i = 1; i <= 2 * kEach; ++i) {
    const json ma = next_json(*on_a), mb = next_json(*on_b);
    ASSERT_EQ(ma["seq"], i);
    ASSERT_EQ(mb["seq"], i);
    ASSERT_EQ(ma["data"], mb["data"]);
    if (i == 100) position_at_100 = ma["position"];
  }
  ta.join();
  tb.join();
  // A client of a that stopped at 100 comes back on b: it gets 101..N from b.
  auto back = resumed(b, "t", position_at_100);
  for (int i = 101; i <= 2 * kEach; ++i) ASSERT_EQ(next_json(*back)["seq"], i);
  a.ws->publish("t", "live");
  const json live = next_json(*back);
  EXPECT_EQ(live["seq"], 2 * kEach + 1);
  EXPECT_EQ(live["data"], "live");
  EXPECT_TRUE(next_json(*back, 200ms).is_null());
}

}  // namespace
}  // namespace wirehub
