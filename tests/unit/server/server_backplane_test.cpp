// Several nodes: two servers of this process joined by an in-memory backplane
// (ServerOptions::backplane = "memory://NAME"), each with two loops, through the public
// API and real sockets.
//
// Covered: a WebSocket publish on one node reaches the topic's subscribers on both nodes,
// once each, text and binary; broadcasts too, with their KeepLatest topic; SSE publishes
// and broadcasts across; a node subscribes to a topic's channel only while one of its
// connections does; one thread's publishes arrive in order on the other node; bad
// backplane values are refused at start(); the backplane's metrics.

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "test_support.hpp"
#include "wirehub/server.hpp"
#include "sse_test_client.hpp"
#include "ws_test_client.hpp"

namespace wirehub {
namespace {

using namespace test;
using namespace std::chrono_literals;

// One node: /ws/feed driven by its clients' text messages
//   sub:<t>      subscribes, answers "sub:<t>"
//   unsub:<t>    unsubscribes, answers "unsub:<t>"
//   pub:<t>:<m>  publishes m (text) to t;  bin:<t>:<m> the same as a binary message
//   bcast:<m>    broadcasts m
// and /sse, whose streams subscribe to their ?topic=.
struct Node {
  std::unique_ptr<Server> server;
  WebSocketEndpoint* ws = nullptr;
  SseEndpoint* sse = nullptr;

  explicit Node(std::string backplane) {
    ServerOptions o = test_options(2);
    o.backplane = std::move(backplane);
    server = std::make_unique<Server>(o);
    WebSocketHandlers h;
    h.on_message = [this](WebSocket& c, std::string_view m, bool) {
      auto field = [&](std::string_view prefix) { return m.substr(prefix.size()); };
      if (m.starts_with("sub:")) {
        c.subscribe(field("sub:"));
        c.send(m);
      } else if (m.starts_with("unsub:")) {
        c.unsubscribe(field("unsub:"));
        c.send(m);
      } else if (m.starts_with("pub:") || m.starts_with("bin:")) {
        std::string_view rest = field("pub:");
        const auto colon = rest.find(':');
        ws->publish(rest.substr(0, colon), rest.substr(colon + 1), m.starts_with("bin:"));
      } else if (m.starts_with("bcast:")) {
        ws->broadcast(field("bcast:"));
      }
    };
    ws = &server->websocket("/ws/feed", h);
    SseHandlers sh;
    sh.on_open = [](SseStream& s, const HttpRequest& req) {
      if (auto t = req.query_param("topic")) s.subscribe(*t);
    };
    sse = &server->sse("/sse", sh);
    server->start();
  }
  ~Node() { server->shutdown(); }
};

// A /ws/feed client subscribed to topic (its "sub:" answer read).
std::unique_ptr<WsClient> subscriber(Node& n, std::string_view topic) {
  auto c = std::make_unique<WsClient>(n.server->port(), "/ws/feed");
  EXPECT_TRUE(c->open());
  const std::string sub = "sub:" + std::string(topic);
  c->send_text(sub);
  auto f = c->read_frame();
  EXPECT_TRUE(f && f->payload == sub);
  return c;
}

// The next data frame's payload ("" after 2 s without one), and its opcode.
std::pair<std::string, std::uint8_t> next(WsClient& c, std::chrono::milliseconds wait = 2s) {
  auto f = c.read_frame(wait);
  return f ? std::pair{f->payload, f->opcode} : std::pair{std::string(), std::uint8_t{0}};
}

TEST(ServerBackplane, WebSocketPublishesReachTheTopicOnEveryNodeOnce) {
  Node a("memory://ws-publish"), b("memory://ws-publish");
  auto on_a = subscriber(a, "t");
  auto on_b = subscriber(b, "t");
  auto other_b = subscriber(b, "u");
  // The publishing node's subscriber is served by the node itself, the other's through the
  // backplane: each exactly once.
  auto driver = std::make_unique<WsClient>(a.server->port(), "/ws/feed");
  driver->send_text("pub:t:hello");
  driver->send_text("bin:t:bytes");
  for (WsClient* c : {on_a.get(), on_b.get()}) {
    EXPECT_EQ(next(*c), (std::pair<std::string, std::uint8_t>{"hello", kText}));
    EXPECT_EQ(next(*c), (std::pair<std::string, std::uint8_t>{"bytes", kBinary}));
  }
  // Nothing more: no copy came back to a through the backplane, nothing reached topic u.
  driver->send_text("pub:u:mark");
  EXPECT_EQ(next(*other_b).first, "mark");
  EXPECT_EQ(next(*on_a, 200ms).first, "");
  EXPECT_EQ(next(*on_b, 200ms).first, "");
  // And from b the other way.
  auto driver_b = std::make_unique<WsClient>(b.server->port(), "/ws/feed");
  driver_b->send_text("pub:t:back");
  EXPECT_EQ(next(*on_a).first, "back");
  EXPECT_EQ(next(*on_b).first, "back");
}

TEST(ServerBackplane, BroadcastsReachEveryConnectionOfThePathOnEveryNode) {
  Node a("memory://ws-broadcast"), b("memory://ws-broadcast");
  WsClient on_a(a.server->port(), "/ws/feed"), on_b(b.server->port(), "/ws/feed");
  ASSERT_TRUE(on_a.open() && on_b.open());
  ASSERT_TRUE(wait_until([&] { return a.ws->connection_count() == 1 && b.ws->connection_count() == 1; }));
  on_b.send_text("bcast:to all");
  EXPECT_EQ(next(on_a).first, "to all");
  EXPECT_EQ(next(on_b).first, "to all");
  EXPECT_EQ(next(on_b, 200ms).first, "");
  a.ws->broadcast("from a's own thread");
  EXPECT_EQ(next(on_a).first, "from a's own thread");
  EXPECT_EQ(next(on_b).first, "from a's own thread");
}

TEST(ServerBackplane, SsePublishesAndBroadcastsCrossNodes) {
  Node a("memory://sse"), b("memory://sse");
  SseClient on_b(b.server->port(), "/sse?topic=orders"), other_b(b.server->port(), "/sse?topic=x");
  ASSERT_TRUE(wait_until([&] { return b.sse->connection_count() == 2; }));
  a.sse->publish("orders", {.data = "order 1", .id = "1"});
  a.sse->broadcast({.data = "everyone"});
  ASSERT_TRUE(on_b.has_events(2));
  EXPECT_EQ(on_b.events(), (std::vector<std::string>{"order 1", "everyone"}));
  EXPECT_NE(on_b.bytes().find("id: 1\n"), std::string::npos);
  ASSERT_TRUE(other_b.has_events(1));
  EXPECT_EQ(other_b.events(), (std::vector<std::string>{"everyone"}));
}

TEST(ServerBackplane, ANodeSubscribesToATopicOnlyWhileAConnectionOfItDoes) {
  Node a("memory://channels"), b("memory://channels");
  // Each endpoint's broadcasts: /ws/feed and /sse.
  EXPECT_EQ(b.server->backplane_status().channels, 2u);
  {
    auto one = subscriber(b, "t");
    auto two = subscriber(b, "t");
    EXPECT_EQ(b.server->backplane_status().channels, 3u);
    one->send_text("unsub:t");
    EXPECT_EQ(next(*one).first, "unsub:t");
    EXPECT_EQ(b.server->backplane_status().channels, 3u);  // two still subscribes
  }
  // Both closed: the node's subscription goes with the last one.
  EXPECT_TRUE(wait_until([&] { return b.server->backplane_status().channels == 2u; }));
  const std::uint64_t delivered = b.server->backplane_status().delivered;
  a.ws->publish("t", "nobody on b");
  EXPECT_EQ(b.server->backplane_status().delivered, delivered);
}

TEST(ServerBackplane, OneThreadsPublishesArriveInOrderOnTheOtherNode) {
  Node a("memory://order"), b("memory://order");
  auto on_b = subscriber(b, "seq");
  constexpr int kCount = 2000;
  std::thread publisher([&] {
    for (int i = 0; i < kCount; ++i) a.ws->publish("seq", std::to_string(i));
  });
  int expected = 0;
  while (expected < kCount) {
    auto [payload, opcode] = next(*on_b);
    if (payload != std::to_string(expected)) {
      ADD_FAILURE() << "got '" << payload << "', expected " << expected;
      break;
    }
    ++expected;
  }
  publisher.join();
  EXPECT_EQ(expected, kCount);
}

TEST(ServerBackplane, MetricsAndStatusNameTheBackplane) {
  Node a("memory://metrics"), b("memory://metrics");
  auto on_b = subscriber(b, "t");
  a.ws->publish("t", "m");
  EXPECT_EQ(next(*on_b).first, "m");
  const BackplaneStatus st = b.server->backplane_status();
  EXPECT_EQ(st.kind, "memory");
  EXPECT_TRUE(st.up);
  EXPECT_EQ(st.delivered, 1u);
  EXPECT_EQ(st.malformed, 0u);
  const std::string text = b.server->metrics_text();
  EXPECT_NE(text.find("wirehub_backplane_up{kind=\"memory\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("wirehub_backplane_delivered_total{kind=\"memory\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("wirehub_backplane_channels{kind=\"memory\"} 3\n"), std::string::npos);
  // Without a backplane: no such family, an empty kind.
  Server alone(test_options(1));
  alone.start();
  EXPECT_EQ(alone.backplane_status().kind, "");
  EXPECT_EQ(alone.metrics_text().find("wirehub_backplane"), std::string::npos);
  alone.shutdown();
}

TEST(ServerBackplane, StartRefusesAnUnusableBackplaneValue) {
  for (const char* bad : {"memory://", "nats://x:1", "redis//x", "x"}) {
    ServerOptions o = test_options(1);
    o.backplane = bad;
    Server s(o);
    EXPECT_THROW(s.start(), std::invalid_argument) << bad;
  }
}

}  // namespace
}  // namespace wirehub
