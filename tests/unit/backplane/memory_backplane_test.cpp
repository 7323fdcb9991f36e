#include <algorithm>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "backplane/backplane.hpp"
#include "test_support.hpp"

namespace wirehub::backplane {
namespace {

using Got = std::vector<std::pair<std::string, std::string>>;

std::unique_ptr<Backplane> node(std::string_view bus, Got& got) {
  auto bp = make_memory_backplane(bus);
  bp->set_handlers([&got](std::string_view c, std::string_view p) { got.emplace_back(c, p); });
  bp->start();
  return bp;
}

TEST(MemoryBackplane, ReachesTheOtherSubscribedNodesOfItsBusInOrder) {
  Got got_a, got_b, got_c, got_other;
  auto a = node("bus1", got_a);
  auto b = node("bus1", got_b);
  auto c = node("bus1", got_c);
  auto other = node("bus2", got_other);
  bool active = false;
  a->subscribe("x");
  b->subscribe("x", [&] { active = true; });
  other->subscribe("x");
  EXPECT_TRUE(active);
  EXPECT_EQ(a->publish("x", "1"), PublishResult::Sent);
  EXPECT_EQ(a->publish("y", "not subscribed"), PublishResult::Sent);
  EXPECT_EQ(c->publish("x", "2"), PublishResult::Sent);
  EXPECT_EQ(got_a, (Got{{"x", "2"}}));  // not its own message
  EXPECT_EQ(got_b, (Got{{"x", "1"}, {"x", "2"}}));
  EXPECT_TRUE(got_c.empty());      // not subscribed
  EXPECT_TRUE(got_other.empty());  // another bus
  EXPECT_EQ(a->stats().published, 2u);
  EXPECT_EQ(b->stats().delivered, 2u);
  EXPECT_EQ(b->stats().channels, 1u);
  EXPECT_EQ(b->kind(), "memory");
}

TEST(MemoryBackplane, SubscriptionsAreCountedAndStoppedNodesLeaveTheBus) {
  Got got_a, got_b;
  auto a = node("bus3", got_a);
  auto b = node("bus3", got_b);
  b->subscribe("x");
  b->subscribe("x");
  b->unsubscribe("x");
  a->publish("x", "still");
  b->unsubscribe("x");
  a->publish("x", "gone");
  b->unsubscribe("x");  // one too many: ignored
  b->subscribe("x");
  a->publish("x", "back");
  b->stop();
  a->publish("x", "stopped");
  EXPECT_EQ(got_b, (Got{{"x", "still"}, {"x", "back"}}));
}

TEST(MemoryBackplane, StartReportsUp) {
  auto bp = make_memory_backplane("bus4");
  std::vector<State> states;
  bp->set_handlers([](std::string_view, std::string_view) {}, [&](State s) { states.push_back(s); });
  bp->start();
  EXPECT_EQ(states, std::vector<State>{State::Up});
  EXPECT_EQ(bp->stats().state, State::Up);
}

// --- sequenced channels ---

using Numbered = std::vector<std::pair<std::uint64_t, std::string>>;

// A started node that records its sequenced messages (channel-less: one channel per test).
struct SeqNode {
  explicit SeqNode(std::string_view bus) : bp(make_memory_backplane(bus)) {
    bp->set_handlers([this](std::string_view c, std::string_view p) { plain.emplace_back(c, p); });
    bp->set_sequenced_handler([this](std::string_view, std::uint64_t epoch, std::uint64_t seq, std::string_view p) {
      std::lock_guard l(mu);
      got.emplace_back(seq, p);
      epochs.insert(epoch);
    });
    bp->start();
  }
  std::unique_ptr<Backplane> bp;
  std::mutex mu;
  Numbered got;
  std::set<std::uint64_t> epochs;
  Got plain;
};

HistoryRange fetch(Backplane& bp, std::string_view ch, std::uint64_t after, std::size_t max, HistoryLimits l = {}) {
  HistoryRange out;
  int calls = 0;
  bp.fetch_history(ch, after, max, l, [&](HistoryRange r) {
    out = std::move(r);
    ++calls;
  });
  EXPECT_EQ(calls, 1);  // memory: answered before fetch_history returns
  return out;
}

TEST(MemoryBackplaneSequenced, TwoNodesPublishingAtOnceBothSeeOneContiguousNumbering) {
  SeqNode a("seqbus1");
  SeqNode b("seqbus1");
  a.bp->subscribe("t");
  b.bp->subscribe("t");
  constexpr int kEach = 2000;
  auto publisher = [](Backplane& bp, std::string tag) {
    for (int i = 0; i < kEach; ++i) {
      ASSERT_EQ(bp.publish_sequenced("t", tag + std::to_string(i), {.max_messages = 2 * kEach}), PublishResult::Sent);
    }
  };
  std::thread ta(publisher, std::ref(*a.bp), "a");
  std::thread tb(publisher, std::ref(*b.bp), "b");
  ta.join();
  tb.join();
  ASSERT_EQ(a.got.size(), 2u * kEach);
  EXPECT_EQ(a.got, b.got);  // the publisher included, one order for both
  std::vector<std::string> from_a, from_b;
  for (std::size_t i = 0; i < a.got.size(); ++i) {
    EXPECT_EQ(a.got[i].first, i + 1);
    (a.got[i].second[0] == 'a' ? from_a : from_b).push_back(a.got[i].second);
  }
  // Each publisher's messages, once each, in its order.
  for (int i = 0; i < kEach; ++i) {
    ASSERT_EQ(from_a[i], "a" + std::to_string(i));
    ASSERT_EQ(from_b[i], "b" + std::to_string(i));
  }
  EXPECT_TRUE(a.plain.empty());
  EXPECT_EQ(a.bp->stats().published, static_cast<std::uint64_t>(kEach));
  EXPECT_EQ(a.bp->stats().delivered, 2u * kEach);
  const HistoryRange all = fetch(*b.bp, "t", 0, 2 * kEach);
  EXPECT_EQ(all.messages, a.got);
  EXPECT_NE(all.epoch, 0u);  // one numbering, named alike everywhere
  EXPECT_EQ(a.epochs, std::set<std::uint64_t>{all.epoch});
  EXPECT_EQ(b.epochs, std::set<std::uint64_t>{all.epoch});
}

TEST(MemoryBackplaneSequenced, FetchReturnsWhatFollowsAPositionWithinMaxAndTheCountBound) {
  SeqNode a("seqbus2");
  const HistoryLimits five{.max_messages = 5};
  HistoryRange r = fetch(*a.bp, "h", 0, 10, five);
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.first, 0u);
  EXPECT_EQ(r.last, 0u);
  for (int i = 1; i <= 4; ++i) a.bp->publish_sequenced("h", "m" + std::to_string(i), five);
  r = fetch(*a.bp, "h", 0, 10, five);
  EXPECT_EQ(r.first, 1u);
  EXPECT_EQ(r.last, 4u);
  EXPECT_EQ(r.messages, (Numbered{{1, "m1"}, {2, "m2"}, {3, "m3"}, {4, "m4"}}));
  for (int i = 5; i <= 10; ++i) a.bp->publish_sequenced("h", "m" + std::to_string(i), five);
  r = fetch(*a.bp, "h", 7, 10, five);
  EXPECT_EQ(r.first, 6u);  // 1..5 trimmed: five kept
  EXPECT_EQ(r.last, 10u);
  EXPECT_EQ(r.messages, (Numbered{{8, "m8"}, {9, "m9"}, {10, "m10"}}));
  r = fetch(*a.bp, "h", 2, 2, five);  // a gap: 3..5 are gone, the oldest kept come first
  EXPECT_EQ(r.messages, (Numbered{{6, "m6"}, {7, "m7"}}));
  EXPECT_TRUE(fetch(*a.bp, "h", 10, 10, five).messages.empty());
  // The newest publish's limits apply.
  a.bp->publish_sequenced("h", "m11", {.max_messages = 2});
  r = fetch(*a.bp, "h", 0, 10);
  EXPECT_EQ(r.first, 10u);
  EXPECT_EQ(r.messages, (Numbered{{10, "m10"}, {11, "m11"}}));
  EXPECT_EQ(fetch(*a.bp, "other", 0, 10).last, 0u);
}

TEST(MemoryBackplaneSequenced, EntriesPastMaxAgeAreGoneButTheNumberingGoesOn) {
  SeqNode a("seqbus3");
  const HistoryLimits young{.max_messages = 100, .max_age_ms = 30};
  a.bp->publish_sequenced("h", "old1", young);
  a.bp->publish_sequenced("h", "old2", young);
  EXPECT_EQ(fetch(*a.bp, "h", 0, 10, young).first, 1u);
  // Read-time age bound: once 30 ms have passed the entries are not returned.
  ASSERT_TRUE(test::wait_until([&] { return fetch(*a.bp, "h", 0, 10, young).first == 0; }));
  HistoryRange r = fetch(*a.bp, "h", 0, 10, young);
  EXPECT_EQ(r.last, 2u);
  EXPECT_TRUE(r.messages.empty());
  // Without the age bound at read time they are still there until the next publish trims.
  EXPECT_EQ(fetch(*a.bp, "h", 0, 10).messages.size(), 2u);
  a.bp->publish_sequenced("h", "new", young);
  r = fetch(*a.bp, "h", 0, 10);
  EXPECT_EQ(r.first, 3u);
  EXPECT_EQ(r.messages, (Numbered{{3, "new"}}));
}

TEST(MemoryBackplaneSequenced, FetchOnANodeNotStartedOrStoppedIsNotAnswered) {
  auto idle = make_memory_backplane("seqbus4");
  HistoryRange r = fetch(*idle, "h", 0, 10);
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.error.empty());
  idle->publish_sequenced("h", "not numbered", {});  // no node of the bus started: no bus
  SeqNode a("seqbus4");
  a.bp->publish_sequenced("h", "x", {});
  r = fetch(*a.bp, "h", 0, 10);
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.messages, (Numbered{{1, "x"}}));
  a.bp->stop();
  EXPECT_FALSE(fetch(*a.bp, "h", 0, 10).ok);
}

TEST(MemoryBackplaneSequenced, ABusHistoryEndsWithItsLastNode) {
  std::uint64_t epoch = 0;
  {
    SeqNode a("seqbus6");
    SeqNode b("seqbus6");
    a.bp->publish_sequenced("h", "x", {});
    a.bp->stop();
    const HistoryRange r = fetch(*b.bp, "h", 0, 10);
    EXPECT_EQ(r.last, 1u);  // b still holds the bus
    epoch = r.epoch;
  }
  SeqNode c("seqbus6");
  c.bp->subscribe("h");
  EXPECT_EQ(fetch(*c.bp, "h", 0, 10).last, 0u);
  EXPECT_EQ(fetch(*c.bp, "h", 0, 10).epoch, 0u);  // nothing numbered yet
  c.bp->publish_sequenced("h", "y", {});
  EXPECT_EQ(c.got, (Numbered{{1, "y"}}));
  EXPECT_NE(fetch(*c.bp, "h", 0, 10).epoch, epoch);  // numbering again from 1: another epoch
}

TEST(MemoryBackplaneSequenced, PlainAndSequencedOnOneChannelReachTheirOwnHandlers) {
  SeqNode a("seqbus5");
  SeqNode b("seqbus5");
  a.bp->subscribe("c");
  b.bp->subscribe("c");
  a.bp->publish("c", "plain");
  a.bp->publish_sequenced("c", "numbered", {});
  EXPECT_TRUE(a.plain.empty());  // a plain message skips its publisher
  EXPECT_EQ(a.got, (Numbered{{1, "numbered"}}));
  EXPECT_EQ(b.plain, (Got{{"c", "plain"}}));
  EXPECT_EQ(b.got, (Numbered{{1, "numbered"}}));
  b.bp->unsubscribe("c");
  a.bp->publish_sequenced("c", "after", {});
  EXPECT_EQ(b.got.size(), 1u);  // not subscribed: not delivered, still kept
  EXPECT_EQ(fetch(*b.bp, "c", 1, 10).messages, (Numbered{{2, "after"}}));
}

}  // namespace
}  // namespace wirehub::backplane
