#include <string>

#include <gtest/gtest.h>

#include "backplane/redis_backplane.hpp"

namespace wirehub::backplane {
namespace {

struct Good {
  const char* url;
  const char* host;
  std::uint16_t port;
  const char* user;
  const char* password;
  int db;
};

TEST(RedisUrl, GoodUrls) {
  const Good cases[] = {
      {"redis://localhost", "localhost", 6379, "", "", 0},
      {"redis://127.0.0.1:6380", "127.0.0.1", 6380, "", "", 0},
      {"REDIS://cache.internal:7000/", "cache.internal", 7000, "", "", 0},
      {"redis://h/5", "h", 6379, "", "", 5},
      {"redis://:s3cret@h:1/2", "h", 1, "", "s3cret", 2},
      {"redis://alice:pw@h", "h", 6379, "alice", "pw", 0},
      {"redis://:p%40ss%2Fw%3Ard@h", "h", 6379, "", "p@ss/w:rd", 0},
      {"redis://:p@ss@h", "h", 6379, "", "p@ss", 0},  // the last '@' ends the password
      {"redis://[::1]", "::1", 6379, "", "", 0},
      {"redis://[::1]:6390/3", "::1", 6390, "", "", 3},
      {"redis://u:p@[fe80::1]:65535/0", "fe80::1", 65535, "u", "p", 0},
  };
  for (const Good& c : cases) {
    SCOPED_TRACE(c.url);
    const RedisUrl r = parse_redis_url(c.url);
    ASSERT_EQ(r.error, "");
    EXPECT_EQ(r.options.host, c.host);
    EXPECT_EQ(r.options.port, c.port);
    EXPECT_EQ(r.options.user, c.user);
    EXPECT_EQ(r.options.password, c.password);
    EXPECT_EQ(r.options.db, c.db);
    EXPECT_EQ(r.options.channel_prefix, "wirehub:");  // untouched defaults
    EXPECT_EQ(r.options.buffer_max_messages, 100'000u);
  }
}

TEST(RedisUrl, BadUrlsSayWhy) {
  const std::pair<const char*, const char*> cases[] = {
      {"rediss://h", "TLS"},
      {"http://h", "expected redis://"},
      {"h:6379", "expected redis://"},
      {"redis://", "missing host"},
      {"redis://:6379", "missing host"},
      {"redis://h:0", "port must be a number from 1 to 65535"},
      {"redis://h:65536", "port must be a number from 1 to 65535"},
      {"redis://h:-1", "port must be"},
      {"redis://h:63x", "port must be"},
      {"redis://h:", "port must be"},
      {"redis://h/x", "database must be a number"},
      {"redis://h/-1", "database must be a number"},
      {"redis://h/1/2", "database must be a number"},
      {"redis://h?db=1", "query"},
      {"redis://pw@h", "needs ':'"},
      {"redis://u:@h", "empty password"},
      {"redis://:%zz@h", "%-escape"},
      {"redis://:%4@h", "%-escape"},
      {"redis://[::1", "closing ']'"},
      {"redis://[::1]x", "after the IPv6"},
      {"redis://[host]", "IPv6 addresses only"},
      {"redis://h st", "bad character in host"},
  };
  for (const auto& [url, why] : cases) {
    SCOPED_TRACE(url);
    const RedisUrl r = parse_redis_url(url);
    EXPECT_NE(r.error.find(why), std::string::npos) << r.error;
    if (std::string_view(url).find('@') == std::string_view::npos) {
      EXPECT_NE(r.error.find(url), std::string::npos) << "the message names the URL: " << r.error;
    }
  }
}

TEST(RedisUrl, ErrorsNeverShowThePassword) {
  const RedisUrl r = parse_redis_url("redis://alice:hunter2@h:99999");
  EXPECT_NE(r.error.find("'redis://***@h:99999'"), std::string::npos) << r.error;
  EXPECT_EQ(r.error.find("hunter2"), std::string::npos) << r.error;
}

}  // namespace
}  // namespace wirehub::backplane
