#include "options.hpp"
#include "worker.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace wirehub::bench {
namespace {

std::optional<int> parse(std::vector<const char*> args, Options& o, std::size_t fd_limit = 20000) {
  args.insert(args.begin(), "wirehub-bench");
  // Refusals explain themselves on stderr; keep the test log clean.
  testing::internal::CaptureStderr();
  auto r = parse_options(static_cast<int>(args.size()), args.data(), fd_limit, o);
  testing::internal::GetCapturedStderr();
  return r;
}

TEST(Options, EchoDefaults) {
  Options o;
  ASSERT_EQ(parse({"echo"}, o), std::nullopt);
  EXPECT_EQ(o.mode, Mode::Echo);
  EXPECT_EQ(o.url, "ws://127.0.0.1:8080/ws/echo");
  EXPECT_EQ(o.connections, 100u);
  EXPECT_EQ(o.inflight, 1u);
  EXPECT_EQ(o.size, 32u);
  EXPECT_EQ(o.threads, 1u);
  EXPECT_FALSE(o.json);
}

TEST(Options, BroadcastAndConnect) {
  Options o;
  ASSERT_EQ(parse({"broadcast", "--subscribers", "50", "--window", "4", "--json"}, o), std::nullopt);
  EXPECT_EQ(o.mode, Mode::Broadcast);
  EXPECT_EQ(o.url, "ws://127.0.0.1:8080/ws/broadcast");
  EXPECT_EQ(o.total_connections(), 51u);
  EXPECT_TRUE(o.json);
  ASSERT_EQ(parse({"connect", "--connections", "10000", "--source-ips", "8", "--hold", "1", "--rate", "500"}, o),
            std::nullopt);
  EXPECT_EQ(o.mode, Mode::Connect);
  EXPECT_EQ(o.source_ips, 8u);
  EXPECT_EQ(o.rate, 500.0);
}

TEST(Options, BroadcastSpreadsSubscribersOverMoreNodes) {
  Options o;
  ASSERT_EQ(parse({"broadcast", "--url", "ws://127.0.0.1:9001/ws/broadcast", "--also-url",
                   "ws://127.0.0.1:9002/ws/broadcast", "--also-url", "ws://127.0.0.2:9003/x"},
                  o),
            std::nullopt);
  ASSERT_EQ(o.more_targets.size(), 2u);
  EXPECT_EQ(o.more_targets[0].address.port, 9002);
  EXPECT_EQ(o.more_targets[1].path, "/x");
  WorkerConfig c;
  c.target = o.target;
  c.more_targets = o.more_targets;
  // Connection 0 (the publisher) and every third one to --url, the others in turn.
  EXPECT_EQ(c.target_for(0).address.port, 9001);
  EXPECT_EQ(c.target_for(1).address.port, 9002);
  EXPECT_EQ(c.target_for(2).address.port, 9003);
  EXPECT_EQ(c.target_for(3).address.port, 9001);
  EXPECT_EQ(parse({"broadcast", "--also-url", "ws://192.168.1.1:80/"}, o), std::optional<int>(kExitUsage));
  EXPECT_EQ(parse({"broadcast", "--also-url", "wss://127.0.0.1:80/"}, o), std::optional<int>(kExitUsage));
}

TEST(Options, NonLoopbackTargetsExitWithTwo) {
  Options o;
  EXPECT_EQ(parse({"echo", "--url", "ws://192.168.1.1:8080/ws/echo"}, o), std::optional<int>(kExitUsage));
  EXPECT_EQ(parse({"connect", "--url", "ws://example.com/"}, o), std::optional<int>(kExitUsage));
}

TEST(Options, BadFlagsExitWithTwo) {
  Options o;
  EXPECT_EQ(parse({}, o), std::optional<int>(kExitUsage));
  EXPECT_EQ(parse({"echo", "--bogus"}, o), std::optional<int>(kExitUsage));
  EXPECT_EQ(parse({"echo", "--connections", "0"}, o), std::optional<int>(kExitUsage));
  EXPECT_EQ(parse({"echo", "--threads", "x"}, o), std::optional<int>(kExitUsage));
  EXPECT_EQ(parse({"broadcast", "--size", "4"}, o), std::optional<int>(kExitUsage));
  EXPECT_EQ(parse({"echo", "--duration", "0"}, o), std::optional<int>(kExitUsage));
  EXPECT_EQ(parse({"connect", "--url", "ws://[::1]:80/", "--source-ips", "2"}, o), std::optional<int>(kExitUsage));
}

TEST(Options, MoreConnectionsThanDescriptorsExitWithTwo) {
  Options o;
  EXPECT_EQ(parse({"connect", "--connections", "30000"}, o, 20000), std::optional<int>(kExitUsage));
  EXPECT_EQ(parse({"connect", "--connections", "19000"}, o, 20000), std::nullopt);
}

TEST(Options, HelpExitsWithZero) {
  Options o;
  testing::internal::CaptureStdout();
  EXPECT_EQ(parse({"echo", "--help"}, o), std::optional<int>(kExitOk));
  testing::internal::GetCapturedStdout();
}

}  // namespace
}  // namespace wirehub::bench
