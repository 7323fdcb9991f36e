// wirehub-bench's --hub flag: which modes take it, the URL it defaults to, the frames it implies.

#include <gtest/gtest.h>

#include <vector>

#include "options.hpp"

namespace wirehub::bench {
namespace {

std::optional<int> parse(std::vector<const char*> args, Options& o) {
  args.insert(args.begin(), "wirehub-bench");
  testing::internal::CaptureStderr();  // refusals explain themselves on stderr
  auto r = parse_options(static_cast<int>(args.size()), args.data(), 20000, o);
  testing::internal::GetCapturedStderr();
  return r;
}

TEST(HubOptions, EchoAndBroadcastTalkToTheBenchHubByDefault) {
  Options o;
  ASSERT_EQ(parse({"echo", "--hub", "json"}, o), std::nullopt);
  EXPECT_EQ(o.hub, HubProtocol::Json);
  EXPECT_EQ(o.url, "ws://127.0.0.1:8080/hubs/bench");
  EXPECT_FALSE(o.binary_frames());
  ASSERT_EQ(parse({"broadcast", "--hub", "messagepack", "--subscribers", "10"}, o), std::nullopt);
  EXPECT_EQ(o.hub, HubProtocol::MessagePack);
  EXPECT_EQ(o.url, "ws://127.0.0.1:8080/hubs/bench");
  EXPECT_TRUE(o.binary_frames());
}

TEST(HubOptions, AnExplicitUrlWins) {
  Options o;
  ASSERT_EQ(parse({"echo", "--url", "ws://127.0.0.1:9001/hubs/other", "--hub", "messagepack"}, o), std::nullopt);
  EXPECT_EQ(o.url, "ws://127.0.0.1:9001/hubs/other");
  EXPECT_EQ(o.target.path, "/hubs/other");
}

TEST(HubOptions, WithoutTheFlagNothingChanges) {
  Options o;
  ASSERT_EQ(parse({"echo", "--binary"}, o), std::nullopt);
  EXPECT_EQ(o.hub, std::nullopt);
  EXPECT_EQ(o.url, "ws://127.0.0.1:8080/ws/echo");
  EXPECT_TRUE(o.binary_frames());
}

TEST(HubOptions, BadCombinationsExitWithTwo) {
  Options o;
  EXPECT_EQ(parse({"echo", "--hub", "xml"}, o), std::optional<int>(kExitUsage));
  EXPECT_EQ(parse({"echo", "--hub"}, o), std::optional<int>(kExitUsage));
  // The protocol decides the frame type.
  EXPECT_EQ(parse({"broadcast", "--hub", "json", "--binary"}, o), std::optional<int>(kExitUsage));
  EXPECT_EQ(parse({"connect", "--hub", "json"}, o), std::optional<int>(kExitUsage));
}

}  // namespace
}  // namespace wirehub::bench
