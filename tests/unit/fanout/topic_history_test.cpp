#include "fanout/topic_history.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "fanout/history_json.hpp"
#include "fanout/topic_index.hpp"

namespace wirehub::fanout {
namespace {

using Kind = TopicHistory::Replay::Kind;

std::string text(const BufferRef& b) { return std::string(b->view()); }

// Publishes "m<seq>" on topic at now_ms; returns the position it got.
HistoryPosition publish(TopicHistory& h, std::string_view topic, std::uint64_t now_ms,
                        std::vector<std::string>* delivered = nullptr) {
  HistoryPosition got;
  h.append(
      topic, now_ms, [](HistoryPosition p) { return BufferRef::copy_of("m" + std::to_string(p.seq)); },
      [&](const BufferRef& m, HistoryPosition p) {
        got = p;
        if (delivered) delivered->push_back(text(m));
      });
  return got;
}

TopicHistory::Replay read(TopicHistory& h, std::string_view topic, std::optional<HistoryPosition> from,
                          std::uint64_t now_ms) {
  TopicHistory::Replay out;
  h.read_after(topic, from, now_ms, [&](TopicHistory::Replay&& r) { out = std::move(r); });
  return out;
}

std::vector<std::string> texts(const std::vector<BufferRef>& v) {
  std::vector<std::string> out;
  for (const BufferRef& b : v) out.push_back(text(b));
  return out;
}

TEST(HistoryPosition, FormatsAndParsesOneSpellingOnly) {
  const HistoryPosition p{0x9c1f2e0a4b7d3c65, 42};
  EXPECT_EQ(format_position(p), "9c1f2e0a4b7d3c65-42");
  const auto back = parse_position("9c1f2e0a4b7d3c65-42");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->epoch, p.epoch);
  EXPECT_EQ(back->seq, 42u);
  EXPECT_EQ(parse_position("0000000000000001-18446744073709551615")->seq, 18446744073709551615u);
  for (std::string_view bad : {"", "9c1f2e0a4b7d3c65", "9c1f2e0a4b7d3c65-", "9C1F2E0A4B7D3C65-1", "9c1f2e0a4b7d3c6-1",
                               "9c1f2e0a4b7d3c65-01", "9c1f2e0a4b7d3c65--1", "9c1f2e0a4b7d3c65-1x",
                               "9c1f2e0a4b7d3c65-18446744073709551616", "9c1f2e0a4b7d3c65+1"}) {
    EXPECT_FALSE(parse_position(bad)) << bad;
  }
}

TEST(TopicHistory, NumbersEachTopicFromOneAndReplaysWhatFollowsAPosition) {
  TopicHistory h(TopicHistory::Numbering::Here, {.max_messages = 100});
  std::vector<std::string> delivered;
  const HistoryPosition a1 = publish(h, "a", 0, &delivered);
  const HistoryPosition a2 = publish(h, "a", 0, &delivered);
  const HistoryPosition b1 = publish(h, "b", 0, &delivered);
  publish(h, "a", 0, &delivered);
  EXPECT_EQ(a1.seq, 1u);
  EXPECT_EQ(a2.seq, 2u);
  EXPECT_EQ(a2.epoch, a1.epoch);
  EXPECT_EQ(b1.seq, 1u);
  EXPECT_NE(b1.epoch, a1.epoch);  // each topic has its own numbering
  EXPECT_EQ(delivered, (std::vector<std::string>{"m1", "m2", "m1", "m3"}));

  TopicHistory::Replay r = read(h, "a", a1, 0);
  EXPECT_EQ(r.kind, Kind::Messages);
  EXPECT_EQ(texts(r.messages), (std::vector<std::string>{"m2", "m3"}));
  EXPECT_EQ(r.now.seq, 3u);
  EXPECT_EQ(r.now.epoch, a1.epoch);

  r = read(h, "a", HistoryPosition{a1.epoch, 3}, 0);  // up to date
  EXPECT_EQ(r.kind, Kind::Messages);
  EXPECT_TRUE(r.messages.empty());
  r = read(h, "a", HistoryPosition{a1.epoch, 0}, 0);  // from the very start
  EXPECT_EQ(texts(r.messages), (std::vector<std::string>{"m1", "m2", "m3"}));
}

TEST(TopicHistory, APositionItCannotServeGetsAResetWithTheCurrentPosition) {
  TopicHistory h(TopicHistory::Numbering::Here, {.max_messages = 3});
  HistoryPosition p;
  for (int i = 0; i < 5; ++i) p = publish(h, "a", 0);  // keeps 3, 4, 5
  EXPECT_EQ(read(h, "a", HistoryPosition{p.epoch, 2}, 0).kind, Kind::Messages);
  EXPECT_EQ(texts(read(h, "a", HistoryPosition{p.epoch, 2}, 0).messages), (std::vector<std::string>{"m3", "m4", "m5"}));
  for (const std::optional<HistoryPosition>& from :
       {std::optional<HistoryPosition>{}, std::optional{HistoryPosition{p.epoch, 1}},  // 2 is gone
        std::optional{HistoryPosition{p.epoch ^ 1, 4}},                                 // another numbering
        std::optional{HistoryPosition{p.epoch, 6}}}) {                                  // from the future
    const TopicHistory::Replay r = read(h, "a", from, 0);
    EXPECT_EQ(r.kind, Kind::Reset);
    EXPECT_TRUE(r.messages.empty());
    EXPECT_EQ(r.now.epoch, p.epoch);
    EXPECT_EQ(r.now.seq, 5u);
  }
}

TEST(TopicHistory, AnUnknownTopicTakesItsEpochAtOnceSoAPositionBeforeItsFirstMessageResumes) {
  TopicHistory h(TopicHistory::Numbering::Here, {.max_messages = 10});
  const TopicHistory::Replay first = read(h, "new", std::nullopt, 0);
  EXPECT_EQ(first.kind, Kind::Reset);
  EXPECT_NE(first.now.epoch, 0u);
  EXPECT_EQ(first.now.seq, 0u);
  publish(h, "new", 10);
  publish(h, "new", 20);
  const TopicHistory::Replay r = read(h, "new", first.now, 30);
  EXPECT_EQ(r.kind, Kind::Messages);
  EXPECT_EQ(texts(r.messages), (std::vector<std::string>{"m1", "m2"}));
}

TEST(TopicHistory, MessagesAgeOutAndATopicLeftEmptyIsForgottenWithItsEpoch) {
  TopicHistory h(TopicHistory::Numbering::Here, {.max_messages = 10, .max_age_ms = 1000});
  const HistoryPosition p1 = publish(h, "a", 0);
  publish(h, "a", 600);
  // At 1200 the first (published at 0) is past 1000 ms: a resume from before it is reset,
  // one after it still gets the second.
  EXPECT_EQ(read(h, "a", HistoryPosition{p1.epoch, 0}, 1200).kind, Kind::Reset);
  EXPECT_EQ(texts(read(h, "a", p1, 1200).messages), (std::vector<std::string>{"m2"}));
  EXPECT_EQ(h.topic_count(), 1u);
  // Long after, another topic's publish sweeps: "a" has nothing left and is forgotten.
  publish(h, "b", 5000);
  EXPECT_EQ(h.topic_count(), 1u);
  const HistoryPosition again = publish(h, "a", 5000);
  EXPECT_EQ(again.seq, 1u);
  EXPECT_NE(again.epoch, p1.epoch);  // a new numbering: old positions get a reset
  EXPECT_EQ(read(h, "a", HistoryPosition{p1.epoch, 2}, 5000).kind, Kind::Reset);
}

TEST(TopicHistory, ConcurrentPublishersDeliverEachTopicInNumberOrder) {
  TopicHistory h(TopicHistory::Numbering::Here, {.max_messages = 100'000});
  std::vector<std::uint64_t> order;  // filled under the history's lock
  auto run = [&] {
    for (int i = 0; i < 20'000; ++i) {
      h.append(
          "a", 0, [](HistoryPosition) { return BufferRef::copy_of("x"); },
          [&](const BufferRef&, HistoryPosition p) { order.push_back(p.seq); });
    }
  };
  std::thread t1(run), t2(run);
  t1.join();
  t2.join();
  ASSERT_EQ(order.size(), 40'000u);
  for (std::size_t i = 0; i < order.size(); ++i) ASSERT_EQ(order[i], i + 1);
}

TEST(TopicHistory, ElsewhereTakesNumberedMessagesDropsRepeatsHoldsAfterAGapAndBreaksOnANewEpoch) {
  TopicHistory h(TopicHistory::Numbering::Elsewhere, {.max_messages = 100});
  std::vector<std::string> events;
  auto make = [](HistoryPosition p) { return BufferRef::copy_of("m" + std::to_string(p.seq)); };
  auto deliver = [&](const BufferRef& m, HistoryPosition) { events.push_back(text(m)); };
  auto on_break = [&](HistoryPosition before) { events.push_back("reset@" + std::to_string(before.seq)); };
  auto take = [&](std::uint64_t epoch, std::uint64_t seq) { return h.accept("a", {epoch, seq}, 0, make, deliver, on_break); };
  auto fill = [&](bool ok, std::vector<std::pair<std::uint64_t, std::string>> fetched) {
    h.fill("a", {.ok = ok, .epoch = 7, .messages = &fetched}, 0,
           [](HistoryPosition p, std::string_view payload) { return BufferRef::copy_of(std::string(payload) + "@" + std::to_string(p.seq)); },
           deliver, on_break);
  };
  using Accepted = TopicHistory::Accepted;
  EXPECT_EQ(take(7, 5).kind, Accepted::Delivered);  // the first this node sees
  EXPECT_EQ(take(7, 6).kind, Accepted::Delivered);
  EXPECT_EQ(take(7, 6).kind, Accepted::Duplicate);
  EXPECT_EQ(take(7, 4).kind, Accepted::Duplicate);
  // 7 and 8 missed: 9 and what follows wait for them.
  const TopicHistory::Acceptance gap = take(7, 9);
  EXPECT_EQ(gap.kind, Accepted::Gap);
  EXPECT_EQ(gap.last, 6u);
  EXPECT_EQ(take(7, 10).kind, Accepted::Held);
  EXPECT_EQ(take(7, 10).kind, Accepted::Duplicate);
  EXPECT_EQ(events, (std::vector<std::string>{"m5", "m6"}));
  fill(true, {{7, "f"}, {8, "f"}, {9, "f"}});  // 9 is held already: the held copy goes
  EXPECT_EQ(events, (std::vector<std::string>{"m5", "m6", "f@7", "f@8", "m9", "m10"}));
  EXPECT_EQ(take(7, 11).kind, Accepted::Delivered);
  // A gap the history cannot fill (trimmed): a reset before the held ones.
  EXPECT_EQ(take(7, 15).kind, Accepted::Gap);
  fill(true, {{14, "f"}});  // 12 and 13 are gone
  EXPECT_EQ(take(7, 16).kind, Accepted::Delivered);
  // The read failed: the same.
  EXPECT_EQ(take(7, 18).kind, Accepted::Gap);
  fill(false, {});
  events.erase(events.begin(), events.begin() + 7);
  EXPECT_EQ(events, (std::vector<std::string>{"reset@14", "m15", "m16", "reset@17", "m18"}));
  events.clear();
  EXPECT_EQ(take(8, 1).kind, Accepted::Broken);  // numbering started over
  EXPECT_EQ(take(8, 2).kind, Accepted::Delivered);
  EXPECT_EQ(events, (std::vector<std::string>{"reset@0", "m1", "m2"}));
}

// A resume across nodes: the backplane's read after the position, plus what this node
// delivered after the read, or a reset.
TEST(TopicHistory, AReplayAfterABackplaneReadAddsTheCachedMessagesAfterItOrResets) {
  TopicHistory h(TopicHistory::Numbering::Elsewhere, {.max_messages = 3});
  auto make = [](HistoryPosition p) { return BufferRef::copy_of("m" + std::to_string(p.seq)); };
  for (std::uint64_t seq = 1; seq <= 6; ++seq) {  // this node took 1..6 and keeps 4..6
    h.accept("a", {8, seq}, 0, make, [](const BufferRef&, HistoryPosition) {}, [](HistoryPosition) {});
  }
  auto replay = [&](std::string_view topic, std::optional<HistoryPosition> from, bool ok, std::uint64_t epoch,
                    std::uint64_t first, std::uint64_t last, std::vector<std::pair<std::uint64_t, std::string>> read) {
    TopicHistory::Replay out;
    h.replay_after_read(topic, from, {.ok = ok, .epoch = epoch, .first = first, .last = last, .messages = &read}, 0,
                        [](HistoryPosition p, std::string_view payload) {
                          return BufferRef::copy_of(std::string(payload) + "@" + std::to_string(p.seq));
                        },
                        [&](TopicHistory::Replay&& r) { out = std::move(r); });
    return out;
  };
  // Read up to 4 (the node's subscription ran ahead of it): 3..4 from the read, 5..6 here.
  TopicHistory::Replay r = replay("a", HistoryPosition{8, 2}, true, 8, 1, 4, {{3, "r"}, {4, "r"}});
  EXPECT_EQ(r.kind, Kind::Messages);
  EXPECT_EQ(texts(r.messages), (std::vector<std::string>{"r@3", "r@4", "m5", "m6"}));
  EXPECT_EQ(r.now.seq, 6u);  // the floor
  // Read up to 8 (the node's subscription lags): the read's, and the floor skips 7..8 later.
  r = replay("a", HistoryPosition{8, 6}, true, 8, 1, 8, {{7, "r"}, {8, "r"}});
  EXPECT_EQ(texts(r.messages), (std::vector<std::string>{"r@7", "r@8"}));
  EXPECT_EQ(r.now.seq, 8u);
  // Resets: the cache cannot continue a read that ends before what it keeps (1..3 gone
  // here); the read's first is after the position; another epoch; a failed read; no
  // position at all.
  EXPECT_EQ(replay("a", HistoryPosition{8, 0}, true, 8, 1, 2, {{1, "r"}, {2, "r"}}).kind, Kind::Reset);
  EXPECT_EQ(replay("a", HistoryPosition{8, 1}, true, 8, 4, 6, {{4, "r"}}).kind, Kind::Reset);
  EXPECT_EQ(replay("a", HistoryPosition{7, 5}, true, 8, 1, 6, {}).kind, Kind::Reset);
  EXPECT_EQ(replay("a", HistoryPosition{8, 5}, false, 0, 0, 0, {}).kind, Kind::Reset);
  r = replay("a", std::nullopt, true, 8, 4, 6, {});
  EXPECT_EQ(r.kind, Kind::Reset);
  EXPECT_EQ(r.now.epoch, 8u);
  EXPECT_EQ(r.now.seq, 6u);
  // A topic this node holds nothing of: the read alone, up to date.
  r = replay("b", HistoryPosition{3, 9}, true, 3, 1, 10, {{10, "r"}});
  EXPECT_EQ(texts(r.messages), (std::vector<std::string>{"r@10"}));
  EXPECT_EQ(r.now.seq, 10u);
}

TEST(TopicIndex, FloorsFollowTheirSlotsThroughRemovals) {
  TopicIndex idx;
  idx.subscribe(1, "t", 10);
  idx.subscribe(2, "t", 20);
  idx.subscribe(3, "t", 30);
  idx.unsubscribe(1, "t");  // slot 3 moves into the hole
  TopicIndex::Members m = idx.members("t");
  ASSERT_EQ(m.slots.size(), 2u);
  for (std::size_t i = 0; i < m.slots.size(); ++i) EXPECT_EQ(m.floors[i], m.slots[i] * 10);
  idx.clear_floors("t");
  m = idx.members("t");
  for (std::uint64_t f : m.floors) EXPECT_EQ(f, 0u);
}

TEST(HistoryJson, EnvelopesEscapeAndEncode) {
  const HistoryPosition p{0xab, 3};
  EXPECT_EQ(numbered_message_json("t\"1", p, "a\"b\\c\n\x01", false),
            R"({"topic":"t\"1","position":"00000000000000ab-3","seq":3,"data":"a\"b\\c\u000a\u0001"})");
  EXPECT_EQ(numbered_message_json("t", p, std::string_view("\xff\x00\x10", 3), true),
            R"({"topic":"t","position":"00000000000000ab-3","seq":3,"data_base64":"/wAQ"})");
  EXPECT_EQ(reset_message_json("t", p), R"({"topic":"t","reset":true,"position":"00000000000000ab-3","seq":3})");
}

}  // namespace
}  // namespace wirehub::fanout
