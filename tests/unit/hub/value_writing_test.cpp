// The writers' own code for strings, integers, booleans and null must give exactly the
// bytes of nlohmann's serializers, which they replace for those types; and a string
// Completion written without a value must equal the one written with it.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "hub/framing.hpp"
#include "hub/messages.hpp"

namespace wirehub::hub {
namespace {

using nlohmann::json;
using namespace std::string_literals;

Message completion_with(json result) {
  Message m;
  m.type = MessageType::Completion;
  m.invocation_id = "1";
  m.completion = CompletionKind::Result;
  m.result = std::move(result);
  return m;
}

// What nlohmann writes for v, inside the Completion envelope.
std::string nlohmann_json_completion(const json& v) {
  return R"({"type":3,"invocationId":"1","result":)" + v.dump(-1, ' ', false, json::error_handler_t::replace) +
         "}\x1e";
}

std::string nlohmann_messagepack_completion(const json& v) {
  std::string body = "\x95\x03\x80\xa1" "1" "\x03"s;
  json::to_msgpack(v, nlohmann::detail::output_adapter<char>(body));
  std::string framed;
  append_messagepack(framed, body);
  return framed;
}

std::vector<json> scalars() {
  std::vector<json> values = {nullptr, true, false, 0, 1, -1, 127, 128, -32, -33, 255, 256, -128, -129,
                              65535, 65536, -32768, -32769, 4294967295LL, 4294967296LL, -2147483648LL, -2147483649LL,
                              std::numeric_limits<std::int64_t>::max(), std::numeric_limits<std::int64_t>::min(),
                              std::numeric_limits<std::uint64_t>::max(), std::uint64_t{1} << 63, "", "plain",
                              "quote\" backslash\\ slash/ \b\f\n\r\t \x01\x1f\x7f", "é€𝄞",
                              "bad \xff \xc3\x28 \xe0\x80 \xed\xa0\x80 \xf4\x90\x80\x80 \xf0\x9f\x98 end \xe2\x82",
                              std::string(31, 'a'), std::string(32, 'b'), std::string(255, 'c'), std::string(256, 'd'),
                              std::string(65535, 'e'), std::string(65536, 'f'), "\0nul"s};
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    values.emplace_back(static_cast<std::int64_t>(rng()) >> (rng() % 64));
    values.emplace_back(static_cast<std::uint64_t>(rng()) >> (rng() % 64));
    // Random bytes, mostly invalid UTF-8, and random code points.
    std::string s;
    const std::size_t n = rng() % 12;
    for (std::size_t k = 0; k < n; ++k) s.push_back(static_cast<char>(rng() % 4 ? 0x80 + rng() % 0x80 : rng() % 0x80));
    values.emplace_back(s);
  }
  return values;
}

TEST(HubValueWriting, ScalarsAreWrittenAsNlohmannWritesThem) {
  for (const json& v : scalars()) {
    std::string out;
    append_message(out, HubProtocol::Json, completion_with(v));
    ASSERT_EQ(out, nlohmann_json_completion(v)) << v.dump(-1, ' ', true, json::error_handler_t::replace);
    out.clear();
    append_message(out, HubProtocol::MessagePack, completion_with(v));
    ASSERT_EQ(out, nlohmann_messagepack_completion(v)) << v.dump(-1, ' ', true, json::error_handler_t::replace);
  }
}

TEST(HubValueWriting, StringCompletionEqualsTheValueCompletion) {
  for (const json& v : scalars()) {
    if (!v.is_string()) continue;
    for (HubProtocol p : {HubProtocol::Json, HubProtocol::MessagePack}) {
      std::string with_value = "before";
      append_message(with_value, p, completion_with(v));
      std::string with_text = "before";
      append_string_completion(with_text, p, "1", v.get<std::string>());
      ASSERT_EQ(with_text, with_value) << protocol_name(p);
    }
  }
  // The id is escaped as the envelope writer escapes it.
  Message m = completion_with("r");
  m.invocation_id = "i\"d\xff";
  for (HubProtocol p : {HubProtocol::Json, HubProtocol::MessagePack}) {
    std::string with_value, with_text;
    append_message(with_value, p, m);
    append_string_completion(with_text, p, m.invocation_id, "r");
    EXPECT_EQ(with_text, with_value) << protocol_name(p);
  }
}

// Containers and doubles still go through nlohmann, scalars inside them included.
TEST(HubValueWriting, OtherValuesStillGoThroughNlohmann) {
  for (const json& v : {json(1.5), json(0.1), json(1e300), json(-0.0), json::parse(R"([1,"a",{"k":[null,2.5]}])"),
                        json::binary({1, 2, 3}, 0x05)}) {
    std::string out;
    append_message(out, HubProtocol::MessagePack, completion_with(v));
    EXPECT_EQ(out, nlohmann_messagepack_completion(v));
    if (v.is_binary()) continue;  // JSON has no binary values
    out.clear();
    append_message(out, HubProtocol::Json, completion_with(v));
    EXPECT_EQ(out, nlohmann_json_completion(v));
  }
}

}  // namespace
}  // namespace wirehub::hub
