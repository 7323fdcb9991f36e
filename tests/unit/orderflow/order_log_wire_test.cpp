// The shared order log's wire: the commands, the reply parsing (pure), and the append
// and age scripts run by a real redis-server of the test's own.

#include "orderflow/order_log_wire.hpp"

#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <limits>

#include "backplane/redis_test_support.hpp"

namespace wirehub::orderflow {
namespace {

using backplane::RedisValue;
using T = RedisValue::Type;

RedisValue str(std::string s, T type = T::String) {
  RedisValue v;
  v.type = type;
  v.str = std::move(s);
  return v;
}

RedisValue arr(std::vector<RedisValue> elements) {
  RedisValue v;
  v.type = T::Array;
  v.elements = std::move(elements);
  return v;
}

RedisValue entry(std::string id, std::vector<std::string> fields) {
  std::vector<RedisValue> f;
  for (auto& s : fields) f.push_back(str(std::move(s)));
  return arr({str(std::move(id)), arr(std::move(f))});
}

RedisValue xread(std::vector<RedisValue> entries) {
  return arr({arr({str("wirehub:orderflow:log"), arr(std::move(entries))})});
}

store::StoredOrder order(std::string id, double total = 12.5, std::string items = R"([{"sku":"A"}])") {
  store::StoredOrder o;
  o.order_id = std::move(id);
  o.customer_id = "cust";
  o.total = total;
  o.items_json = std::move(items);
  o.created_at = "2026-01-31T12:00:00.123Z";
  return o;
}

TEST(OrderLogWire, KeysHangOffThePrefix) {
  const LogKeys k = LogKeys::with_prefix("p:");
  EXPECT_EQ(k.seq, "p:seq");
  EXPECT_EQ(k.stream, "p:log");
  EXPECT_EQ(k.id_prefix, "p:id:");
  EXPECT_EQ(k.times, "p:times");
}

TEST(OrderLogWire, ReadCommandReadsAfterTheReplicasSeq) {
  EXPECT_EQ(read_command(LogKeys::with_prefix("p:"), 41, 100, 500),
            (std::vector<std::string>{"XREAD", "COUNT", "100", "BLOCK", "500", "STREAMS", "p:log", "41-0"}));
}

TEST(OrderLogWire, AppendCommandCarriesTheOrderAndTheLimits) {
  const auto argv = append_command("abc", LogKeys::with_prefix("p:"), order("o-1", 0.1, ""), 7, {.max_len = 50, .dedupe_ttl_s = 60});
  EXPECT_EQ(argv, (std::vector<std::string>{"EVALSHA", "abc", "3", "p:seq", "p:log", "p:id:o-1", "7", "50", "60",
                                            "o-1", "cust", "0.1", "", "2026-01-31T12:00:00.123Z"}));
}

TEST(OrderLogWire, TotalsTravelAsTextThatReadsBackExactly) {
  for (double d : {0.0, 0.1, 12.5, 1e300, 123456789.123456789, std::numeric_limits<double>::denorm_min()}) {
    const std::string t = total_text(d);
    double back = -1;
    std::from_chars(t.data(), t.data() + t.size(), back);
    EXPECT_EQ(back, d) << t;
  }
}

TEST(OrderLogWire, AnXreadReplyGivesTheOrdersOldestFirst) {
  auto r = parse_read_reply(xread({
      entry("7-0", {"id", "a", "customer", "c1", "total", "1.5", "items", "[1]", "createdAt", "t1"}),
      entry("8-0", {"id", "b", "customer", "c2", "total", "0", "items", "", "createdAt", "t2", "extra", "x"}),
  }));
  ASSERT_TRUE(std::holds_alternative<std::vector<store::StoredOrder>>(r)) << std::get<std::string>(r);
  const auto& v = std::get<std::vector<store::StoredOrder>>(r);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0], (store::StoredOrder{7, "a", "c1", 1.5, "[1]", "t1"}));
  EXPECT_EQ(v[1], (store::StoredOrder{8, "b", "c2", 0, "", "t2"}));
}

TEST(OrderLogWire, ABlockThatTimedOutIsNoEntries) {
  auto r = parse_read_reply(RedisValue{});
  ASSERT_TRUE(std::holds_alternative<std::vector<store::StoredOrder>>(r));
  EXPECT_TRUE(std::get<std::vector<store::StoredOrder>>(r).empty());
}

TEST(OrderLogWire, MalformedXreadRepliesAreRefusedWithAReason) {
  const std::vector<std::string> good = {"id", "a", "customer", "c", "total", "1", "createdAt", "t"};
  const std::vector<std::pair<RedisValue, std::string>> cases = {
      {str("WRONGTYPE Operation against a key", T::Error), "WRONGTYPE"},
      {str("OK", T::Status), "one stream"},
      {arr({}), "one stream"},
      {arr({arr({str("k")})}), "entry list"},
      {xread({str("x")}), "[id, fields]"},
      {xread({entry("7-1", good)}), "is not <seq>-0"},
      {xread({entry("1700000000000-0x", good)}), "is not <seq>-0"},
      {xread({entry("0-0", good)}), "is not <seq>-0"},
      {xread({entry("-0", good)}), "is not <seq>-0"},
      {xread({entry("7-0", {"id", "a", "customer", "c", "createdAt", "t"})}), "lacks"},
      {xread({entry("7-0", {"id", "", "customer", "c", "total", "1", "createdAt", "t"})}), "lacks"},
      {xread({entry("7-0", {"id", "a", "customer", "c", "total", "1x", "createdAt", "t"})}), "not a number"},
      {xread({entry("7-0", {"id", "a", "customer", "c", "total", "inf", "createdAt", "t"})}), "not a number"},
  };
  for (const auto& [reply, reason] : cases) {
    auto r = parse_read_reply(reply);
    ASSERT_TRUE(std::holds_alternative<std::string>(r)) << reason;
    EXPECT_NE(std::get<std::string>(r).find(reason), std::string::npos) << std::get<std::string>(r);
  }
}

TEST(OrderLogWire, AppendRepliesAreASeqOrAReason) {
  RedisValue seq;
  seq.type = T::Integer;
  seq.integer = 42;
  EXPECT_EQ(std::get<std::int64_t>(parse_append_reply(seq)), 42);
  EXPECT_EQ(std::get<std::string>(parse_append_reply(str("NOSCRIPT No matching script", T::Error))),
            "NOSCRIPT No matching script");
  seq.integer = 0;
  EXPECT_TRUE(std::holds_alternative<std::string>(parse_append_reply(seq)));
  EXPECT_TRUE(std::holds_alternative<std::string>(parse_append_reply(RedisValue{})));
}

// The script on a real Redis: what every node runs to append.
class AppendScript : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(redis_.start()) << redis_.error();
    client_ = std::make_unique<test::RedisClient>(test::endpoint_of(redis_));
    ASSERT_TRUE(client_->wait_up());
    auto sha = client_->call({"SCRIPT", "LOAD", std::string(kAppendScript)});
    ASSERT_TRUE(sha && sha->type == T::String) << (sha ? sha->str : "no reply");
    sha_ = sha->str;
  }

  std::variant<std::int64_t, std::string> append(const store::StoredOrder& o, std::int64_t floor = 0,
                                                 AppendLimits limits = {}) {
    auto reply = client_->call(append_command(sha_, keys_, o, floor, limits));
    if (!reply) return std::string("no reply");
    return parse_append_reply(*reply);
  }
  std::vector<store::StoredOrder> read_after(std::int64_t after) {
    auto reply = client_->call(read_command(keys_, after, 1000, 1));
    EXPECT_TRUE(reply);
    auto r = parse_read_reply(*reply);
    EXPECT_TRUE(std::holds_alternative<std::vector<store::StoredOrder>>(r)) << std::get<std::string>(r);
    return std::get<std::vector<store::StoredOrder>>(r);
  }

  test::RedisServer redis_;
  std::unique_ptr<test::RedisClient> client_;
  std::string sha_;
  LogKeys keys_ = LogKeys::with_prefix("wirehub:orderflow:");
};

TEST_F(AppendScript, SeqsCountFromOneAndEntriesReadBackAsAppended) {
  std::vector<store::StoredOrder> sent = {order("a"), order("b", 0.1, ""), order("c", 3)};
  for (std::size_t i = 0; i < sent.size(); ++i) {
    EXPECT_EQ(std::get<std::int64_t>(append(sent[i])), static_cast<std::int64_t>(i + 1));
    sent[i].seq = static_cast<std::int64_t>(i + 1);
  }
  EXPECT_EQ(read_after(0), sent);
  EXPECT_EQ(read_after(2), std::vector<store::StoredOrder>{sent[2]});
  EXPECT_TRUE(read_after(3).empty());
}

TEST_F(AppendScript, AnOrderSentAgainKeepsItsSeqAndMakesNoSecondEntry) {
  EXPECT_EQ(std::get<std::int64_t>(append(order("a"))), 1);
  EXPECT_EQ(std::get<std::int64_t>(append(order("b"))), 2);
  EXPECT_EQ(std::get<std::int64_t>(append(order("a"))), 1);
  EXPECT_EQ(std::get<std::int64_t>(append(order("c"))), 3);
  EXPECT_EQ(read_after(0).size(), 3u);
  auto ttl = client_->call({"TTL", "wirehub:orderflow:id:a"});
  ASSERT_TRUE(ttl);
  EXPECT_GT(ttl->integer, 0);
  EXPECT_LE(ttl->integer, 86'400);
}

TEST_F(AppendScript, TheFloorKeepsARestartedRedisFromReusingSeqsAReplicaHolds) {
  // An empty Redis (restarted without its data) and a replica at seq 40.
  EXPECT_EQ(std::get<std::int64_t>(append(order("a"), 40)), 41);
  EXPECT_EQ(std::get<std::int64_t>(append(order("b"), 3)), 42);
  EXPECT_EQ(read_after(40).front().seq, 41);
}

TEST_F(AppendScript, ALostCounterContinuesAfterTheNewestEntry) {
  append(order("a"));
  append(order("b"));
  client_->call({"DEL", keys_.seq});
  EXPECT_EQ(std::get<std::int64_t>(append(order("c"))), 3);
}

TEST_F(AppendScript, TheStreamIsCappedAtAboutMaxLen) {
  for (int i = 0; i < 500; ++i) append(order("o" + std::to_string(i)), 0, {.max_len = 10, .dedupe_ttl_s = 60});
  auto len = client_->call({"XLEN", keys_.stream});
  ASSERT_TRUE(len);
  EXPECT_LT(len->integer, 500);  // approximate trimming drops whole nodes (100 entries by default)
  EXPECT_GE(len->integer, 10);
  const auto rest = read_after(0);
  EXPECT_GT(rest.front().seq, 1);  // the oldest are gone: a replica this far behind has a gap
  EXPECT_EQ(rest.back().seq, 500);
}

// The age script with marks made as if written earlier (scores are Redis ms): no waiting.
class AgeScript : public AppendScript {
 protected:
  std::int64_t redis_now_ms() {
    auto t = client_->call({"TIME"});
    EXPECT_TRUE(t && t->elements.size() == 2);
    return std::stoll(t->elements[0].str) * 1000 + std::stoll(t->elements[1].str) / 1000;
  }
  long long age(std::uint64_t max_age_ms, std::uint64_t mark_every_ms = 1000) {
    auto r = client_->call(age_command(keys_, max_age_ms, mark_every_ms));
    EXPECT_TRUE(r && r->type == T::Integer) << (r ? r->str : "no reply");
    return r ? r->integer : -1;
  }
  // The marks, oldest first, as "seq@age-in-seconds" (rounded down) from now.
  std::vector<std::string> marks(std::int64_t now) {
    auto r = client_->call({"ZRANGE", keys_.times, "0", "-1", "WITHSCORES"});
    std::vector<std::string> out;
    for (std::size_t i = 0; r && i + 1 < r->elements.size(); i += 2) {
      out.push_back(r->elements[i].str + "@" + std::to_string((now - std::stoll(r->elements[i + 1].str)) / 1000));
    }
    return out;
  }
  std::int64_t oldest() {
    const auto rest = read_after(0);
    return rest.empty() ? 0 : rest.front().seq;
  }
};

TEST_F(AgeScript, EntriesBelowTheNewestMarkOlderThanTheBoundAreTrimmed) {
  for (int i = 0; i < 10; ++i) append(order("o" + std::to_string(i)));
  const std::int64_t now = redis_now_ms();
  // Seqs 1..3 were appended more than 10 s ago, 4..7 more than 5 s ago.
  client_->call({"ZADD", keys_.times, std::to_string(now - 10'000), "4", std::to_string(now - 5'000), "8"});
  EXPECT_EQ(age(60'000), 0);  // nothing that old
  EXPECT_EQ(oldest(), 1);
  EXPECT_EQ(age(7'000), 3);   // 1..3
  EXPECT_EQ(oldest(), 4);
  EXPECT_EQ(marks(now), (std::vector<std::string>{"4@10", "8@5", "11@0"}));  // and a mark for now
  EXPECT_EQ(age(3'000), 4);   // 4..7; the marks before the cut go
  EXPECT_EQ(oldest(), 8);
  EXPECT_EQ(marks(now), (std::vector<std::string>{"8@5", "11@0"}));
  EXPECT_EQ(read_after(0).back().seq, 10);
  // Appends go on from the counter, whatever was trimmed.
  EXPECT_EQ(std::get<std::int64_t>(append(order("next"))), 11);
}

TEST_F(AgeScript, AMarkIsAddedAtMostOncePerIntervalAndOnlyAfterAnAppend) {
  const std::int64_t now = redis_now_ms();
  EXPECT_EQ(age(1'000), 0);
  EXPECT_EQ(marks(now), (std::vector<std::string>{"1@0"}));  // the empty log: below seq 1
  append(order("a"));
  EXPECT_EQ(age(1'000, 60'000), 0);
  EXPECT_EQ(marks(now).size(), 1u);  // the interval has not passed
  EXPECT_EQ(age(1'000, 0), 0);
  EXPECT_EQ(marks(now), (std::vector<std::string>{"1@0", "2@0"}));
  // Nothing appended since: the newest mark keeps its time, however old (an idle log ages).
  client_->call({"ZADD", keys_.times, "XX", std::to_string(now - 6'000), "1", std::to_string(now - 5'000), "2"});
  EXPECT_EQ(age(60'000, 0), 0);
  EXPECT_EQ(marks(now), (std::vector<std::string>{"1@6", "2@5"}));
}

TEST_F(AgeScript, AnEmptiedStreamStillContinuesTheSeqs) {
  for (int i = 0; i < 3; ++i) append(order("o" + std::to_string(i)));
  const std::int64_t now = redis_now_ms();
  client_->call({"ZADD", keys_.times, std::to_string(now - 10'000), "4"});
  EXPECT_EQ(age(5'000), 3);
  EXPECT_TRUE(read_after(0).empty());
  EXPECT_EQ(std::get<std::int64_t>(append(order("d"))), 4);
}

TEST_F(AppendScript, AFlushedScriptIsNoscript) {
  client_->call({"SCRIPT", "FLUSH"});
  auto r = append(order("a"));
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_EQ(std::get<std::string>(r).rfind("NOSCRIPT", 0), 0u) << std::get<std::string>(r);
}

}  // namespace
}  // namespace wirehub::orderflow
