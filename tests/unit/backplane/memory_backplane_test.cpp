#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "backplane/backplane.hpp"

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

}  // namespace
}  // namespace wirehub::backplane
