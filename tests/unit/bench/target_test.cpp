#include "target.hpp"

#include <gtest/gtest.h>

#include <string>

namespace wirehub::bench {
namespace {

TEST(Target, ParsesHostPortAndPath) {
  std::string err;
  auto t = parse_target("ws://127.0.0.1:8080/ws/echo", &err);
  ASSERT_TRUE(t) << err;
  EXPECT_EQ(t->address.port, 8080);
  EXPECT_EQ(t->host_header, "127.0.0.1:8080");
  EXPECT_EQ(t->path, "/ws/echo");
}

TEST(Target, DefaultsPortAndPath) {
  auto t = parse_target("ws://127.0.0.1", nullptr);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->address.port, 80);
  EXPECT_EQ(t->path, "/");
  t = parse_target("ws://127.0.0.1:9000?x=1", nullptr);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->path, "/?x=1");
}

TEST(Target, KeepsTheQuery) {
  auto t = parse_target("ws://127.0.0.1:1/a/b?token=x&y=2", nullptr);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->path, "/a/b?token=x&y=2");
}

TEST(Target, AcceptsEveryLoopbackForm) {
  for (const char* url : {"ws://localhost:80/", "ws://127.0.0.1/", "ws://127.1.2.3:1/", "ws://127.255.255.254:65535/",
                          "ws://[::1]:8080/", "ws://[::ffff:127.0.0.1]:8080/"}) {
    std::string err;
    EXPECT_TRUE(parse_target(url, &err)) << url << ": " << err;
  }
}

TEST(Target, RefusesNonLoopbackHosts) {
  for (const char* url : {"ws://10.0.0.1:80/", "ws://128.0.0.1/", "ws://126.255.255.255/", "ws://0.0.0.0:80/",
                          "ws://[::]:80/", "ws://[::2]:80/", "ws://[::ffff:10.0.0.1]:80/", "ws://8.8.8.8/"}) {
    std::string err;
    EXPECT_FALSE(parse_target(url, &err)) << url;
    EXPECT_NE(err.find("loopback"), std::string::npos) << url << ": " << err;
  }
}

TEST(Target, RefusesNamesItWouldHaveToResolve) {
  std::string err;
  EXPECT_FALSE(parse_target("ws://example.com/", &err));
  EXPECT_FALSE(parse_target("ws://localhost.example.com/", &err));
}

TEST(Target, WssMeansTlsOnPort443UnlessGiven) {
  std::string err;
  auto t = parse_target("wss://127.0.0.1/ws/echo", &err);
  ASSERT_TRUE(t) << err;
  EXPECT_TRUE(t->tls);
  EXPECT_EQ(t->address.port, 443);
  t = parse_target("wss://localhost:8443/", &err);
  ASSERT_TRUE(t) << err;
  EXPECT_EQ(t->address.port, 8443);
  EXPECT_FALSE(parse_target("ws://127.0.0.1/", &err)->tls);
  EXPECT_FALSE(parse_target("wss://10.0.0.1/", &err));  // loopback only, as for ws://
}

TEST(Target, RefusesMalformedUrls) {
  for (const char* url : {"", "http://127.0.0.1/", "wss:/127.0.0.1/", "ws://", "ws:///path", "ws://127.0.0.1:/",
                          "ws://127.0.0.1:0/", "ws://127.0.0.1:65536/", "ws://127.0.0.1:80x/", "ws://user@127.0.0.1/",
                          "ws://127.0.0.1/#frag", "ws://[::1/", "ws://[::1]x/"}) {
    std::string err;
    EXPECT_FALSE(parse_target(url, &err)) << url;
    EXPECT_FALSE(err.empty()) << url;
  }
}

}  // namespace
}  // namespace wirehub::bench
