#include "hub/arguments.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "hub/messages.hpp"

namespace wirehub::hub {
namespace {

using nlohmann::json;
using namespace std::string_literals;

std::string mp(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

// The arguments of a parsed Invocation whose arguments array is `array` (JSON text or
// MessagePack bytes).
Arguments parsed_json(const std::string& array) {
  ParseResult r = parse_json_message(R"({"type":1,"target":"T","arguments":)" + array + "}");
  EXPECT_EQ(r.status, ParseResult::Status::Ok) << array;
  EXPECT_TRUE(r.message.arguments.on_wire()) << array;
  return r.message.arguments;
}

Arguments parsed_messagepack(const std::string& array) {
  ParseResult r = parse_messagepack_message(mp({0x95, 0x01, 0x80, 0xc0, 0xa1, 'T'}) + array);
  EXPECT_EQ(r.status, ParseResult::Status::Ok) << r.error;
  EXPECT_TRUE(r.message.arguments.on_wire());
  return r.message.arguments;
}

struct Integer {
  bool ok = false;
  std::uint64_t bits = 0;
  bool negative = false;
  friend bool operator==(const Integer&, const Integer&) = default;
};
Integer integer(const Arguments& a, std::size_t i) {
  Integer n;
  n.ok = a.read_integer(i, n.bits, n.negative);
  return n.ok ? n : Integer{};  // bits and negative mean nothing then
}
constexpr Integer kNotInteger{};
constexpr Integer unsigned_value(std::uint64_t v) { return {true, v, false}; }
constexpr Integer negative_value(std::int64_t v) { return {true, static_cast<std::uint64_t>(v), true}; }

TEST(HubArguments, JsonStringsAreDecodedStraightFromTheWire) {
  const Arguments a = parsed_json(R"(["plain","esc\"aped\u00e9\n",1,null,["x"]])");
  ASSERT_EQ(a.size(), 5u);
  std::string s = "old";
  EXPECT_TRUE(a.read_string(0, s));
  EXPECT_EQ(s, "plain");
  EXPECT_TRUE(a.read_string(1, s));
  EXPECT_EQ(s, "esc\"aped\xc3\xa9\n");
  for (std::size_t i : {2u, 3u, 4u}) EXPECT_FALSE(a.read_string(i, s)) << i;
}

TEST(HubArguments, JsonIntegersAsNlohmannStoresThem) {
  const Arguments a = parsed_json(
      R"([0,42,-7,-0,18446744073709551615,-9223372036854775808,18446744073709551616,-9223372036854775809,1.0,1e2,"1",true])");
  EXPECT_EQ(integer(a, 0), unsigned_value(0));
  EXPECT_EQ(integer(a, 1), unsigned_value(42));
  EXPECT_EQ(integer(a, 2), negative_value(-7));
  EXPECT_EQ(integer(a, 3), unsigned_value(0));  // -0 is the integer 0
  EXPECT_EQ(integer(a, 4), unsigned_value(UINT64_MAX));
  EXPECT_EQ(integer(a, 5), negative_value(INT64_MIN));
  // Past 64 bits nlohmann holds a double; fractions and exponents are doubles too.
  for (std::size_t i = 6; i < 12; ++i) EXPECT_EQ(integer(a, i), kNotInteger) << i;
  EXPECT_TRUE(a.value(6).is_number_float());
}

TEST(HubArguments, JsonBooleans) {
  const Arguments a = parsed_json(R"([true,false,null,1,"true"])");
  bool b = false;
  EXPECT_TRUE(a.read_bool(0, b));
  EXPECT_TRUE(b);
  EXPECT_TRUE(a.read_bool(1, b));
  EXPECT_FALSE(b);
  for (std::size_t i : {2u, 3u, 4u}) EXPECT_FALSE(a.read_bool(i, b)) << i;
}

TEST(HubArguments, MessagePackStringsOfEveryLengthEncoding) {
  const std::string s8(40, 'a'), s16(300, 'b');
  const Arguments a = parsed_messagepack(mp({0x95, 0xa2, 'h', 'i', 0xd9, 40}) + s8 + mp({0xda, 0x01, 0x2c}) + s16 +
                                         mp({0xdb, 0, 0, 0, 2, 0xff, 0x00, 0xc4, 1, 'x'}));
  ASSERT_EQ(a.size(), 5u);
  std::string s;
  EXPECT_TRUE(a.read_string(0, s));
  EXPECT_EQ(s, "hi");
  EXPECT_TRUE(a.read_string(1, s));
  EXPECT_EQ(s, s8);
  EXPECT_TRUE(a.read_string(2, s));
  EXPECT_EQ(s, s16);
  EXPECT_TRUE(a.read_string(3, s));
  EXPECT_EQ(s, "\xff\x00"s);  // MessagePack strings are the bytes they are
  EXPECT_FALSE(a.read_string(4, s));  // bin is not a string
}

TEST(HubArguments, MessagePackIntegersOfEveryWidth) {
  const Arguments a = parsed_messagepack(mp({0xdc, 0x00, 13,              // 13 arguments
                                             0x05, 0x7f, 0xe0, 0xff,      // fixints
                                             0xcc, 0xff, 0xcd, 0x01, 0x00,  // uint 8, 16
                                             0xce, 0xff, 0xff, 0xff, 0xff,  // uint 32
                                             0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  // uint 64
                                             0xd0, 0x80, 0xd1, 0x00, 0x05,  // int 8 = -128, int 16 = 5
                                             0xd2, 0xff, 0xff, 0xff, 0xfe,  // int 32 = -2
                                             0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0,  // int 64 = INT64_MIN
                                             0xca, 0x3f, 0x80, 0, 0}));  // float 32 = 1.0
  EXPECT_EQ(integer(a, 0), unsigned_value(5));
  EXPECT_EQ(integer(a, 1), unsigned_value(127));
  EXPECT_EQ(integer(a, 2), negative_value(-32));
  EXPECT_EQ(integer(a, 3), negative_value(-1));
  EXPECT_EQ(integer(a, 4), unsigned_value(255));
  EXPECT_EQ(integer(a, 5), unsigned_value(256));
  EXPECT_EQ(integer(a, 6), unsigned_value(0xffffffff));
  EXPECT_EQ(integer(a, 7), unsigned_value(UINT64_MAX));
  EXPECT_EQ(integer(a, 8), negative_value(-128));
  EXPECT_EQ(integer(a, 9), unsigned_value(5));
  EXPECT_EQ(integer(a, 10), negative_value(-2));
  EXPECT_EQ(integer(a, 11), negative_value(INT64_MIN));
  EXPECT_EQ(integer(a, 12), kNotInteger);
  for (std::size_t i = 0; i < 12; ++i) {
    // The same number nlohmann reads.
    const json v = a.value(i);
    const Integer n = integer(a, i);
    if (n.negative) {
      EXPECT_EQ(v.get<std::int64_t>(), static_cast<std::int64_t>(n.bits)) << i;
    } else {
      EXPECT_EQ(v.get<std::uint64_t>(), n.bits) << i;
    }
  }
}

TEST(HubArguments, MessagePackBooleans) {
  const Arguments a = parsed_messagepack(mp({0x94, 0xc3, 0xc2, 0xc0, 0x01}));
  bool b = false;
  EXPECT_TRUE(a.read_bool(0, b));
  EXPECT_TRUE(b);
  EXPECT_TRUE(a.read_bool(1, b));
  EXPECT_FALSE(b);
  EXPECT_FALSE(a.read_bool(2, b));
  EXPECT_FALSE(a.read_bool(3, b));
}

TEST(HubArguments, HeldValuesAreReadThroughValueOnly) {
  const Arguments a = json::array({"s", 1, true});
  EXPECT_FALSE(a.on_wire());
  ASSERT_EQ(a.size(), 3u);
  std::string s;
  std::uint64_t bits = 0;
  bool flag = false;
  EXPECT_FALSE(a.read_string(0, s));
  EXPECT_FALSE(a.read_integer(1, bits, flag));
  EXPECT_FALSE(a.read_bool(2, flag));
  EXPECT_EQ(a.value(0), "s");
  EXPECT_EQ(a.to_json(), json::array({"s", 1, true}));
  EXPECT_EQ(Arguments().size(), 0u);
  EXPECT_EQ(Arguments().to_json(), json::array());
}

TEST(HubArguments, EqualityComparesValuesWhereverTheyAre) {
  EXPECT_EQ(parsed_json(R"([ "x" , {"a":[1,2]} ])"), Arguments(json::parse(R"(["x",{"a":[1,2]}])")));
  EXPECT_EQ(parsed_json(R"(["x"])"), parsed_messagepack(mp({0x91, 0xa1, 'x'})));
  EXPECT_FALSE(parsed_json(R"(["x"])") == parsed_json(R"(["y"])"));
  EXPECT_FALSE(parsed_json(R"(["x"])") == parsed_json(R"(["x",1])"));
}

TEST(HubArguments, ClearKeepsNothing) {
  Arguments a = parsed_json(R"(["x",1])");
  a.clear();
  EXPECT_FALSE(a.on_wire());
  EXPECT_EQ(a.size(), 0u);
  a.add(1, 3);
  a.set_wire(HubProtocol::Json, R"(["y"])");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a.value(0), "y");
}

// MessagePack maps inside arguments need string keys, as nlohmann's reader does; the
// error text is the one the reader gave before arguments stayed wire bytes.
TEST(HubArguments, MessagePackMapKeysMustBeStrings) {
  const std::string error =
      "Reading 'arguments' failed: invalid MessagePack, a map key that is not a string, or nesting deeper than 64.";
  for (const std::string& array : {mp({0x91, 0x81, 0x01, 0x02}), mp({0x91, 0x81, 0xc0, 0x02}),
                                   mp({0x91, 0x81, 0xc4, 0x01, 'k', 0x02}),
                                   mp({0x92, 0xa1, 'x', 0x91, 0x82, 0xa1, 'a', 0x01, 0x05, 0x02})}) {
    ParseResult r = parse_messagepack_message(mp({0x95, 0x01, 0x80, 0xc0, 0xa1, 'T'}) + array);
    EXPECT_EQ(r.status, ParseResult::Status::Error);
    EXPECT_EQ(r.error, error);
  }
  // String keys (fixstr, str 8) at any depth, and string values, are fine.
  const Arguments a = parsed_messagepack(mp({0x91, 0x82, 0xa1, 'a', 0x81, 0xd9, 0x01, 'b', 0xa1, 'c', 0xa1, 'd', 0x01}));
  EXPECT_EQ(a.value(0), json::parse(R"({"a":{"b":"c"},"d":1})"));
}

}  // namespace
}  // namespace wirehub::hub
