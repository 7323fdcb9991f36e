// Sequenced channels over Redis, with two nodes on one real redis-server: one numbering
// for all nodes under concurrent publishers, history reads (position, max, count and age
// bounds), the keys' expiry, Redis killed and restarted (with persistence, so numbers
// survive), a re-send after a lost acknowledgement numbered once, scripts flushed under a
// live connection, and plain and sequenced messages sharing a channel.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "backplane/redis_backplane.hpp"
#include "redis_test_support.hpp"

namespace wirehub::backplane {
namespace {

using test::RedisClient;
using test::RedisServer;
using test::wait_until;
using namespace std::chrono_literals;
using Numbered = std::vector<std::pair<std::uint64_t, std::string>>;

// One node: a started Redis backplane and what reached each of its handlers.
class Node {
 public:
  explicit Node(RedisOptions o) : bp_(make_redis_backplane(std::move(o))) {
    bp_->set_handlers([this](std::string_view c, std::string_view p) {
      std::lock_guard l(mu_);
      plain_.push_back(std::string(c) + "=" + std::string(p));
    });
    bp_->set_sequenced_handler(
        [this](std::string_view, std::uint64_t epoch, std::uint64_t seq, std::string_view p) {
          std::lock_guard l(mu_);
          got_.emplace_back(seq, p);
          epochs_.insert(epoch);
        });
    bp_->start();
  }

  Numbered got() {
    std::lock_guard l(mu_);
    return got_;
  }
  std::size_t count() {
    std::lock_guard l(mu_);
    return got_.size();
  }
  // The epochs of the sequenced messages received.
  std::set<std::uint64_t> epochs() {
    std::lock_guard l(mu_);
    return epochs_;
  }
  std::vector<std::string> plain() {
    std::lock_guard l(mu_);
    return plain_;
  }
  bool up() { return bp_->stats().state == State::Up; }
  bool subscribe_active(std::string_view ch) {
    auto active = std::make_shared<std::atomic<bool>>(false);
    bp_->subscribe(ch, [active] { active->store(true); });
    return wait_until([&] { return active->load(); });
  }
  // fetch_history, waited for (a default HistoryRange, error "no answer", after 5 s).
  HistoryRange fetch(std::string_view ch, std::uint64_t after, std::size_t max,
                     HistoryLimits l = {}) {
    auto done = std::make_shared<std::promise<HistoryRange>>();
    auto answer = done->get_future();
    bp_->fetch_history(ch, after, max, l,
                       [done](HistoryRange r) { done->set_value(std::move(r)); });
    if (answer.wait_for(5s) != std::future_status::ready) {
      HistoryRange none;
      none.error = "no answer";
      return none;
    }
    return answer.get();
  }
  Backplane& bp() { return *bp_; }

 private:
  std::unique_ptr<Backplane> bp_;
  std::mutex mu_;
  std::set<std::uint64_t> epochs_;
  Numbered got_;
  std::vector<std::string> plain_;
};

// 1..n with the payloads given, in that order.
Numbered numbered(const std::vector<std::string>& payloads) {
  Numbered v;
  for (std::size_t i = 0; i < payloads.size(); ++i) v.emplace_back(i + 1, payloads[i]);
  return v;
}

std::vector<std::string> counted(const std::string& tag, int from, int to) {
  std::vector<std::string> v;
  for (int i = from; i < to; ++i) v.push_back(tag + std::to_string(i));
  return v;
}

class RedisHistoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fds_before_ = test::open_fd_count();
    ASSERT_TRUE(redis_->start()) << redis_->error();
  }
  RedisOptions options() const {
    RedisOptions o;
    o.port = redis_->port();
    o.reconnect_min_ms = 20;
    o.reconnect_max_ms = 200;
    o.peer_scan_ms = 50;
    return o;
  }
  void expect_no_fd_leak() { EXPECT_EQ(test::open_fd_count(), fds_before_); }

  std::unique_ptr<RedisServer> redis_ = std::make_unique<RedisServer>();
  int fds_before_ = 0;
};

TEST_F(RedisHistoryTest, TwoNodesPublishingAtOnceBothSeeOneContiguousNumbering) {
  {
    Node a(options());
    Node b(options());
    ASSERT_TRUE(a.subscribe_active("t"));
    ASSERT_TRUE(b.subscribe_active("t"));
    ASSERT_TRUE(wait_until([&] { return a.up() && b.up(); }));
    constexpr int kEach = 1000;
    const HistoryLimits all{.max_messages = 2 * kEach};
    auto publisher = [&](Backplane& bp, const std::string& tag) {
      for (int i = 0; i < kEach; ++i)
        ASSERT_EQ(bp.publish_sequenced("t", tag + std::to_string(i), all), PublishResult::Sent);
    };
    std::thread ta(publisher, std::ref(a.bp()), "a");
    std::thread tb(publisher, std::ref(b.bp()), "b");
    ta.join();
    tb.join();
    ASSERT_TRUE(wait_until([&] { return a.count() == 2 * kEach && b.count() == 2 * kEach; }, 20s))
        << a.count() << " " << b.count();
    const Numbered got = a.got();
    EXPECT_EQ(b.got(), got);  // the publisher included, one order for both
    std::vector<std::string> from_a, from_b;
    for (std::size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i].first, i + 1);
      (got[i].second[0] == 'a' ? from_a : from_b).push_back(got[i].second);
    }
    EXPECT_EQ(from_a, counted("a", 0, kEach));  // each publisher's, once each, in its order
    EXPECT_EQ(from_b, counted("b", 0, kEach));
    const HistoryRange h = b.fetch("t", 0, 2 * kEach);
    ASSERT_TRUE(h.ok) << h.error;
    EXPECT_EQ(h.first, 1u);
    EXPECT_EQ(h.last, 2u * kEach);
    EXPECT_EQ(h.messages, got);
    // One numbering: every message of both nodes, and the read, name the same epoch.
    EXPECT_NE(h.epoch, 0u);
    EXPECT_EQ(a.epochs(), std::set<std::uint64_t>{h.epoch});
    EXPECT_EQ(b.epochs(), std::set<std::uint64_t>{h.epoch});
    ASSERT_TRUE(wait_until([&] { return a.bp().stats().buffered == 0; }));
    const Stats s = a.bp().stats();
    EXPECT_EQ(s.published, static_cast<std::uint64_t>(kEach));
    EXPECT_EQ(s.delivered, 2u * kEach);
    EXPECT_EQ(s.duplicates, 0u);
  }
  expect_no_fd_leak();
}

TEST_F(RedisHistoryTest, FetchReturnsWhatFollowsAPositionWithinMaxAndTheCountBound) {
  Node a(options());
  ASSERT_TRUE(wait_until([&] { return a.up(); }));
  const HistoryLimits five{.max_messages = 5};
  HistoryRange r = a.fetch("h", 0, 10, five);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.first, 0u);
  EXPECT_EQ(r.last, 0u);
  EXPECT_TRUE(r.messages.empty());
  // Not subscribed: numbered and kept all the same. A read is sent after what this
  // thread published before it, on the same connection: no wait needed.
  for (int i = 1; i <= 4; ++i) a.bp().publish_sequenced("h", "m" + std::to_string(i), five);
  r = a.fetch("h", 0, 10, five);
  EXPECT_EQ(r.first, 1u);
  EXPECT_EQ(r.last, 4u);
  EXPECT_EQ(r.messages, numbered({"m1", "m2", "m3", "m4"}));
  for (int i = 5; i <= 10; ++i) a.bp().publish_sequenced("h", "m" + std::to_string(i), five);
  r = a.fetch("h", 7, 10, five);
  EXPECT_EQ(r.first, 6u);  // five kept
  EXPECT_EQ(r.last, 10u);
  EXPECT_EQ(r.messages, (Numbered{{8, "m8"}, {9, "m9"}, {10, "m10"}}));
  r = a.fetch("h", 2, 2, five);  // a gap: 3..5 are gone, the oldest kept come first
  EXPECT_EQ(r.messages, (Numbered{{6, "m6"}, {7, "m7"}}));
  EXPECT_TRUE(a.fetch("h", 10, 10, five).messages.empty());
  EXPECT_TRUE(
      a.fetch("h", 99, 10, five).messages.empty());  // past last: a reader of a lost numbering
  EXPECT_TRUE(a.fetch("h", 0, 0, five).messages.empty());
  // Counts past what Lua and Redis hold are capped, not refused.
  a.bp().publish_sequenced("h", "m11", {.max_messages = UINT64_MAX});
  r = a.fetch("h", 0, SIZE_MAX);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.messages.size(), 6u);
  EXPECT_EQ(r.last, 11u);
  a.bp().publish_sequenced("h", std::string("bin\0ary\xff", 8),
                           {.max_messages = 2});  // the newest limits apply
  r = a.fetch("h", 0, 10);
  EXPECT_EQ(r.first, 11u);
  EXPECT_EQ(r.messages, (Numbered{{11, "m11"}, {12, std::string("bin\0ary\xff", 8)}}));
}

TEST_F(RedisHistoryTest, EntriesPastMaxAgeAreGoneAndTheKeysExpireOnlyWithAnAgeBound) {
  RedisClient redis(test::endpoint_of(*redis_));
  ASSERT_TRUE(redis.wait_up());
  Node a(options());
  ASSERT_TRUE(wait_until([&] { return a.up(); }));
  const HistoryLimits young{.max_messages = 100, .max_age_ms = 100};
  a.bp().publish_sequenced("h", "old1", young);
  a.bp().publish_sequenced("h", "old2", young);
  EXPECT_EQ(a.fetch("h", 0, 10, young).first, 1u);
  auto pttl = [&](const std::string& key) { return redis.call({"PTTL", key})->integer; };
  EXPECT_GT(pttl("wirehub:h:h"), 100);  // 2 × max_age_ms, refreshed by each publish
  EXPECT_LE(pttl("wirehub:h:h"), 200);
  EXPECT_GT(pttl("wirehub:hseq:h"), 100);
  // Read-time age bound: once 100 ms have passed nothing is returned or counted.
  ASSERT_TRUE(wait_until([&] { return a.fetch("h", 0, 10, young).first == 0; }));
  HistoryRange r = a.fetch("h", 0, 10, young);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.last, 2u);
  EXPECT_TRUE(r.messages.empty());
  // The next publish trims the old head from the stream itself.
  a.bp().publish_sequenced("h", "new", young);
  r = a.fetch("h", 0, 10);  // no age bound at read time: what the stream holds
  EXPECT_EQ(r.first, 3u);
  EXPECT_EQ(r.messages, (Numbered{{3, "new"}}));
  EXPECT_EQ(redis.call({"XLEN", "wirehub:h:h"})->integer, 1);
  // Without an age bound the keys are kept.
  a.bp().publish_sequenced("h", "kept", {});
  EXPECT_EQ(a.fetch("h", 3, 10).messages, (Numbered{{4, "kept"}}));
  EXPECT_EQ(pttl("wirehub:h:h"), -1);
  EXPECT_EQ(pttl("wirehub:hseq:h"), -1);
}

// A read asked for after a publish, on the same thread, sees it: the read is sent behind
// it on the publish connection, however the backplane's thread batches the two.
TEST_F(RedisHistoryTest, AReadSeesWhatItsThreadPublishedBeforeIt) {
  Node a(options());
  ASSERT_TRUE(wait_until([&] { return a.up(); }));
  for (std::uint64_t k = 1; k <= 100; ++k) {
    // A burst first, so that the backplane's thread is busy sending part of it while
    // this thread publishes the rest and then asks for the read.
    for (int i = 0; i < 200; ++i) a.bp().publish("noise", "x");
    a.bp().publish_sequenced("h", std::to_string(k), {});
    const HistoryRange r = a.fetch("h", k - 1, 10);
    ASSERT_TRUE(r.ok) << r.error;
    ASSERT_EQ(r.last, k);
    ASSERT_EQ(r.messages, (Numbered{{k, std::to_string(k)}}));
  }
}

// The counter and the stream are written and expire together; should the counter go
// alone (deleted by hand), the stream's last id carries the numbering on.
TEST_F(RedisHistoryTest, ACounterLostAloneIsTakenUpFromTheStream) {
  RedisClient redis(test::endpoint_of(*redis_));
  ASSERT_TRUE(redis.wait_up());
  Node a(options());
  ASSERT_TRUE(wait_until([&] { return a.up(); }));
  for (int i = 1; i <= 3; ++i)
    a.bp().publish_sequenced("h", "m" + std::to_string(i), {.max_messages = 1});
  const HistoryRange before = a.fetch("h", 0, 10);
  ASSERT_EQ(before.last, 3u);
  ASSERT_NE(before.epoch, 0u);
  ASSERT_EQ(redis.call({"DEL", "wirehub:hseq:h"})->integer, 1);
  a.bp().publish_sequenced("h", "m4", {});
  const HistoryRange r = a.fetch("h", 0, 10);
  EXPECT_EQ(r.last, 4u);
  EXPECT_EQ(r.messages, (Numbered{{3, "m3"}, {4, "m4"}}));
  // The numbering's record is gone: whatever the numbers, it is another epoch, so a
  // position of the old one is known to be void.
  EXPECT_NE(r.epoch, before.epoch);
  EXPECT_NE(r.epoch, 0u);
}

TEST_F(RedisHistoryTest, FetchWhenNotUpIsAnsweredAtOnceWithNotOk) {
  redis_->kill();
  Node a(options());
  std::atomic<int> calls{0};
  HistoryRange got;
  a.bp().fetch_history("h", 0, 10, {}, [&](HistoryRange r) {
    got = std::move(r);
    ++calls;
  });
  EXPECT_EQ(calls.load(), 1);  // before fetch_history returned
  EXPECT_FALSE(got.ok);
  EXPECT_FALSE(got.error.empty());
  a.bp().stop();
  a.bp().fetch_history("h", 0, 10, {}, [&](HistoryRange r) {
    EXPECT_FALSE(r.ok);
    ++calls;
  });
  EXPECT_EQ(calls.load(), 2);
}

// A read in flight when the backplane stops is answered (not ok) before stop() returns.
TEST_F(RedisHistoryTest, AReadInFlightWhenTheBackplaneStopsIsAnswered) {
  Node a(options());
  ASSERT_TRUE(wait_until([&] { return a.up(); }));
  redis_->pause();  // the read stays unanswered
  std::atomic<int> calls{0};
  std::atomic<bool> ok{true};
  a.bp().fetch_history("h", 0, 10, {}, [&](HistoryRange r) {
    ok = r.ok;
    ++calls;
  });
  a.bp().stop();
  EXPECT_EQ(calls.load(), 1);
  EXPECT_FALSE(ok.load());
  redis_->resume();
}

TEST_F(RedisHistoryTest, PlainAndSequencedOnOneChannelReachTheirOwnHandlers) {
  {
    Node a(options());
    Node b(options());
    ASSERT_TRUE(a.subscribe_active("c"));
    ASSERT_TRUE(b.subscribe_active("c"));
    ASSERT_TRUE(wait_until([&] { return a.up() && b.up(); }));
    EXPECT_EQ(a.bp().publish("c", "plain"), PublishResult::Sent);
    EXPECT_EQ(a.bp().publish_sequenced("c", "numbered", {}), PublishResult::Sent);
    EXPECT_EQ(b.bp().publish("c", "marker"), PublishResult::Sent);
    // a's "marker" comes after its own copy of "plain" (one Redis, one order).
    ASSERT_TRUE(wait_until([&] {
      return a.plain().size() == 1 && b.plain().size() == 1 && a.count() == 1 && b.count() == 1;
    }));
    EXPECT_EQ(a.plain(),
              (std::vector<std::string>{"c=marker"}));  // a plain message skips its publisher
    EXPECT_EQ(b.plain(), (std::vector<std::string>{"c=plain"}));
    EXPECT_EQ(a.got(), (Numbered{{1, "numbered"}}));  // a sequenced one does not
    EXPECT_EQ(b.got(), (Numbered{{1, "numbered"}}));
  }
  expect_no_fd_leak();
}

// Messages whose acknowledgement never reaches A are sent again (see the same test for
// plain messages in redis_backplane_test.cpp: Redis stopped with A's scripts unread, A's
// command timeout closes the connection, Redis runs them on continuing and then gets them
// again on A's new connection). The script numbers and publishes each once.
TEST_F(RedisHistoryTest, InFlightResendAfterALostAcknowledgementIsNumberedOnce) {
  {
    RedisOptions o = options();
    o.command_timeout_ms = 200;
    o.connect_timeout_ms = 200;
    Node a(o);
    Node b(o);
    ASSERT_TRUE(a.subscribe_active("d"));
    ASSERT_TRUE(b.subscribe_active("d"));
    ASSERT_TRUE(wait_until([&] { return a.up() && b.up(); }));
    EXPECT_EQ(a.bp().publish_sequenced("d", "w", {}), PublishResult::Sent);
    ASSERT_TRUE(wait_until([&] { return a.count() == 1 && b.count() == 1; }));

    redis_->pause();
    for (int i = 0; i < 5; ++i)
      EXPECT_EQ(a.bp().publish_sequenced("d", std::to_string(i), {}), PublishResult::Sent);
    ASSERT_TRUE(wait_until([&] { return !a.up(); }));  // the scripts timed out: connection closed
    redis_->resume();
    // Redis ran the first connection's five, then skipped the five re-sent on the new one.
    ASSERT_TRUE(wait_until([&] { return a.bp().stats().duplicates == 5; }, 10s))
        << a.bp().stats().duplicates;
    ASSERT_TRUE(wait_until([&] { return a.up() && a.bp().stats().buffered == 0; }, 10s));
    EXPECT_EQ(a.bp().publish_sequenced("d", "end", {}), PublishResult::Sent);
    const Numbered want = numbered({"w", "0", "1", "2", "3", "4", "end"});
    ASSERT_TRUE(wait_until([&] { return a.count() >= 7 && b.count() >= 7; }));
    const HistoryRange h = b.fetch("d", 0, 100);
    ASSERT_TRUE(h.ok) << h.error;
    EXPECT_EQ(h.last, 7u);
    EXPECT_EQ(h.messages, want);
    EXPECT_EQ(a.got(), want);
    EXPECT_EQ(b.got(), want);
    // Redis kept its data (AOF): one numbering throughout.
    EXPECT_EQ(a.epochs(), std::set<std::uint64_t>{h.epoch});
    EXPECT_EQ(b.epochs(), std::set<std::uint64_t>{h.epoch});
  }
  expect_no_fd_leak();
}

// SCRIPT FLUSH under a live connection: the next sequenced publish gets NOSCRIPT; the
// backplane drops the connection, loads the scripts on a new one and sends it again.
TEST_F(RedisHistoryTest, ScriptsFlushedUnderALiveConnectionAreLoadedAgain) {
  RedisClient redis(test::endpoint_of(*redis_));
  ASSERT_TRUE(redis.wait_up());
  Node a(options());
  ASSERT_TRUE(a.subscribe_active("s"));
  ASSERT_TRUE(wait_until([&] { return a.up(); }));
  a.bp().publish_sequenced("s", "before", {});
  ASSERT_TRUE(wait_until([&] { return a.count() == 1; }));
  ASSERT_EQ(redis.call({"SCRIPT", "FLUSH"})->str, "OK");
  EXPECT_EQ(a.bp().publish_sequenced("s", "after", {}), PublishResult::Sent);
  ASSERT_TRUE(wait_until([&] { return a.count() == 2; }, 10s));
  EXPECT_EQ(a.got(), numbered({"before", "after"}));
  EXPECT_GE(a.bp().stats().reconnects, 1u);
  ASSERT_EQ(redis.call({"SCRIPT", "FLUSH"})->str, "OK");
  HistoryRange r =
      a.fetch("s", 0, 10);  // a read gets NOSCRIPT too: not ok, and the scripts come back
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("NOSCRIPT"), std::string::npos) << r.error;
  ASSERT_TRUE(wait_until(
      [&] {
        r = a.fetch("s", 0, 10);
        return r.ok;
      },
      10s));
  EXPECT_EQ(r.messages, numbered({"before", "after"}));
}

// Redis (with an append-only file, so a channel's numbers and history survive it) is
// SIGKILLed and restarted on the same port while A keeps publishing sequenced messages
// from one thread. Every accepted message is numbered exactly once, contiguously, in
// publish order, and reaches A and B once, in number order.
TEST_F(RedisHistoryTest, RedisKilledAndRestartedKeepsTheNumberingContiguous) {
  char tmpl[] = "/tmp/wirehub-redis-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  redis_ = std::make_unique<RedisServer>(
      std::vector<std::string>{"--appendonly", "yes", "--appendfsync", "always", "--dir", dir});
  ASSERT_TRUE(redis_->start()) << redis_->error();
  {
    Node a(options());
    Node b(options());
    ASSERT_TRUE(a.subscribe_active("feed"));
    ASSERT_TRUE(b.subscribe_active("feed"));
    ASSERT_TRUE(wait_until([&] { return a.up() && b.up() && a.bp().stats().peers == 1; }));
    const HistoryLimits keep{.max_messages = 100'000};
    std::vector<PublishResult> results;
    std::atomic<int> next{0};
    auto publish = [&] {
      const int i = next.load();
      results.push_back(a.bp().publish_sequenced("feed", std::to_string(i), keep));
      next.store(i + 1);
    };
    for (int i = 0; i < 500; ++i) publish();
    ASSERT_TRUE(wait_until([&] { return a.count() == 500 && b.count() == 500; }));

    redis_->kill();
    for (int i = 0; i < 300; ++i) publish();  // in flight or buffered, whichever A knows yet
    ASSERT_TRUE(wait_until([&] { return !a.up(); }));
    for (int i = 0; i < 300; ++i) publish();
    std::atomic<bool> stop{false};
    std::thread publisher([&] {
      // Paced, not synchronised: a steady stream across the restart.
      while (!stop.load()) {
        for (int k = 0; k < 20; ++k) publish();
        std::this_thread::sleep_for(1ms);
      }
    });
    ASSERT_TRUE(redis_->start()) << redis_->error();
    ASSERT_TRUE(wait_until([&] { return a.up() && b.up(); }, 10s));
    const int target = next.load() + 500;
    ASSERT_TRUE(wait_until([&] { return next.load() >= target; }, 10s));
    stop = true;
    publisher.join();
    const int total = next.load();
    EXPECT_EQ(std::count(results.begin(), results.end(), PublishResult::Refused), 0);

    const Numbered want = numbered(counted("", 0, total));
    ASSERT_TRUE(wait_until([&] { return a.bp().stats().buffered == 0; }, 20s));
    const HistoryRange h = a.fetch("feed", 0, total + 10);
    ASSERT_TRUE(h.ok) << h.error;
    EXPECT_EQ(h.first, 1u);
    EXPECT_EQ(h.last, static_cast<std::uint64_t>(total));
    EXPECT_EQ(h.messages, want);
    ASSERT_TRUE(wait_until(
        [&] {
          return a.count() >= static_cast<std::size_t>(total) &&
                 b.count() >= static_cast<std::size_t>(total);
        },
        20s))
        << a.count() << " " << b.count() << " of " << total;
    EXPECT_EQ(a.got(), want);
    EXPECT_EQ(b.got(), want);
    // Redis kept its data (AOF): one numbering throughout.
    EXPECT_EQ(a.epochs(), std::set<std::uint64_t>{h.epoch});
    EXPECT_EQ(b.epochs(), std::set<std::uint64_t>{h.epoch});
  }
  expect_no_fd_leak();
  redis_->kill();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace wirehub::backplane
