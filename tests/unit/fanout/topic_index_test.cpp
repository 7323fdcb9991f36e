#include "fanout/topic_index.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>

namespace wirehub::fanout {
namespace {

std::set<TopicIndex::Slot> members(const TopicIndex& idx, std::string_view topic) {
  auto s = idx.subscribers(topic);
  return {s.begin(), s.end()};
}

TEST(TopicIndex, SubscribeUnsubscribeAndRemove) {
  TopicIndex idx;
  EXPECT_TRUE(idx.subscribe(3, "orders"));
  EXPECT_FALSE(idx.subscribe(3, "orders"));  // already there
  EXPECT_TRUE(idx.subscribe(7, "orders"));
  EXPECT_TRUE(idx.subscribe(7, "prices"));
  EXPECT_FALSE(idx.subscribe(7, ""));
  EXPECT_EQ(members(idx, "orders"), (std::set<TopicIndex::Slot>{3, 7}));
  EXPECT_EQ(idx.subscription_count(), 3u);
  EXPECT_TRUE(idx.is_subscribed(7, "prices"));
  EXPECT_FALSE(idx.is_subscribed(3, "prices"));

  EXPECT_TRUE(idx.unsubscribe(3, "orders"));
  EXPECT_FALSE(idx.unsubscribe(3, "orders"));
  EXPECT_FALSE(idx.unsubscribe(3, "nothing"));
  EXPECT_EQ(members(idx, "orders"), (std::set<TopicIndex::Slot>{7}));

  idx.remove(7);
  EXPECT_TRUE(idx.subscribers("orders").empty());
  EXPECT_TRUE(idx.subscribers("prices").empty());
  EXPECT_EQ(idx.topic_count(), 0u);  // a topic goes with its last member
  EXPECT_EQ(idx.subscription_count(), 0u);
  idx.remove(1000);                   // never seen: nothing happens
}

// Random operations against a plain model: the positions each membership remembers must
// stay right through every swap-removal.
// Counts watch/unwatch per topic as a relay would; a negative or doubled count is a bug.
struct CountingRelay final : Relay {
  std::map<std::string, int> watched;
  int misuse = 0;
  void send(std::string_view, std::string_view) override {}
  using Relay::watch;
  void watch(std::string_view t, std::function<void()>) override {
    if (++watched[std::string(t)] != 1) ++misuse;
  }
  void unwatch(std::string_view t) override {
    auto it = watched.find(std::string(t));
    if (it == watched.end() || --it->second != 0) ++misuse;
    if (it != watched.end() && it->second == 0) watched.erase(it);
  }
  bool up() const override { return true; }
  bool send_numbered(std::string_view, std::string_view) override { return true; }
  void read_history(std::string_view, std::uint64_t, std::function<void(History)>) override {}
};

TEST(TopicIndex, TellsTheRelayWhenATopicGainsItsFirstAndLosesItsLastMember) {
  TopicIndex idx;
  CountingRelay relay;
  idx.set_relay(&relay);
  idx.subscribe(1, "a");
  idx.subscribe(2, "a");
  idx.subscribe(2, "b");
  EXPECT_EQ(relay.watched, (std::map<std::string, int>{{"a", 1}, {"b", 1}}));
  idx.unsubscribe(1, "a");
  EXPECT_EQ(relay.watched.count("a"), 1u);
  idx.remove(2);
  EXPECT_TRUE(relay.watched.empty());
  EXPECT_EQ(relay.misuse, 0);
}

TEST(TopicIndex, MatchesAModelUnderRandomOperations) {
  std::mt19937 rng(12345);
  TopicIndex idx;
  CountingRelay relay;
  idx.set_relay(&relay);
  std::map<std::string, std::set<TopicIndex::Slot>> model;
  const std::string topics[] = {"a", "b", "c", "d"};
  for (int step = 0; step < 20000; ++step) {
    TopicIndex::Slot slot = rng() % 64;
    const std::string& t = topics[rng() % 4];
    switch (rng() % 4) {
      case 0:
      case 1:
        EXPECT_EQ(idx.subscribe(slot, t), model[t].insert(slot).second);
        break;
      case 2:
        EXPECT_EQ(idx.unsubscribe(slot, t), model[t].erase(slot) == 1);
        break;
      case 3:
        idx.remove(slot);
        for (auto& [name, set] : model) set.erase(slot);
        break;
    }
    if (step % 97 == 0) {
      std::size_t total = 0;
      for (const std::string& name : topics) {
        ASSERT_EQ(members(idx, name), model[name]) << "step " << step << " topic " << name;
        total += model[name].size();
      }
      ASSERT_EQ(idx.subscription_count(), total);
      ASSERT_EQ(relay.misuse, 0);
      for (const std::string& name : topics) ASSERT_EQ(relay.watched.count(name), model[name].empty() ? 0u : 1u);
      for (TopicIndex::Slot s = 0; s < 64; ++s) {
        auto mine = idx.topics_of(s);
        for (const std::string& name : topics) {
          bool listed = std::find(mine.begin(), mine.end(), name) != mine.end();
          ASSERT_EQ(listed, model[name].count(s) == 1);
          ASSERT_EQ(idx.is_subscribed(s, name), listed);
        }
      }
    }
  }
}

}  // namespace
}  // namespace wirehub::fanout
