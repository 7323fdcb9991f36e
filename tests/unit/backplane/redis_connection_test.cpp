// RedisConnection against a real redis-server: replies, pipelining, AUTH/SELECT, pub/sub
// pushes, and every way a connection ends (refused, connect timeout, command timeout,
// server killed) with its reason.
#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "redis_test_support.hpp"

namespace wirehub::backplane {
namespace {

using test::RedisClient;
using test::RedisServer;
using test::wait_until;
using Type = RedisValue::Type;

// A RedisConnection on a loop thread, with everything its handlers saw recorded.
class Probe {
 public:
  explicit Probe(RedisEndpoint ep) {
    thread_ = std::thread([this] { loop_.run(); });
    on_loop([&] {
      conn_ = std::make_unique<RedisConnection>(loop_, std::move(ep));
      conn_->set_handlers(
          [this] {
            std::lock_guard l(mu_);
            ++ups_;
          },
          [this](std::string_view why) {
            std::lock_guard l(mu_);
            downs_.emplace_back(why);
          },
          [this](const RedisPush& p) {
            std::lock_guard l(mu_);
            const char* kind = p.kind == RedisPush::Kind::Message     ? "message"
                               : p.kind == RedisPush::Kind::Subscribe ? "subscribe"
                                                                      : "unsubscribe";
            pushes_.push_back(std::string(kind) + " " + std::string(p.channel) + " " +
                              (p.kind == RedisPush::Kind::Message ? std::string(p.payload) : std::to_string(p.count)));
          });
      conn_->connect();
    });
  }
  ~Probe() {
    on_loop([&] { conn_.reset(); });
    loop_.stop();
    thread_.join();
  }

  template <class F>
  void on_loop(F f) {
    test::run_on(loop_, f);
  }

  // Sends a command from the loop; the reply (or "lost") is appended to replies().
  void send(std::vector<std::string> args) {
    on_loop([&] {
      const std::vector<std::string_view> argv(args.begin(), args.end());
      const bool ok = conn_->command(argv, [this](const RedisValue* r) {
        std::lock_guard l(mu_);
        replies_.push_back(r ? std::optional<RedisValue>(*r) : std::nullopt);
      });
      std::lock_guard l(mu_);
      if (!ok) ++rejected_;
    });
  }

  int ups() {
    std::lock_guard l(mu_);
    return ups_;
  }
  std::vector<std::string> downs() {
    std::lock_guard l(mu_);
    return downs_;
  }
  std::vector<std::optional<RedisValue>> replies() {
    std::lock_guard l(mu_);
    return replies_;
  }
  std::vector<std::string> pushes() {
    std::lock_guard l(mu_);
    return pushes_;
  }
  int rejected() {
    std::lock_guard l(mu_);
    return rejected_;
  }
  RedisConnection& conn() { return *conn_; }

 private:
  loop::EventLoop loop_;
  std::unique_ptr<RedisConnection> conn_;
  std::mutex mu_;
  int ups_ = 0;
  int rejected_ = 0;
  std::vector<std::string> downs_;
  std::vector<std::optional<RedisValue>> replies_;
  std::vector<std::string> pushes_;
  std::thread thread_;
};

class RedisConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(redis_.start()) << redis_.error(); }
  RedisEndpoint ep() const { return test::endpoint_of(redis_); }
  RedisServer redis_;
};

TEST_F(RedisConnectionTest, RepliesAreConvertedToOurValues) {
  Probe p(ep());
  ASSERT_TRUE(wait_until([&] { return p.ups() == 1; }));
  p.send({"SET", "k", std::string("v\0w", 3)});
  p.send({"GET", "k"});
  p.send({"GET", "missing"});
  p.send({"RPUSH", "l", "a", "b"});
  p.send({"LRANGE", "l", "0", "-1"});
  p.send({"NOSUCHCOMMAND"});
  ASSERT_TRUE(wait_until([&] { return p.replies().size() == 6; }));
  const auto r = p.replies();
  for (const auto& v : r) ASSERT_TRUE(v.has_value());
  EXPECT_EQ(r[0]->type, Type::Status);
  EXPECT_EQ(r[0]->str, "OK");
  EXPECT_EQ(r[1]->type, Type::String);
  EXPECT_EQ(r[1]->str, std::string("v\0w", 3));  // binary-safe both ways
  EXPECT_EQ(r[2]->type, Type::Nil);
  EXPECT_EQ(r[3]->type, Type::Integer);
  EXPECT_EQ(r[3]->integer, 2);
  ASSERT_EQ(r[4]->type, Type::Array);
  ASSERT_EQ(r[4]->elements.size(), 2u);
  EXPECT_EQ(r[4]->elements[1].str, "b");
  EXPECT_TRUE(r[5]->is_error());
  EXPECT_NE(r[5]->str.find("unknown command"), std::string::npos) << r[5]->str;
  EXPECT_TRUE(p.downs().empty());
}

TEST_F(RedisConnectionTest, PipelinedRepliesKeepCommandOrder) {
  Probe p(ep());
  ASSERT_TRUE(wait_until([&] { return p.ups() == 1; }));
  p.on_loop([&] {
    for (int i = 0; i < 2000; ++i) p.conn().command({"INCR", "n"}, [](const RedisValue*) {});
    EXPECT_EQ(p.conn().pending(), 2000u);  // all queued in this iteration, none answered yet
  });
  p.send({"GET", "n"});
  ASSERT_TRUE(wait_until([&] { return p.replies().size() == 1; }));
  EXPECT_EQ(p.replies()[0]->str, "2000");
}

TEST_F(RedisConnectionTest, CommandsBeforeReadyAreRefusedAndNeverAnswered) {
  RedisEndpoint e = ep();
  e.port = test::free_port();  // nobody there
  Probe p(e);
  ASSERT_TRUE(wait_until([&] { return !p.downs().empty(); }));
  p.send({"PING"});
  EXPECT_EQ(p.rejected(), 1);
  EXPECT_TRUE(p.replies().empty());
  EXPECT_NE(p.downs()[0].find("refused"), std::string::npos) << p.downs()[0];
  EXPECT_EQ(p.ups(), 0);
}

TEST_F(RedisConnectionTest, SelectAndClientName) {
  RedisEndpoint e = ep();
  e.db = 3;
  e.client_name = "probe-1";
  Probe p(e);
  ASSERT_TRUE(wait_until([&] { return p.ups() == 1; }));
  p.send({"SET", "only-in-3", "x"});
  p.send({"CLIENT", "GETNAME"});
  ASSERT_TRUE(wait_until([&] { return p.replies().size() == 2; }));
  EXPECT_EQ(p.replies()[1]->str, "probe-1");
  RedisClient db0(ep());
  ASSERT_TRUE(db0.wait_up());
  EXPECT_EQ(db0.call({"EXISTS", "only-in-3"})->integer, 0);
  EXPECT_EQ(db0.call({"SELECT", "3"})->str, "OK");
  EXPECT_EQ(db0.call({"EXISTS", "only-in-3"})->integer, 1);
}

TEST_F(RedisConnectionTest, BadDatabaseIsADownWithRedisReason) {
  RedisEndpoint e = ep();
  e.db = 999;  // the server has 16
  Probe p(e);
  ASSERT_TRUE(wait_until([&] { return !p.downs().empty(); }));
  EXPECT_EQ(p.ups(), 0);
  EXPECT_NE(p.downs()[0].find("SELECT failed"), std::string::npos) << p.downs()[0];
  EXPECT_NE(p.downs()[0].find("out of range"), std::string::npos) << p.downs()[0];
  EXPECT_TRUE(p.conn().idle());
}

TEST_F(RedisConnectionTest, SubscribePushesConfirmationsAndMessages) {
  Probe p(ep());
  ASSERT_TRUE(wait_until([&] { return p.ups() == 1; }));
  p.on_loop([&] { EXPECT_TRUE(p.conn().subscribe("ch")); });
  ASSERT_TRUE(wait_until([&] { return p.pushes().size() == 1; }));
  RedisClient other(ep());
  ASSERT_TRUE(other.wait_up());
  EXPECT_EQ(other.call({"PUBLISH", "ch", "hello"})->integer, 1);
  EXPECT_EQ(other.call({"PUBLISH", "elsewhere", "x"})->integer, 0);
  p.on_loop([&] { EXPECT_TRUE(p.conn().unsubscribe("ch")); });
  ASSERT_TRUE(wait_until([&] { return p.pushes().size() == 3; }));
  EXPECT_EQ(p.pushes(), (std::vector<std::string>{"subscribe ch 1", "message ch hello", "unsubscribe ch 0"}));
  EXPECT_EQ(p.conn().pending(), 0u);
}

TEST_F(RedisConnectionTest, KilledServerFailsPendingCommandsThenReportsDown) {
  Probe p(ep());
  ASSERT_TRUE(wait_until([&] { return p.ups() == 1; }));
  redis_.pause();  // so the command below is surely unanswered when the server dies
  p.send({"PING"});
  redis_.kill();
  ASSERT_TRUE(wait_until([&] { return !p.downs().empty(); }));
  ASSERT_EQ(p.replies().size(), 1u);
  EXPECT_FALSE(p.replies()[0].has_value());  // the handler ran once, with no reply
  EXPECT_EQ(p.downs().size(), 1u);
  // It can connect again once the server is back.
  ASSERT_TRUE(redis_.start()) << redis_.error();
  p.on_loop([&] { p.conn().connect(); });
  ASSERT_TRUE(wait_until([&] { return p.ups() == 2; }));
}

TEST_F(RedisConnectionTest, UnansweredCommandTimesOut) {
  RedisEndpoint e = ep();
  e.command_timeout_ms = 150;
  Probe p(e);
  ASSERT_TRUE(wait_until([&] { return p.ups() == 1; }));
  redis_.pause();
  const auto t0 = std::chrono::steady_clock::now();
  p.send({"PING"});
  ASSERT_TRUE(wait_until([&] { return !p.downs().empty(); }));
  const auto took = std::chrono::steady_clock::now() - t0;
  redis_.resume();
  EXPECT_NE(p.downs()[0].find("no reply within 150 ms"), std::string::npos) << p.downs()[0];
  EXPECT_GE(took, std::chrono::milliseconds(140));
  ASSERT_EQ(p.replies().size(), 1u);
  EXPECT_FALSE(p.replies()[0].has_value());
}

TEST(RedisConnection, ConnectTimeoutCoversTheHandshake) {
  // A listener that never accepts: the kernel completes TCP, nobody answers the PING.
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 8), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const int fds_before = test::open_fd_count();
  {
    RedisEndpoint e;
    e.port = ntohs(a.sin_port);
    e.connect_timeout_ms = 100;
    Probe p(e);
    ASSERT_TRUE(wait_until([&] { return !p.downs().empty(); }));
    EXPECT_EQ(p.downs()[0], "connect timeout (100 ms)");
    EXPECT_EQ(p.ups(), 0);
  }
  EXPECT_EQ(test::open_fd_count(), fds_before);
  ::close(fd);
}

}  // namespace
}  // namespace wirehub::backplane
