#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "backplane/backplane.hpp"

namespace wirehub::backplane {
namespace {

using Got = std::vector<std::pair<std::string, std::string>>;

std::unique_ptr<Backplane> started(Got& got) {
  auto bp = make_local_backplane();
  bp->set_handlers([&got](std::string_view c, std::string_view p) { got.emplace_back(c, p); });
  bp->start();
  return bp;
}

TEST(LocalBackplane, DeliversOnlySubscribedChannelsInOrder) {
  Got got;
  auto bp = started(got);
  bool active = false;
  bp->subscribe("a", [&] { active = true; });
  EXPECT_TRUE(active);
  EXPECT_EQ(bp->publish("a", "1"), PublishResult::Sent);
  EXPECT_EQ(bp->publish("b", "x"), PublishResult::Sent);
  EXPECT_EQ(bp->publish("a", "2"), PublishResult::Sent);
  EXPECT_EQ(got, (Got{{"a", "1"}, {"a", "2"}}));
  Stats s = bp->stats();
  EXPECT_EQ(s.published, 3u);
  EXPECT_EQ(s.delivered, 2u);
  EXPECT_EQ(s.channels, 1u);
  EXPECT_EQ(s.state, State::Up);
  EXPECT_EQ(bp->kind(), "local");
}

TEST(LocalBackplane, SubscriptionsAreCounted) {
  Got got;
  auto bp = started(got);
  bp->subscribe("a");
  bp->subscribe("a");
  bp->unsubscribe("a");
  bp->publish("a", "still");
  bp->unsubscribe("a");
  bp->publish("a", "gone");
  bp->unsubscribe("a");  // one too many: ignored
  bp->subscribe("a");
  bp->publish("a", "back");
  EXPECT_EQ(got, (Got{{"a", "still"}, {"a", "back"}}));
}

TEST(LocalBackplane, StartReportsUp) {
  auto bp = make_local_backplane();
  std::vector<State> states;
  bp->set_handlers([](std::string_view, std::string_view) {}, [&](State s) { states.push_back(s); });
  bp->start();
  EXPECT_EQ(states, std::vector<State>{State::Up});
}

}  // namespace
}  // namespace wirehub::backplane
