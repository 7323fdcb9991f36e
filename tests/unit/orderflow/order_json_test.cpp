#include "orderflow/order_json.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace wirehub::orderflow {
namespace {

using nlohmann::json;

TEST(OrderJson, JsonMediaTypes) {
  for (const char* ok : {"application/json", "application/json; charset=utf-8", "Application/JSON",
                         " application/json ;charset=UTF-8", "application/problem+json", "application/vnd.x+json"}) {
    EXPECT_TRUE(is_json_media_type(ok)) << ok;
  }
  for (const char* bad : {"", "text/plain", "application/x-www-form-urlencoded", "json", "application/",
                          "application/jsonx", "text/json", "application/+json", "multipart/form-data"}) {
    EXPECT_FALSE(is_json_media_type(bad)) << bad;
  }
}

TEST(OrderJson, AValidOrderIsParsed) {
  auto r = parse_new_order(R"({"customerId":"c-1","total":12.5,"items":[{"sku":"A","qty":2}],"note":"ignored"})");
  ASSERT_TRUE(std::holds_alternative<store::NewOrder>(r));
  const auto& o = std::get<store::NewOrder>(r);
  EXPECT_EQ(o.customer_id, "c-1");
  EXPECT_EQ(o.total, 12.5);
  EXPECT_EQ(json::parse(o.items_json), json::parse(R"([{"sku":"A","qty":2}])"));

  auto bare = parse_new_order(R"({"customerId":"c","total":0})");
  ASSERT_TRUE(std::holds_alternative<store::NewOrder>(bare));
  EXPECT_EQ(std::get<store::NewOrder>(bare).items_json, "");  // no items: nothing stored
  auto negative_zero = parse_new_order(R"({"customerId":"c","total":-0.0})");
  ASSERT_TRUE(std::holds_alternative<store::NewOrder>(negative_zero));
  EXPECT_FALSE(std::signbit(std::get<store::NewOrder>(negative_zero).total));
}

// Every refusal names the field and says what is wrong.
TEST(OrderJson, InvalidOrdersAreRefusedWithTheirField) {
  struct Case {
    const char* body;
    const char* field;
    const char* message_part;
  };
  const Case cases[] = {
      {"", "", "not valid JSON"},
      {"{", "", "not valid JSON"},
      {R"({"customerId":"c","total":1} x)", "", "not valid JSON"},
      {"[1,2]", "", "JSON object"},
      {"null", "", "JSON object"},
      {"\"s\"", "", "JSON object"},
      {R"({"total":1})", "customerId", "required"},
      {R"({"customerId":"","total":1})", "customerId", "empty"},
      {R"({"customerId":"   ","total":1})", "customerId", "empty"},
      {R"({"customerId":7,"total":1})", "customerId", "a number"},
      {R"({"customerId":null,"total":1})", "customerId", "null"},
      {R"({"customerId":["c"],"total":1})", "customerId", "an array"},
      {R"({"customerId":"c"})", "total", "required"},
      {R"({"customerId":"c","total":"12"})", "total", "a string"},
      {R"({"customerId":"c","total":true})", "total", "a boolean"},
      {R"({"customerId":"c","total":null})", "total", "null"},
      {R"({"customerId":"c","total":-0.01})", "total", "negative"},
      {R"({"customerId":"c","total":1e400})", "", "out of range"},
      {R"({"customerId":"c","total":-1e400})", "", "out of range"},
      {R"({"customerId":"c","total":NaN})", "", "not valid JSON"},
      {R"({"customerId":"c","total":1,"items":{}})", "items", "an array"},
      {R"({"customerId":"c","total":1,"items":"x"})", "items", "a string"},
      {"{\"customerId\":\"\xff\",\"total\":1}", "", "not valid JSON"},  // invalid UTF-8
  };
  for (const Case& c : cases) {
    auto r = parse_new_order(c.body);
    ASSERT_TRUE(std::holds_alternative<FieldError>(r)) << c.body;
    const auto& e = std::get<FieldError>(r);
    EXPECT_EQ(e.field, c.field) << c.body;
    EXPECT_NE(e.message.find(c.message_part), std::string::npos) << c.body << " -> " << e.message;
  }
  std::string long_id(kMaxCustomerIdBytes + 1, 'x');
  auto r = parse_new_order(R"({"customerId":")" + long_id + R"(","total":1})");
  ASSERT_TRUE(std::holds_alternative<FieldError>(r));
  EXPECT_EQ(std::get<FieldError>(r).field, "customerId");
  long_id.pop_back();
  EXPECT_TRUE(std::holds_alternative<store::NewOrder>(parse_new_order(R"({"customerId":")" + long_id + R"(","total":1})")));
}

store::StoredOrder sample() {
  return {7, "0f8c5a52-3c1e-4d5b-9a51-1f0a6f1e2b3c", "c-\"1\"", 12.5, R"([{"sku":"A"}])", "2026-11-26T01:02:03.456Z"};
}

TEST(OrderJson, OrderAndEventRepresentations) {
  EXPECT_EQ(json::parse(order_json(sample())), json::parse(R"({"orderId":"0f8c5a52-3c1e-4d5b-9a51-1f0a6f1e2b3c",
      "seq":7,"customerId":"c-\"1\"","total":12.5,"items":[{"sku":"A"}],"createdAt":"2026-11-26T01:02:03.456Z"})"));
  store::StoredOrder no_items = sample();
  no_items.items_json.clear();
  EXPECT_FALSE(json::parse(order_json(no_items)).contains("items"));
  EXPECT_EQ(json::parse(order_created_event(sample())),
            json::parse(R"({"type":"ORDER_CREATED","seq":7,"orderId":"0f8c5a52-3c1e-4d5b-9a51-1f0a6f1e2b3c",
      "customer":"c-\"1\"","total":12.5,"timestamp":"2026-11-26T01:02:03.456Z"})"));
  // The event begins with its type, as clients that peek at it expect.
  EXPECT_EQ(order_created_event(sample()).rfind(R"({"type":"ORDER_CREATED",)", 0), 0u);
  EXPECT_EQ(json::parse(order_list_json({sample(), no_items}, 9)),
            json::parse("{\"orders\":[" + order_json(sample()) + "," + order_json(no_items) + "],\"lastSeq\":9}"));
  EXPECT_EQ(json::parse(error_json("bad \"x\"", "total")), json::parse(R"({"error":"bad \"x\"","field":"total"})"));
}

TEST(OrderJson, FeedCommands) {
  auto sub = parse_feed_command(R"({"type":"SUBSCRIBE","topic":"orders"})");
  ASSERT_TRUE(std::holds_alternative<FeedCommand>(sub));
  EXPECT_EQ(std::get<FeedCommand>(sub).kind, FeedCommand::Kind::Subscribe);
  EXPECT_EQ(std::get<FeedCommand>(sub).topic, "orders");

  auto resume = parse_feed_command(R"({"type":"RESUME","after":41})");
  ASSERT_TRUE(std::holds_alternative<FeedCommand>(resume));
  EXPECT_EQ(std::get<FeedCommand>(resume).kind, FeedCommand::Kind::Resume);
  EXPECT_EQ(std::get<FeedCommand>(resume).topic, "orders");  // the default
  EXPECT_EQ(std::get<FeedCommand>(resume).after, 41);

  auto unsub = parse_feed_command(R"({"type":"UNSUBSCRIBE","topic":"x"})");
  ASSERT_TRUE(std::holds_alternative<FeedCommand>(unsub));
  EXPECT_EQ(std::get<FeedCommand>(unsub).kind, FeedCommand::Kind::Unsubscribe);
  EXPECT_EQ(std::get<FeedCommand>(unsub).topic, "x");

  struct Bad {
    const char* text;
    const char* part;
  };
  for (const Bad& b : {Bad{"hello", "not valid JSON"}, Bad{"[]", "JSON object"}, Bad{"{}", "\"type\""},
                       Bad{R"({"type":1})", "\"type\""}, Bad{R"({"type":"PING"})", "unknown message type \"PING\""},
                       Bad{R"({"type":"subscribe"})", "unknown message type"},
                       Bad{R"({"type":"SUBSCRIBE","topic":5})", "\"topic\""},
                       Bad{R"({"type":"RESUME"})", "needs \"after\""},
                       Bad{R"({"type":"RESUME","after":-1})", "integer >= 0"},
                       Bad{R"({"type":"RESUME","after":1.5})", "integer >= 0"},
                       Bad{R"({"type":"RESUME","after":"3"})", "integer >= 0"},
                       Bad{R"({"type":"RESUME","after":18446744073709551615})", "integer >= 0"}}) {
    auto r = parse_feed_command(b.text);
    ASSERT_TRUE(std::holds_alternative<std::string>(r)) << b.text;
    EXPECT_NE(std::get<std::string>(r).find(b.part), std::string::npos) << b.text << " -> " << std::get<std::string>(r);
  }
  EXPECT_EQ(json::parse(feed_error_json("x")), json::parse(R"({"type":"ERROR","error":"x"})"));
  EXPECT_EQ(json::parse(subscribed_json("orders", 5)), json::parse(R"({"type":"SUBSCRIBED","topic":"orders","seq":5})"));
  EXPECT_EQ(json::parse(unsubscribed_json("orders")), json::parse(R"({"type":"UNSUBSCRIBED","topic":"orders"})"));
}

TEST(OrderJson, Seqs) {
  EXPECT_EQ(parse_seq("0"), 0);
  EXPECT_EQ(parse_seq("42"), 42);
  EXPECT_EQ(parse_seq(" 42 "), 42);
  EXPECT_EQ(parse_seq("9223372036854775807"), INT64_MAX);
  for (const char* bad : {"", "-1", "+1", "1.0", "1e3", "abc", "9223372036854775808", "0x10", "1 2"}) {
    EXPECT_FALSE(parse_seq(bad)) << bad;
  }
}

}  // namespace
}  // namespace wirehub::orderflow
