// Server-Sent Events endpoints through the public API, against a raw-socket client: the
// exact head and retry line, heartbeats, topics, send_to, the one-thread ordering
// guarantee of publish/broadcast/send_to/post_to (from a plain thread and from a loop
// thread), one shared buffer per broadcast, the slow-consumer close, the origin check,
// on_close exactly once, and shutdown ending the streams.

#include <sys/uio.h>

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>

#include "sse/sse_stream.hpp"
#include "sse_test_client.hpp"
#include "ws_test_client.hpp"

namespace wirehub {
namespace {

using namespace std::chrono_literals;
using test::Clock;
using test::SseClient;

constexpr std::string_view kHead =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/event-stream; charset=utf-8\r\n"
    "Cache-Control: no-store\r\n"
    "X-Accel-Buffering: no\r\n"
    "Connection: close\r\n"
    "\r\n";

class SseTest : public test::ServerTest {
 protected:
  // An endpoint at /sse whose streams subscribe to the ?topic= of their request, and
  // whose ids the test can wait for.
  SseEndpoint& make(SseOptions options = {}, unsigned threads = 1) {
    server_ = std::make_unique<Server>(test::test_options(threads));
    SseHandlers h;
    h.on_open = [this](SseStream& s, const HttpRequest& req) {
      if (auto t = req.query_param("topic")) s.subscribe(*t);
      std::lock_guard lock(mu_);
      ids_.push_back(s.id());
      if (auto last = req.header("Last-Event-ID")) last_event_ids_.emplace_back(*last);
    };
    h.on_close = [this](SseStream& s) {
      std::lock_guard lock(mu_);
      ++closed_[s.id()];
    };
    ep_ = &server_->sse("/sse", std::move(h), std::move(options));
    return *ep_;
  }
  std::size_t opened() {
    std::lock_guard lock(mu_);
    return ids_.size();
  }
  ConnectionId id(std::size_t i) {
    std::lock_guard lock(mu_);
    return ids_.at(i);
  }
  int closes(ConnectionId id) {
    std::lock_guard lock(mu_);
    return closed_[id];
  }

  SseEndpoint* ep_ = nullptr;
  std::mutex mu_;
  std::vector<ConnectionId> ids_;
  std::vector<std::string> last_event_ids_;
  std::map<ConnectionId, int> closed_;
};

TEST_F(SseTest, HeadBytesAreExactAndTheRetryLineComesFirst) {
  make({.retry_ms = 2500});
  server_->start();
  SseClient c(server_->port(), "/sse", "Last-Event-ID: 17\r\n");
  const std::string expected = std::string(kHead) + "retry: 2500\n\n";
  ASSERT_TRUE(c.read_until([&](const std::string& in) { return in.size() >= expected.size(); })) << c.bytes();
  EXPECT_EQ(c.bytes(), expected);
  ASSERT_TRUE(test::wait_until([&] { return opened() == 1; }));
  std::lock_guard lock(mu_);
  EXPECT_EQ(last_event_ids_, std::vector<std::string>{"17"});  // on_open sees the request's headers
}

TEST_F(SseTest, NoRetryLineWhenZeroAndAHeartbeatCommentWhenIdle) {
  make({.retry_ms = 0, .heartbeat_ms = 40});
  server_->start();
  SseClient c(server_->port());
  const std::string expected = std::string(kHead) + ": \n: \n";
  ASSERT_TRUE(c.read_until([&](const std::string& in) { return in.size() >= expected.size(); })) << c.bytes();
  EXPECT_EQ(c.bytes().substr(0, expected.size()), expected);
}

TEST_F(SseTest, WithoutARetryLineTheBodyStartsWithACommentAtOnce) {
  make({.retry_ms = 0, .heartbeat_ms = 0});
  server_->start();
  SseClient c(server_->port());
  const std::string expected = std::string(kHead) + ": \n";
  ASSERT_TRUE(c.read_until([&](const std::string& in) { return in.size() >= expected.size(); })) << c.bytes();
  EXPECT_EQ(c.bytes(), expected);
}

TEST_F(SseTest, PublishReachesOnlySubscribersAndBroadcastReachesAll) {
  SseEndpoint& ep = make();
  server_->start();
  SseClient a(server_->port(), "/sse?topic=orders"), b(server_->port(), "/sse?topic=other");
  ASSERT_TRUE(test::wait_until([&] { return opened() == 2; }));
  ep.publish("orders", {.data = "for orders", .id = "1"});
  ep.broadcast({.data = "for all"});  // posted after the publish, so it arrives after it
  ASSERT_TRUE(a.has_events(2));
  ASSERT_TRUE(b.has_events(1));
  EXPECT_EQ(a.events(), (std::vector<std::string>{"for orders", "for all"}));
  EXPECT_EQ(b.events(), std::vector<std::string>{"for all"});
  EXPECT_NE(a.bytes().find("id: 1\ndata: for orders\n\n"), std::string::npos);
  EXPECT_EQ(ep.stats().events_out, 3u);
}

TEST_F(SseTest, SendToReachesOneStreamAndAStaleIdIsRefusedOnItsLoop) {
  SseEndpoint& ep = make();
  server_->start();
  SseClient a(server_->port()), b(server_->port());
  ASSERT_TRUE(test::wait_until([&] { return opened() == 2; }));
  EXPECT_TRUE(ep.send_to(id(1), {.data = "to b", .event = "note"}));
  ep.broadcast({.data = "marker"});
  ASSERT_TRUE(a.has_events(1));
  ASSERT_TRUE(b.has_events(2));
  EXPECT_EQ(a.events(), std::vector<std::string>{"marker"});
  EXPECT_EQ(b.events(), (std::vector<std::string>{"to b", "marker"}));
  EXPECT_NE(b.bytes().find("event: note\ndata: to b\n\n"), std::string::npos);
  EXPECT_FALSE(ep.send_to(ConnectionId{7} << 56, {.data = "no such loop"}));
  a.close();
  ASSERT_TRUE(test::wait_until([&] { return ep.connection_count() == 1; }));
  // On the owning loop the lookup is exact: a gone stream is known gone.
  std::atomic<int> answers{0};
  ASSERT_TRUE(ep.post_to(id(1), [&](SseStream&) {
    answers += ep.send_to(id(0), {.data = "gone"}) ? 10 : 1;
    answers += ep.post_to(id(0), [](SseStream&) {}) ? 10 : 1;
  }));
  ASSERT_TRUE(test::wait_until([&] { return answers.load() != 0; }));
  EXPECT_EQ(answers.load(), 2);
}

// The sequence of calls each iteration makes, and the events it must produce, in order.
void run_sequence(SseEndpoint& ep, ConnectionId target, int iterations) {
  for (int i = 0; i < iterations; ++i) {
    const std::string n = std::to_string(i);
    ep.post_to(target, [n](SseStream& s) { s.send({.data = "post" + n}); });
    ep.publish("t", {.data = "pub" + n});
    ep.send_to(target, {.data = "to" + n});
    ep.broadcast({.data = "all" + n});
  }
}
std::vector<std::string> expected_sequence(int iterations) {
  std::vector<std::string> v;
  for (int i = 0; i < iterations; ++i) {
    const std::string n = std::to_string(i);
    for (const char* k : {"post", "pub", "to", "all"}) v.push_back(k + n);
  }
  return v;
}

TEST_F(SseTest, CallsFromOneThreadArriveInCallOrder) {
  SseEndpoint& ep = make({.heartbeat_ms = 0}, 2);
  server_->start();
  SseClient c(server_->port(), "/sse?topic=t");
  ASSERT_TRUE(test::wait_until([&] { return opened() == 1; }));
  constexpr int kIterations = 500;
  run_sequence(ep, id(0), kIterations);
  ASSERT_TRUE(c.has_events(4 * kIterations));
  EXPECT_EQ(c.events(), expected_sequence(kIterations));
}

TEST_F(SseTest, CallsFromTheOwningLoopThreadAlsoArriveInCallOrder) {
  // One loop: the sequence runs on the very loop that owns the target stream, where a
  // direct delivery would overtake the posted post_to calls.
  SseEndpoint& ep = make({.heartbeat_ms = 0}, 1);
  server_->start();
  SseClient driver(server_->port()), c(server_->port(), "/sse?topic=t");
  ASSERT_TRUE(test::wait_until([&] { return opened() == 2; }));
  constexpr int kIterations = 200;
  const ConnectionId target = id(1);
  ep.post_to(id(0), [&ep, target](SseStream&) { run_sequence(ep, target, kIterations); });
  ASSERT_TRUE(c.has_events(4 * kIterations));
  EXPECT_EQ(c.events(), expected_sequence(kIterations));
}

TEST_F(SseTest, HistoryThenSubscribeThenLiveHasNoGapAndNoDuplicate) {
  // The OrderFlow resume: the store thread publishes seq 1..N; a stream that connected
  // meanwhile gets, through one post_to from that same thread, the history so far and its
  // subscription; every later publish follows it.
  for (unsigned threads : {1u, 2u}) {
    SseEndpoint& ep = make({.heartbeat_ms = 0}, threads);
    server_->start();
    SseClient c(server_->port());
    ASSERT_TRUE(test::wait_until([&] { return opened() == 1; }));
    const ConnectionId target = id(0);
    constexpr int kTotal = 3000, kJoinAt = 1234;
    auto store = [&ep, target] {
      for (int seq = 1; seq <= kTotal; ++seq) {
        ep.publish("orders", {.data = std::to_string(seq)});
        if (seq == kJoinAt) {
          ep.post_to(target, [](SseStream& s) {
            for (int h = 1; h <= kJoinAt; ++h) s.send({.data = std::to_string(h)});
            s.subscribe("orders");
          });
        }
      }
    };
    if (threads == 1) {
      ep.post_to(target, [store](SseStream&) { store(); });  // from the loop thread itself
    } else {
      std::thread(store).join();
    }
    ASSERT_TRUE(c.has_events(kTotal));
    std::vector<std::string> want;
    for (int seq = 1; seq <= kTotal; ++seq) want.push_back(std::to_string(seq));
    EXPECT_EQ(c.events(), want) << "threads=" << threads;
    c.close();
    server_->shutdown();
    ids_.clear();
  }
}

TEST_F(SseTest, ABroadcastIsFormattedOnceAndSharedByEveryReceiversQueue) {
  SseEndpoint& ep = make({.heartbeat_ms = 0, .send_hard_limit = 64 << 20});
  server_->start();
  // Receivers that do not read, with small windows: the event stays in their queues.
  std::vector<std::unique_ptr<SseClient>> clients;
  for (int i = 0; i < 3; ++i) clients.push_back(std::make_unique<SseClient>(server_->port(), "/sse", "", 4096));
  ASSERT_TRUE(test::wait_until([&] { return opened() == 3; }));
  ep.broadcast({.data = std::string(4 << 20, 'x')});
  // Where each queue's last slice ends: the end of the one formatted event, if shared.
  std::mutex m;
  std::set<const char*> ends;
  std::atomic<int> looked{0};
  for (int i = 0; i < 3; ++i) {
    ep.post_to(id(i), [&](SseStream& s) {
      auto& conn = dynamic_cast<sse::Stream&>(s);
      iovec iov[64];
      int n = conn.queue().gather(iov, 64);
      if (n > 0) {
        std::lock_guard lock(m);
        ends.insert(static_cast<const char*>(iov[n - 1].iov_base) + iov[n - 1].iov_len);
      }
      ++looked;
    });
  }
  ASSERT_TRUE(test::wait_until([&] { return looked.load() == 3; }));
  EXPECT_EQ(ends.size(), 1u);
  EXPECT_EQ(ep.stats().events_out, 3u);
  for (auto& c : clients) c->close();
}

TEST_F(SseTest, ASlowConsumerIsClosedAndCountedWithoutSlowingTheOthers) {
  SseEndpoint& ep = make({.heartbeat_ms = 0, .send_hard_limit = 256 << 10});
  server_->start();
  SseClient slow(server_->port(), "/sse", "", 4096), fast(server_->port());
  ASSERT_TRUE(test::wait_until([&] { return opened() == 2; }));
  // Paced by the fast client, which gets each event before the next is sent; the slow
  // one reads nothing, so its queue grows once the kernel's buffers are full.
  const std::string chunk(64 << 10, 'y');
  std::size_t sent = 0, offered_to_slow = 0;
  while (ep.stats().slow_closed == 0 && sent < 1024) {
    ep.broadcast({.data = chunk});
    ++sent;
    ASSERT_TRUE(fast.has_events(sent)) << sent;
    ++offered_to_slow;  // the event that closed it was offered too
  }
  ASSERT_EQ(ep.stats().slow_closed, 1u);
  for (int i = 0; i < 3; ++i) {  // the others go on
    ep.broadcast({.data = chunk});
    ASSERT_TRUE(fast.has_events(++sent));
  }
  EXPECT_TRUE(slow.read_until_eof());  // whatever it got, then the end
  const SseEndpointStats st = ep.stats();
  EXPECT_GE(st.dropped, 1u);
  EXPECT_EQ(st.events_out + st.dropped, sent + offered_to_slow);
  EXPECT_LT(slow.events().size(), offered_to_slow);
  ASSERT_TRUE(test::wait_until([&] { return closes(id(0)) == 1; }));
  EXPECT_EQ(closes(id(1)), 0);
}

TEST_F(SseTest, AnOriginNotAllowedGets403) {
  SseEndpoint& ep = make({.allowed_origins = {"https://app.example.com"}});
  server_->start();
  SseClient bad(server_->port(), "/sse", "Origin: https://evil.example.com\r\n");
  ASSERT_TRUE(bad.read_until_eof());
  EXPECT_EQ(bad.bytes().rfind("HTTP/1.1 403 Forbidden\r\n", 0), 0u) << bad.bytes();
  SseClient good(server_->port(), "/sse", "Origin: https://app.example.com\r\n");
  ASSERT_TRUE(good.read_until_text("\r\n\r\n"));
  EXPECT_EQ(good.bytes().rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_EQ(ep.stats().origin_refused, 1u);
  Server other(test::test_options(1));
  EXPECT_THROW(other.sse("/bad", {}, {.allowed_origins = {"not an origin"}}), std::invalid_argument);
}

TEST_F(SseTest, OnlyGetOpensAStream) {
  make();
  server_->start();
  for (const char* method : {"POST", "HEAD"}) {
    std::string out =
        test::exchange(server_->port(), std::string(method) + " /sse HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(out.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0), 0u) << method << ": " << out;
    EXPECT_NE(out.find("Allow: GET"), std::string::npos) << out;
  }
  EXPECT_EQ(opened(), 0u);
}

TEST_F(SseTest, OnCloseRunsOnceWhateverEndsTheStream) {
  SseEndpoint& ep = make({.heartbeat_ms = 0});
  server_->start();
  SseClient by_client(server_->port()), by_server(server_->port());
  ASSERT_TRUE(test::wait_until([&] { return opened() == 2; }));
  // The client goes away (EOF; input before it is discarded, not an error).
  ::send(by_client.fd(), "ignored", 7, MSG_NOSIGNAL);
  by_client.close();
  // The server ends the other after a last event; sends after close() are refused.
  std::atomic<int> refused{-1};
  ep.post_to(id(1), [&](SseStream& s) {
    s.send({.data = "last"});
    s.close();
    refused = s.send({.data = "after close"}) ? 0 : 1;
    s.close();
  });
  ASSERT_TRUE(by_server.read_until_eof());
  by_server.close();  // the server lingers for our EOF after its last byte
  EXPECT_EQ(by_server.events(), std::vector<std::string>{"last"});
  EXPECT_EQ(refused.load(), 1);
  ASSERT_TRUE(test::wait_until([&] { return ep.connection_count() == 0; }));
  EXPECT_EQ(closes(id(0)), 1);
  EXPECT_EQ(closes(id(1)), 1);
  EXPECT_EQ(ep.stats().opened, 2u);
}

TEST_F(SseTest, ShutdownEndsStreamsAfterWhatIsQueued) {
  SseEndpoint& ep = make({.heartbeat_ms = 0}, 2);
  server_->start();
  SseClient a(server_->port()), b(server_->port());
  ASSERT_TRUE(test::wait_until([&] { return opened() == 2; }));
  ep.broadcast({.data = "before shutdown"});
  std::thread stopper([&] { server_->shutdown(); });
  EXPECT_TRUE(a.read_until_eof());
  EXPECT_TRUE(b.read_until_eof());
  a.close();
  b.close();
  stopper.join();
  EXPECT_EQ(a.events(), std::vector<std::string>{"before shutdown"});
  EXPECT_EQ(b.events(), std::vector<std::string>{"before shutdown"});
  EXPECT_EQ(closes(id(0)) + closes(id(1)), 2);
}

}  // namespace
}  // namespace wirehub
