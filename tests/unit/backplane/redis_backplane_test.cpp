// The Redis backplane with two nodes (two instances) on one real redis-server: delivery,
// order, reference-counted subscriptions, Redis killed and restarted, held publishes that
// wait for a late peer (and at most flush_wait_ms for one that never returns), in-flight
// re-sends without duplicates, a full buffer, AUTH, and stop() while Redis is unreachable.
#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "backplane/redis_backplane.hpp"
#include "redis_test_support.hpp"

namespace wirehub::backplane {
namespace {

using test::LogCapture;
using test::RedisClient;
using test::RedisServer;
using test::wait_until;
using namespace std::chrono_literals;

// One node: a started Redis backplane and everything its handlers saw.
class Node {
 public:
  explicit Node(RedisOptions o) : bp_(make_redis_backplane(std::move(o))) {
    bp_->set_handlers(
        [this](std::string_view c, std::string_view p) {
          std::lock_guard l(mu_);
          got_.push_back(std::string(c) + "=" + std::string(p));
        },
        [this](State s) {
          std::lock_guard l(mu_);
          states_.push_back(s);
        });
  }
  void start() { bp_->start(); }
  // Stopped before the members its handlers write are destroyed (they are declared after it).
  ~Node() { bp_->stop(); }

  std::vector<std::string> got() {
    std::lock_guard l(mu_);
    return got_;
  }
  std::size_t count() {
    std::lock_guard l(mu_);
    return got_.size();
  }
  std::vector<State> states() {
    std::lock_guard l(mu_);
    return states_;
  }
  bool up() { return bp_->stats().state == State::Up; }
  std::uint64_t peers() { return bp_->stats().peers; }
  // subscribe() and wait for on_active.
  bool subscribe_active(std::string_view ch) {
    auto active = std::make_shared<std::atomic<bool>>(false);
    bp_->subscribe(ch, [active] { active->store(true); });
    return wait_until([&] { return active->load(); });
  }
  Backplane& bp() { return *bp_; }

 private:
  std::unique_ptr<Backplane> bp_;
  std::mutex mu_;
  std::vector<std::string> got_;
  std::vector<State> states_;
};

std::vector<std::string> numbered(const std::string& ch, int from, int to) {
  std::vector<std::string> v;
  for (int i = from; i < to; ++i) v.push_back(ch + "=" + std::to_string(i));
  return v;
}

class RedisBackplaneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fds_before_ = test::open_fd_count();
    ASSERT_TRUE(redis_.start()) << redis_.error();
  }
  RedisOptions options() const {
    RedisOptions o;
    o.port = redis_.port();
    o.reconnect_min_ms = 20;
    o.reconnect_max_ms = 200;
    o.peer_scan_ms = 50;
    o.deliver_own = true;  // a node's own messages come back through Redis: what these tests check
    return o;
  }
  // Every socket, epoll and eventfd of the nodes is closed once they are destroyed.
  void expect_no_fd_leak() { EXPECT_EQ(test::open_fd_count(), fds_before_); }

  RedisServer redis_;
  int fds_before_ = 0;
};

TEST_F(RedisBackplaneTest, PublishReachesEverySubscribedNodeOnlyForItsChannels) {
  {
    Node a(options());
    Node b(options());
    a.start();
    b.start();
    ASSERT_TRUE(wait_until([&] { return a.up() && b.up(); }));
    ASSERT_TRUE(a.subscribe_active("orders"));
    ASSERT_TRUE(b.subscribe_active("orders"));
    ASSERT_TRUE(b.subscribe_active("only-b"));
    EXPECT_EQ(a.bp().publish("orders", "1"), PublishResult::Sent);
    EXPECT_EQ(a.bp().publish("only-b", "x"), PublishResult::Sent);
    EXPECT_EQ(a.bp().publish("nobody", "y"), PublishResult::Sent);
    EXPECT_EQ(b.bp().publish("orders", "2"), PublishResult::Sent);
    ASSERT_TRUE(wait_until([&] { return a.count() >= 2 && b.count() >= 3; }));
    // A's "1" and B's "2" come from two publishers: their relative order is Redis' choice,
    // but it is the same on both nodes.
    const auto ga = a.got();
    const auto gb = b.got();
    EXPECT_EQ(ga.size(), 2u);
    std::vector<std::string> gb_orders;
    for (const auto& m : gb) {
      if (m.rfind("orders=", 0) == 0) gb_orders.push_back(m);
    }
    EXPECT_EQ(ga, gb_orders);
    EXPECT_NE(std::find(gb.begin(), gb.end(), "only-b=x"), gb.end());
    const Stats s = a.bp().stats();
    EXPECT_EQ(s.published, 3u);
    EXPECT_EQ(s.delivered, 2u);
    EXPECT_EQ(s.channels, 1u);
    EXPECT_EQ(s.refused, 0u);
    EXPECT_EQ(s.duplicates, 0u);
    EXPECT_EQ(a.bp().kind(), "redis");
  }
  expect_no_fd_leak();
}

TEST_F(RedisBackplaneTest, ByDefaultANodeDoesNotGetItsOwnMessagesBack) {
  {
    RedisOptions o = options();
    o.deliver_own = false;
    Node a(o);
    Node b(o);
    a.start();
    b.start();
    ASSERT_TRUE(wait_until([&] { return a.up() && b.up(); }));
    ASSERT_TRUE(a.subscribe_active("t"));
    ASSERT_TRUE(b.subscribe_active("t"));
    EXPECT_EQ(a.bp().publish("t", "from a"), PublishResult::Sent);
    EXPECT_EQ(b.bp().publish("t", "from b"), PublishResult::Sent);
    ASSERT_TRUE(wait_until([&] { return a.count() >= 1 && b.count() >= 1; }));
    // A marker from b published after "from a" reached b: by then a's own copy of
    // "from a" has passed a's subscription too (one Redis, one order).
    EXPECT_EQ(b.bp().publish("t", "marker"), PublishResult::Sent);
    ASSERT_TRUE(wait_until([&] { return a.count() >= 2; }));
    EXPECT_EQ(a.got(), (std::vector<std::string>{"t=from b", "t=marker"}));
    EXPECT_EQ(b.got(), (std::vector<std::string>{"t=from a"}));
    EXPECT_EQ(a.bp().stats().delivered, 2u);
  }
  expect_no_fd_leak();
}

TEST_F(RedisBackplaneTest, TenThousandPipelinedMessagesKeepTheirOrder) {
  {
    Node a(options());
    Node b(options());
    a.start();
    b.start();
    ASSERT_TRUE(a.subscribe_active("seq"));
    ASSERT_TRUE(b.subscribe_active("seq"));
    ASSERT_TRUE(wait_until([&] { return a.up() && b.up(); }));
    for (int i = 0; i < 10'000; ++i) ASSERT_EQ(a.bp().publish("seq", std::to_string(i)), PublishResult::Sent);
    ASSERT_TRUE(wait_until([&] { return a.count() == 10'000 && b.count() == 10'000; }, 20s))
        << a.count() << " " << b.count();
    EXPECT_EQ(a.got(), numbered("seq", 0, 10'000));
    EXPECT_EQ(b.got(), numbered("seq", 0, 10'000));
    ASSERT_TRUE(wait_until([&] { return a.bp().stats().buffered == 0; }));  // every PUBLISH acknowledged
    EXPECT_EQ(b.bp().stats().delivered, 10'000u);
  }
  expect_no_fd_leak();
}

TEST_F(RedisBackplaneTest, OnActiveRunsOnlyOnceRedisConfirmedTheSubscription) {
  RedisClient redis(test::endpoint_of(redis_));
  ASSERT_TRUE(redis.wait_up());
  Node a(options());
  a.start();
  ASSERT_TRUE(wait_until([&] { return a.up(); }));
  std::atomic<long long> numsub{-1};
  // Asked from inside on_active, on the backplane's own thread: had on_active run before
  // the SUBSCRIBE went out, Redis would not know the subscription yet.
  a.bp().subscribe("conf", [&] { numsub = redis.call({"PUBSUB", "NUMSUB", "wirehub:conf"})->elements[1].integer; });
  ASSERT_TRUE(wait_until([&] { return numsub.load() >= 0; }));
  EXPECT_EQ(numsub.load(), 1);
}

TEST_F(RedisBackplaneTest, SubscriptionsAreReferenceCounted) {
  RedisClient redis(test::endpoint_of(redis_));
  ASSERT_TRUE(redis.wait_up());
  Node a(options());
  a.start();
  ASSERT_TRUE(wait_until([&] { return a.up(); }));
  auto channels = [&] {
    std::vector<std::string> v;
    const auto reply = redis.call({"PUBSUB", "CHANNELS", "wirehub:x*"});
    if (!reply) return std::vector<std::string>{"(no reply)"};
    for (const auto& e : reply->elements) v.push_back(e.str);
    std::sort(v.begin(), v.end());
    return v;
  };
  // A subscribe with on_active is a barrier: the subscriber connection's commands before
  // it were processed by Redis once it runs.
  int barrier = 0;
  auto sync = [&] { ASSERT_TRUE(a.subscribe_active("sync" + std::to_string(barrier++))); };

  ASSERT_TRUE(a.subscribe_active("x"));
  a.bp().subscribe("x");
  sync();
  EXPECT_EQ(channels(), (std::vector<std::string>{"wirehub:x"}));
  EXPECT_EQ(a.bp().stats().channels, 2u);  // x and sync0
  a.bp().unsubscribe("x");
  sync();
  EXPECT_EQ(channels(), (std::vector<std::string>{"wirehub:x"}));  // one reference left
  a.bp().unsubscribe("x");
  sync();
  EXPECT_TRUE(channels().empty());
  a.bp().unsubscribe("x");  // one too many: ignored
  ASSERT_TRUE(a.subscribe_active("x"));
  EXPECT_EQ(channels(), (std::vector<std::string>{"wirehub:x"}));
  EXPECT_EQ(a.bp().stats().channels, 4u);  // x, sync0..2
}

// Redis is SIGKILLed while nothing is in flight, then restarted on the same port while A
// keeps publishing. What is guaranteed, and asserted: every message publish() accepted
// (Sent or Buffered) is delivered on A and on B (a peer A knew) exactly once, in publish
// order.
TEST_F(RedisBackplaneTest, RedisKilledAndRestartedLosesNothingAndDuplicatesNothing) {
  {
    Node a(options());
    Node b(options());
    std::atomic<int> next{0};  // the next message number A publishes
    a.start();
    b.start();
    ASSERT_TRUE(a.subscribe_active("feed"));
    ASSERT_TRUE(b.subscribe_active("feed"));
    ASSERT_TRUE(wait_until([&] { return a.up() && b.up() && a.peers() == 1; }));
    std::vector<PublishResult> results;
    auto publish = [&] {
      const int i = next.load();
      results.push_back(a.bp().publish("feed", std::to_string(i)));
      next.store(i + 1);
    };
    for (int i = 0; i < 1000; ++i) publish();
    ASSERT_TRUE(wait_until([&] { return a.count() == 1000 && b.count() == 1000; }));

    redis_.kill();
    for (int i = 0; i < 500; ++i) publish();  // Sent or Buffered, whichever A knows yet
    ASSERT_TRUE(wait_until([&] { return !a.up(); }));
    for (int i = 0; i < 500; ++i) {
      publish();
      ASSERT_EQ(results.back(), PublishResult::Buffered);
    }
    EXPECT_GE(a.bp().stats().buffered, 500u);

    std::atomic<bool> stop{false};
    std::thread publisher([&] {
      // Paced, not synchronised: a steady stream across the restart.
      while (!stop.load()) {
        for (int k = 0; k < 20; ++k) publish();
        std::this_thread::sleep_for(1ms);
      }
    });
    ASSERT_TRUE(redis_.start()) << redis_.error();
    ASSERT_TRUE(wait_until([&] { return a.up() && b.up(); }, 10s));
    const int target = next.load() + 1000;
    ASSERT_TRUE(wait_until([&] { return next.load() >= target; }, 10s));
    stop = true;
    publisher.join();
    const int total = next.load();

    EXPECT_EQ(std::count(results.begin(), results.end(), PublishResult::Refused), 0);
    ASSERT_TRUE(wait_until([&] { return a.count() >= static_cast<std::size_t>(total); }, 20s)) << a.count();
    EXPECT_EQ(a.got(), numbered("feed", 0, total));
    EXPECT_EQ(a.bp().stats().delivered, static_cast<std::uint64_t>(total));
    EXPECT_EQ(a.states(), (std::vector<State>{State::Connecting, State::Up, State::Connecting, State::Up}));
    EXPECT_GE(a.bp().stats().reconnects, 2u);  // both of its connections

    ASSERT_TRUE(wait_until([&] { return b.got().back() == "feed=" + std::to_string(total - 1); }, 20s));
    EXPECT_EQ(b.got(), numbered("feed", 0, total));
    EXPECT_EQ(a.bp().stats().flush_waits, 1u);
    EXPECT_EQ(a.bp().stats().peers_missed, 0u);
  }
  expect_no_fd_leak();
}

// B reconnects a second or more after A (its backoff is longer): A, back first with
// publishes held, waits for B's subscriptions before it sends them, and what A publishes
// meanwhile queues behind them. Without the wait B would miss all of them.
TEST_F(RedisBackplaneTest, HeldPublishesWaitForAPeerThatSubscribesAgainLate) {
  LogCapture log;
  {
    RedisOptions slow = options();
    slow.reconnect_min_ms = 2'000;  // B retries 1 to 2 s after each failure
    slow.reconnect_max_ms = 2'000;
    Node a(options());
    Node b(slow);
    a.start();
    b.start();
    ASSERT_TRUE(a.subscribe_active("feed"));
    ASSERT_TRUE(b.subscribe_active("feed"));
    ASSERT_TRUE(wait_until([&] { return a.up() && b.up() && a.peers() == 1 && b.peers() == 1; }));
    for (int i = 0; i < 10; ++i) ASSERT_EQ(a.bp().publish("feed", std::to_string(i)), PublishResult::Sent);
    ASSERT_TRUE(wait_until([&] { return a.count() == 10 && b.count() == 10; }));

    redis_.kill();
    ASSERT_TRUE(wait_until([&] { return !a.up() && !b.up(); }));
    for (int i = 10; i < 100; ++i) ASSERT_EQ(a.bp().publish("feed", std::to_string(i)), PublishResult::Buffered);
    ASSERT_TRUE(redis_.start()) << redis_.error();
    ASSERT_TRUE(wait_until([&] { return log.count({"waiting up to 10000 ms for 1 peer(s)"}) == 1; }, 10s));
    // A's link is back, its held messages are not sent yet: new ones queue behind them.
    for (int i = 100; i < 150; ++i) ASSERT_EQ(a.bp().publish("feed", std::to_string(i)), PublishResult::Buffered);

    ASSERT_TRUE(wait_until([&] { return a.count() == 150 && b.count() == 150; }, 15s)) << a.count() << " " << b.count();
    EXPECT_EQ(a.got(), numbered("feed", 0, 150));
    EXPECT_EQ(b.got(), numbered("feed", 0, 150));
    EXPECT_EQ(log.count({"every peer subscribed again after"}), 1u);
    const Stats s = a.bp().stats();
    EXPECT_EQ(s.flush_waits, 1u);
    EXPECT_EQ(s.peers_missed, 0u);
    EXPECT_EQ(s.duplicates + b.bp().stats().duplicates, 0u);
    EXPECT_EQ(b.bp().stats().flush_waits, 0u);  // B held nothing
  }
  expect_no_fd_leak();
}

// A peer that does not come back (here: its next attempt is a minute away) holds A's
// buffered publishes back for flush_wait_ms, no longer; A names it in a warning.
TEST_F(RedisBackplaneTest, APeerThatDoesNotComeBackDelaysTheFlushAtMostFlushWaitMs) {
  LogCapture log;
  {
    RedisOptions o = options();
    o.flush_wait_ms = 600;
    RedisOptions gone = options();
    gone.reconnect_min_ms = 60'000;
    gone.reconnect_max_ms = 60'000;
    Node a(o);
    Node c(gone);
    a.start();
    c.start();
    ASSERT_TRUE(a.subscribe_active("feed"));
    ASSERT_TRUE(c.subscribe_active("feed"));
    ASSERT_TRUE(wait_until([&] { return a.up() && a.peers() == 1; }));

    redis_.kill();
    ASSERT_TRUE(wait_until([&] { return !a.up() && !c.up(); }));
    for (int i = 0; i < 10; ++i) ASSERT_EQ(a.bp().publish("feed", std::to_string(i)), PublishResult::Buffered);
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(redis_.start()) << redis_.error();
    ASSERT_TRUE(wait_until([&] { return a.count() == 10; }, 10s));
    const auto waited = std::chrono::steady_clock::now() - t0;
    EXPECT_GE(waited, 600ms);
    EXPECT_LT(waited, 600ms + 2s);
    EXPECT_EQ(a.got(), numbered("feed", 0, 10));
    EXPECT_TRUE(a.up());
    const Stats s = a.bp().stats();
    EXPECT_EQ(s.flush_waits, 1u);
    EXPECT_EQ(s.peers_missed, 1u);
    EXPECT_EQ(log.count({"did not subscribe again within 600 ms"}), 1u);
    EXPECT_EQ(c.count(), 0u);
  }
  expect_no_fd_leak();
}

// Messages Redis takes but whose acknowledgement never reaches A are sent again; the
// receivers drop the second copies. Deterministic: Redis is stopped (SIGSTOP) with A's
// PUBLISHes unread in its socket; A's command timeout closes that connection; once Redis
// continues it runs the old connection's PUBLISHes (they were sent before the close) and
// then the same ones again from A's new connection.
TEST_F(RedisBackplaneTest, InFlightResendAfterALostAcknowledgementIsNotDuplicated) {
  {
    RedisOptions o = options();
    o.command_timeout_ms = 200;
    o.connect_timeout_ms = 200;
    Node a(o);
    Node b(o);
    a.start();
    b.start();
    ASSERT_TRUE(a.subscribe_active("d"));
    ASSERT_TRUE(b.subscribe_active("d"));
    ASSERT_TRUE(wait_until([&] { return a.up() && b.up(); }));
    EXPECT_EQ(a.bp().publish("d", "w"), PublishResult::Sent);
    ASSERT_TRUE(wait_until([&] { return a.count() == 1 && b.count() == 1; }));

    redis_.pause();
    for (int i = 0; i < 5; ++i) EXPECT_EQ(a.bp().publish("d", std::to_string(i)), PublishResult::Sent);
    ASSERT_TRUE(wait_until([&] { return !a.up(); }));  // the PUBLISHes timed out: connection closed
    redis_.resume();

    ASSERT_TRUE(wait_until([&] { return a.bp().stats().duplicates >= 5 && b.bp().stats().duplicates >= 5; }, 10s))
        << a.bp().stats().duplicates << " " << b.bp().stats().duplicates;
    ASSERT_TRUE(wait_until([&] { return a.up(); }));
    EXPECT_EQ(a.bp().publish("d", "end"), PublishResult::Sent);
    ASSERT_TRUE(wait_until([&] { return a.count() == 7 && b.count() == 7; }));
    const std::vector<std::string> want = {"d=w", "d=0", "d=1", "d=2", "d=3", "d=4", "d=end"};
    EXPECT_EQ(a.got(), want);
    EXPECT_EQ(b.got(), want);
    EXPECT_EQ(a.bp().stats().delivered, 7u);
  }
  expect_no_fd_leak();
}

TEST_F(RedisBackplaneTest, FullBufferRefusesAndCounts) {
  RedisOptions o = options();
  o.buffer_max_messages = 3;
  o.buffer_max_bytes = 10;
  redis_.kill();
  Node a(o);
  a.start();
  a.bp().subscribe("f");
  EXPECT_EQ(a.bp().publish("f", "1234"), PublishResult::Buffered);
  EXPECT_EQ(a.bp().publish("f", "12345678"), PublishResult::Refused);  // 12 bytes > 10
  EXPECT_EQ(a.bp().publish("f", "56"), PublishResult::Buffered);
  EXPECT_EQ(a.bp().publish("f", "78"), PublishResult::Buffered);
  EXPECT_EQ(a.bp().publish("f", "9"), PublishResult::Refused);  // a fourth message
  Stats s = a.bp().stats();
  EXPECT_EQ(s.published, 3u);
  EXPECT_EQ(s.refused, 2u);
  EXPECT_EQ(s.buffered, 3u);
  EXPECT_EQ(s.buffered_bytes, 8u);
  EXPECT_EQ(s.state, State::Connecting);

  ASSERT_TRUE(redis_.start()) << redis_.error();
  ASSERT_TRUE(wait_until([&] { return a.count() == 3; }, 10s));
  EXPECT_EQ(a.got(), (std::vector<std::string>{"f=1234", "f=56", "f=78"}));
  ASSERT_TRUE(wait_until([&] { return a.bp().stats().buffered == 0; }));
  EXPECT_EQ(a.bp().stats().buffered_bytes, 0u);
  EXPECT_EQ(a.bp().publish("f", "again"), PublishResult::Sent);
}

class RedisBackplaneAuthTest : public RedisBackplaneTest {
 protected:
  void SetUp() override {
    fds_before_ = test::open_fd_count();
    ASSERT_TRUE(auth_redis_.start()) << auth_redis_.error();
  }
  RedisServer auth_redis_{{"--requirepass", "right-one"}};
};

TEST_F(RedisBackplaneAuthTest, RightPasswordWorksWrongOneIsLoggedAndRetried) {
  LogCapture log;
  {
    RedisOptions o;
    o.port = auth_redis_.port();
    o.reconnect_min_ms = 20;
    o.reconnect_max_ms = 50;
    o.password = "right-one";
    o.db = 2;
    o.deliver_own = true;
    Node good(o);
    o.password = "wrong-one";
    Node bad(o);
    good.start();
    bad.start();
    ASSERT_TRUE(good.subscribe_active("s"));
    ASSERT_TRUE(wait_until([&] { return good.up(); }));  // the publish connection too
    EXPECT_EQ(good.bp().publish("s", "ok"), PublishResult::Sent);
    ASSERT_TRUE(wait_until([&] { return good.count() == 1; }));

    ASSERT_TRUE(wait_until([&] { return log.count({"AUTH failed", "WRONGPASS"}) >= 4; }))
        << "both connections fail, and keep retrying";
    EXPECT_EQ(bad.bp().stats().state, State::Connecting);
    EXPECT_EQ(bad.bp().publish("s", "held"), PublishResult::Buffered);
    EXPECT_EQ(log.count({"wrong-one"}), 0u) << "the password is never logged";
  }
  expect_no_fd_leak();
}

TEST(RedisBackplane, StopReturnsPromptlyWhileRedisIsUnreachable) {
  // A listener that never accepts: connects hang in the handshake until the timeout.
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 8), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int fds_before = test::open_fd_count();
  for (const std::uint16_t port : {ntohs(addr.sin_port), test::free_port()}) {  // silent, then refused
    RedisOptions o;
    o.port = port;
    o.connect_timeout_ms = 30'000;
    o.reconnect_min_ms = 10'000;
    std::atomic<int> messages{0};
    auto bp = make_redis_backplane(o);
    bp->set_handlers([&](std::string_view, std::string_view) { ++messages; });
    bp->start();
    bp->subscribe("c");
    EXPECT_EQ(bp->publish("c", "p"), PublishResult::Buffered);
    const auto t0 = std::chrono::steady_clock::now();
    bp->stop();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);
    EXPECT_EQ(bp->publish("c", "after"), PublishResult::Refused);
    bp->stop();  // idempotent
    EXPECT_EQ(bp->stats().state, State::Connecting);
  }
  EXPECT_EQ(test::open_fd_count(), fds_before);
  ::close(fd);
}

}  // namespace
}  // namespace wirehub::backplane
