#include "hub/messages.hpp"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "hub/framing.hpp"

namespace wirehub::hub {

// gtest shows a Message as its JSON-protocol text.
void PrintTo(const Message& m, std::ostream* os) {
  std::string s;
  append_json_message(s, m);
  *os << s;
}

namespace {

using nlohmann::json;
using namespace std::string_literals;  // "\x00"s keeps its NUL bytes
using Status = ParseResult::Status;

Message invocation(std::string id, std::string target, json args, std::vector<std::string> streams = {},
                   MessageType type = MessageType::Invocation) {
  Message m;
  m.type = type;
  m.invocation_id = std::move(id);
  m.target = std::move(target);
  m.arguments = std::move(args);
  m.stream_ids = std::move(streams);
  return m;
}

Message with_id(MessageType type, std::string id) {
  Message m;
  m.type = type;
  m.invocation_id = std::move(id);
  return m;
}

Message stream_item(std::string id, json item) {
  Message m = with_id(MessageType::StreamItem, std::move(id));
  m.item = std::move(item);
  return m;
}

Message completion(std::string id, CompletionKind kind, json result = nullptr, std::string error = {}) {
  Message m = with_id(MessageType::Completion, std::move(id));
  m.completion = kind;
  m.result = std::move(result);
  m.error = std::move(error);
  return m;
}

Message close(std::string error = {}, bool allow_reconnect = false) {
  Message m;
  m.type = MessageType::Close;
  m.error = std::move(error);
  m.allow_reconnect = allow_reconnect;
  return m;
}

Message sequence(MessageType type, std::int64_t id) {
  Message m;
  m.type = type;
  m.sequence_id = id;
  return m;
}

Message ping() { return Message{}; }

Message parsed(HubProtocol p, std::string_view piece) {
  ParseResult r = parse_message(p, piece);
  EXPECT_EQ(r.status, Status::Ok) << protocol_name(p) << ": " << r.error;
  return r.message;
}

std::string refused(HubProtocol p, std::string_view piece) {
  ParseResult r = parse_message(p, piece);
  EXPECT_EQ(r.status, Status::Error) << protocol_name(p);
  EXPECT_FALSE(r.error.empty());
  return r.error;
}

std::string written(HubProtocol p, const Message& m) {
  std::string out;
  append_message(out, p, m);
  return out;
}

// The one message of a written payload, split as a receiver would.
std::string_view only_message(HubProtocol p, const std::string& framed) {
  std::vector<std::string_view> pieces;
  const FramingError e = p == HubProtocol::Json ? split_json(framed, 1u << 30, pieces)
                                                : split_messagepack(framed, 1u << 30, pieces);
  EXPECT_EQ(e, FramingError::None);
  EXPECT_EQ(pieces.size(), 1u);
  return pieces.empty() ? std::string_view() : pieces[0];
}

std::string mp(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

// ---- JSON parsing ------------------------------------------------------------------

// PROTOCOL.md section 8 "Wire examples": what the 10.x JS client sends, `type` last.
TEST(HubMessagesJson, ParsesWhatTheJsClientSends) {
  const HubProtocol j = HubProtocol::Json;
  EXPECT_EQ(parsed(j, R"({"target":"Echo","arguments":["x"],"invocationId":"0","type":1})"),
            invocation("0", "Echo", {"x"}));
  EXPECT_EQ(parsed(j, R"({"target":"Echo","arguments":["x"],"type":1})"), invocation("", "Echo", {"x"}));
  EXPECT_EQ(parsed(j, R"({"target":"Concat","arguments":[],"invocationId":"3","streamIds":["2"],"type":1})"),
            invocation("3", "Concat", json::array(), {"2"}));
  EXPECT_EQ(parsed(j, R"({"invocationId":"2","item":"A","type":2})"), stream_item("2", "A"));
  EXPECT_EQ(parsed(j, R"({"invocationId":"2","type":3})"), completion("2", CompletionKind::Void));
  EXPECT_EQ(parsed(j, R"({"type":3,"invocationId":"c0","result":10})"), completion("c0", CompletionKind::Result, 10));
  EXPECT_EQ(parsed(j, R"({"type":3,"invocationId":"c0","error":"Error: from callback"})"),
            completion("c0", CompletionKind::Error, nullptr, "Error: from callback"));
  EXPECT_EQ(parsed(j, R"({"type":6})"), ping());
  EXPECT_EQ(parsed(j, R"({"type":7})"), close());
  EXPECT_EQ(parsed(j, R"({"type":8,"sequenceId":12})"), sequence(MessageType::Ack, 12));
  EXPECT_EQ(parsed(j, R"({"sequenceId":1,"type":9})"), sequence(MessageType::Sequence, 1));
}

TEST(HubMessagesJson, ParsesEveryTypeWithItsOptionalParts) {
  const HubProtocol j = HubProtocol::Json;
  EXPECT_EQ(parsed(j, R"({"type":4,"invocationId":"5","target":"Count","arguments":[3,{"a":[true]}]})"),
            invocation("5", "Count", json::parse(R"([3,{"a":[true]}])"), {}, MessageType::StreamInvocation));
  EXPECT_EQ(parsed(j, R"({"type":4,"invocationId":"5","target":"Up","arguments":[],"streamIds":["6","7"]})"),
            invocation("5", "Up", json::array(), {"6", "7"}, MessageType::StreamInvocation));
  EXPECT_EQ(parsed(j, R"({"type":5,"invocationId":"5"})"), with_id(MessageType::CancelInvocation, "5"));
  EXPECT_EQ(parsed(j, R"({"type":2,"invocationId":"1","item":null})"), stream_item("1", nullptr));
  // A null result is a result; a null error is no error.
  EXPECT_EQ(parsed(j, R"({"type":3,"invocationId":"1","result":null})"),
            completion("1", CompletionKind::Result, nullptr));
  EXPECT_EQ(parsed(j, R"({"type":3,"invocationId":"1","error":null,"result":[1]})"),
            completion("1", CompletionKind::Result, {1}));
  EXPECT_EQ(parsed(j, R"({"type":7,"error":"bye","allowReconnect":true})"), close("bye", true));
  EXPECT_EQ(parsed(j, R"({"type":7,"error":null,"allowReconnect":false})"), close());
  EXPECT_EQ(parsed(j, R"({"type":8,"sequenceId":-3})"), sequence(MessageType::Ack, -3));
  EXPECT_EQ(parsed(j, R"({"type":9,"sequenceId":9223372036854775807})"),
            sequence(MessageType::Sequence, INT64_MAX));
  // An empty or null id on an Invocation means "no answer wanted", as an absent one.
  EXPECT_EQ(parsed(j, R"({"type":1,"invocationId":"","target":"T","arguments":[]})"), invocation("", "T", json::array()));
  EXPECT_EQ(parsed(j, R"({"type":1,"invocationId":null,"target":"T","arguments":[]})"), invocation("", "T", json::array()));
  EXPECT_EQ(parsed(j, R"({"type":1,"target":"T","arguments":[],"streamIds":null})"), invocation("", "T", json::array()));
}

TEST(HubMessagesJson, HeadersAndUnknownPropertiesAreIgnored) {
  const HubProtocol j = HubProtocol::Json;
  EXPECT_EQ(parsed(j, R"({"headers":{"traceparent":"00-ab"},"type":1,"target":"T","arguments":[],"later":{"x":[1]}})"),
            invocation("", "T", json::array()));
  EXPECT_EQ(parsed(j, R"({"type":5,"invocationId":"1","headers":{}})"), with_id(MessageType::CancelInvocation, "1"));
  EXPECT_EQ(parsed(j, " {\"type\" : 6 , \"x\":1}\n"), ping());  // whitespace around is fine
  // Names are case-sensitive: "Type" is an unknown property, so "type" is missing.
  EXPECT_EQ(refused(j, R"({"Type":6})"), "Missing required property 'type'.");
}

TEST(HubMessagesJson, UnknownTypesAreIgnored) {
  for (const char* text : {R"({"type":10})", R"({"type":99,"whatever":[]})", R"({"type":0})", R"({"type":-1})",
                           R"({"type":18446744073709551615})"}) {
    EXPECT_EQ(parse_json_message(text).status, Status::Ignored) << text;
  }
}

// Every refusal, with ASP.NET's texts where it has one (JsonHubProtocol).
TEST(HubMessagesJson, RefusesMalformedMessagesWithAReason) {
  const struct {
    const char* text;
    const char* error;
  } cases[] = {
      {"", "Error reading JSON."},
      {"{", "Error reading JSON."},
      {R"({"type":1,"target":"T","arguments":[]} x)", "Error reading JSON."},
      {"\"\xff\"", "Error reading JSON."},
      {"{\"type\":6,\"x\":\"\xc3\x28\"}", "Error reading JSON."},  // invalid UTF-8 anywhere
      {"null", "Unexpected JSON Token Type 'Null'. Expected a JSON Object."},
      {"42", "Unexpected JSON Token Type 'Integer'. Expected a JSON Object."},
      {"[42]", "Unexpected JSON Token Type 'Array'. Expected a JSON Object."},
      {"\"x\"", "Unexpected JSON Token Type 'String'. Expected a JSON Object."},
      {"{}", "Missing required property 'type'."},
      {R"({"type":"1"})", "Expected 'type' to be of type Integer."},
      {R"({"type":1.0})", "Expected 'type' to be of type Integer."},
      {R"({"type":1,"headers":{"Foo":42},"target":"T","arguments":[]})", "Expected header 'Foo' to be of type String."},
      {R"({"type":1,"headers":[],"target":"T","arguments":[]})", "Expected 'headers' to be of type Object."},
      {R"({"type":1})", "Missing required property 'target'."},
      {R"({"type":1,"invocationId":42,"target":"T","arguments":[]})", "Expected 'invocationId' to be of type String."},
      {R"({"type":1,"target":42,"arguments":[]})", "Expected 'target' to be of type String."},
      {R"({"type":1,"target":"T"})", "Missing required property 'arguments'."},
      {R"({"type":1,"target":"T","arguments":{}})", "Expected 'arguments' to be of type Array."},
      {R"({"type":1,"target":"T","arguments":[],"streamIds":"2"})", "Expected 'streamIds' to be of type Array."},
      {R"({"type":1,"target":"T","arguments":[],"streamIds":[2]})", "Expected 'streamIds' to be of type Array of String."},
      {R"({"type":4,"target":"T","arguments":[]})", "Missing required property 'invocationId'."},
      {R"({"type":4,"invocationId":"","target":"T","arguments":[]})", "Missing required property 'invocationId'."},
      {R"({"type":4,"invocationId":"1","arguments":[]})", "Missing required property 'target'."},
      {R"({"type":4,"invocationId":"1","target":"T","arguments":"x"})", "Expected 'arguments' to be of type Array."},
      {R"({"type":2,"item":1})", "Missing required property 'invocationId'."},
      {R"({"type":2,"invocationId":42,"item":1})", "Expected 'invocationId' to be of type String."},
      {R"({"type":2,"invocationId":"1"})", "Missing required property 'item'."},
      {R"({"type":3})", "Missing required property 'invocationId'."},
      {R"({"type":3,"invocationId":""})", "Missing required property 'invocationId'."},
      {R"({"type":3,"invocationId":"1","error":[]})", "Expected 'error' to be of type String."},
      {R"({"type":3,"invocationId":"1","error":"e","result":true})",
       "The 'error' and 'result' properties are mutually exclusive."},
      {R"({"type":3,"invocationId":"1","error":"e","result":null})",
       "The 'error' and 'result' properties are mutually exclusive."},
      {R"({"type":5})", "Missing required property 'invocationId'."},
      {R"({"type":7,"error":1})", "Expected 'error' to be of type String."},
      {R"({"type":7,"allowReconnect":"true"})", "Expected 'allowReconnect' to be of type Boolean."},
      {R"({"type":7,"allowReconnect":1})", "Expected 'allowReconnect' to be of type Boolean."},
      {R"({"type":8})", "Missing required property 'sequenceId'."},
      {R"({"type":8,"sequenceId":"1"})", "Expected 'sequenceId' to be of type Integer."},
      {R"({"type":9,"sequenceId":1.5})", "Expected 'sequenceId' to be of type Integer."},
      {R"({"type":9,"sequenceId":9223372036854775808})", "Expected 'sequenceId' to be of type Integer."},
  };
  for (const auto& c : cases) EXPECT_EQ(refused(HubProtocol::Json, c.text), c.error) << c.text;
}

std::string nested_json(std::size_t depth) {
  // {"type":1,"target":"T","arguments":[[[...]]]}: the message object and the
  // arguments array count as 2.
  return R"({"type":1,"target":"T","arguments":)" + std::string(depth - 1, '[') + std::string(depth - 1, ']') + "}";
}

TEST(HubMessagesJson, NestingIsLimitedToMaxDepth) {
  EXPECT_EQ(parse_json_message(nested_json(kMaxDepth)).status, Status::Ok);
  EXPECT_EQ(refused(HubProtocol::Json, nested_json(kMaxDepth + 1)), "The message nests deeper than 64 levels.");
  // Brackets inside strings are text, not nesting.
  const std::string brackets(200, '[');
  EXPECT_EQ(parsed(HubProtocol::Json, R"({"type":1,"target":"T","arguments":[")" + brackets + R"(\"\\"]})"),
            invocation("", "T", {brackets + "\"\\"}));
}

// ---- MessagePack parsing -----------------------------------------------------------

// PROTOCOL.md section 8 "Wire examples", byte by byte.
TEST(HubMessagesMessagePack, ParsesWhatTheJsClientSends) {
  const HubProtocol p = HubProtocol::MessagePack;
  // [1,{},"0","Echo",["x"]]: 5 elements without upload streams.
  EXPECT_EQ(parsed(p, "\x95\x01\x80\xa1" "0" "\xa4" "Echo" "\x91\xa1" "x"), invocation("0", "Echo", {"x"}));
  // [1,{},"3","Concat",[],["2"]]
  EXPECT_EQ(parsed(p, "\x96\x01\x80\xa1" "3" "\xa6" "Concat" "\x90\x91\xa1" "2"),
            invocation("3", "Concat", json::array(), {"2"}));
  // [1,{},nil,"Echo",["x"]]: fire-and-forget.
  EXPECT_EQ(parsed(p, "\x95\x01\x80\xc0\xa4" "Echo" "\x91\xa1" "x"), invocation("", "Echo", {"x"}));
  // [7,nil]
  EXPECT_EQ(parsed(p, "\x92\x07\xc0"), close());
  // [3,{},"c0",3,10]: a client result.
  EXPECT_EQ(parsed(p, "\x95\x03\x80\xa2" "c0" "\x03\x0a"), completion("c0", CompletionKind::Result, 10));
  // [3,{},"2",2]: an upload stream's end.
  EXPECT_EQ(parsed(p, "\x94\x03\x80\xa1" "2" "\x02"), completion("2", CompletionKind::Void));
  // [6]
  EXPECT_EQ(parsed(p, "\x91\x06"), ping());
}

TEST(HubMessagesMessagePack, ParsesEveryTypeAndLayout) {
  const HubProtocol p = HubProtocol::MessagePack;
  // 6 elements with nil stream ids; 7 with an extra element a later version might add.
  EXPECT_EQ(parsed(p, "\x96\x01\x80\xa1" "1" "\xa1" "T" "\x90\xc0"), invocation("1", "T", json::array()));
  EXPECT_EQ(parsed(p, "\x97\x01\x80\xa1" "1" "\xa1" "T" "\x90\x91\xa1" "s" "\x82\xa1" "k" "\x93\x01\x02\x03\xa1" "j\xc3"),
            invocation("1", "T", json::array(), {"s"}));
  // Headers as nil, or a map of strings; an empty id = none.
  EXPECT_EQ(parsed(p, "\x95\x01\xc0\xa0\xa1" "T" "\x90"), invocation("", "T", json::array()));
  EXPECT_EQ(parsed(p, "\x95\x01\x81\xa1" "h" "\xa1" "v" "\xc0\xa1" "T" "\x90"), invocation("", "T", json::array()));
  // [4,{},"9","S",[1,-1]], [5,{},"9"]
  EXPECT_EQ(parsed(p, "\x95\x04\x80\xa1" "9" "\xa1" "S" "\x92\x01\xff"),
            invocation("9", "S", {1, -1}, {}, MessageType::StreamInvocation));
  EXPECT_EQ(parsed(p, "\x93\x05\x80\xa1" "9"), with_id(MessageType::CancelInvocation, "9"));
  // [2,{},"9",nil], [2,{},"9",{"a":1.5}]
  EXPECT_EQ(parsed(p, "\x94\x02\x80\xa1" "9" "\xc0"), stream_item("9", nullptr));
  EXPECT_EQ(parsed(p, mp({0x94, 0x02, 0x80, 0xa1, '9', 0x81, 0xa1, 'a', 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0})),
            stream_item("9", {{"a", 1.5}}));
  // [3,{},"9",1,"boom"], [3,{},"9",3,nil]
  EXPECT_EQ(parsed(p, "\x95\x03\x80\xa1" "9" "\x01\xa4" "boom"), completion("9", CompletionKind::Error, nullptr, "boom"));
  EXPECT_EQ(parsed(p, "\x95\x03\x80\xa1" "9" "\x03\xc0"), completion("9", CompletionKind::Result, nullptr));
  // [7,"bye",true], [7,nil,false], [7,nil,nil]
  EXPECT_EQ(parsed(p, "\x93\x07\xa3" "bye" "\xc3"), close("bye", true));
  EXPECT_EQ(parsed(p, "\x93\x07\xc0\xc2"), close());
  EXPECT_EQ(parsed(p, "\x93\x07\xc0\xc0"), close());
  // [8, 300] as uint16, [9, -3] as int8, -300 as int16, -1 as int32, [8, 2^40] as uint64
  EXPECT_EQ(parsed(p, "\x92\x08\xcd\x01\x2c"), sequence(MessageType::Ack, 300));
  EXPECT_EQ(parsed(p, "\x92\x09\xd0\xfd"), sequence(MessageType::Sequence, -3));
  EXPECT_EQ(parsed(p, "\x92\x09\xd1\xfe\xd4"), sequence(MessageType::Sequence, -300));
  EXPECT_EQ(parsed(p, "\x92\x09\xd2\xff\xff\xff\xff"), sequence(MessageType::Sequence, -1));
  EXPECT_EQ(parsed(p, mp({0x92, 0x08, 0xcf, 0, 0, 1, 0, 0, 0, 0, 0})), sequence(MessageType::Ack, std::int64_t{1} << 40));
  // The type in a longer integer encoding, and str 8 strings.
  EXPECT_EQ(parsed(p, "\x91\xcc\x06"), ping());
  EXPECT_EQ(parsed(p, "\x93\x05\x80\xd9\x01" "z"), with_id(MessageType::CancelInvocation, "z"));
}

TEST(HubMessagesMessagePack, UnknownTypesAreIgnored) {
  for (const std::string& bytes : {mp({0x91, 0x0a}), mp({0x93, 0x63, 0x80, 0xc0}), mp({0x91, 0x00}), mp({0x91, 0xff}),
                                   mp({0x91, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})}) {
    EXPECT_EQ(parse_messagepack_message(bytes).status, Status::Ignored);
  }
}

TEST(HubMessagesMessagePack, RefusesMalformedMessagesWithAReason) {
  const struct {
    std::string bytes;
    const char* error;
  } cases[] = {
      {"", "Expected a MessagePack array."},
      {"\x81\xa1x\x01", "Expected a MessagePack array."},
      {"\xdc\x00"s, "Expected a MessagePack array."},  // a truncated array 16 header
      {"\x90", "Missing required property 'type'."},
      {"\x91\xa1" "1", "Reading 'type' as Int32 failed."},
      {"\x91\xca\x3f\x80\x00\x00"s, "Reading 'type' as Int32 failed."},  // 1.0f
      {mp({0x91, 0x06, 0x00}), "Unexpected bytes after the message's array."},
      {"\x92\x06", "Reading an extra element failed: invalid MessagePack or nesting deeper than 64."},
      {"\x92\x06\xc1", "Reading an extra element failed: invalid MessagePack or nesting deeper than 64."},
      // Invocation / StreamInvocation
      {"\x91\x01", "Missing required property 'headers'."},
      {"\x92\x01\x90", "Reading 'headers' as Map failed."},
      {"\x95\x01\x81\xa1h\x01\xc0\xa1T\x90", "Reading 'headers' as Map of String failed."},
      {"\x92\x01\x80", "Missing required property 'invocationId'."},
      {"\x95\x01\x80\x01\xa1T\x90", "Reading 'invocationId' as String failed."},
      {"\x93\x01\x80\xc0", "Missing required property 'target'."},
      {"\x95\x01\x80\xc0\xc0\x90", "Reading 'target' as String failed."},
      {"\x94\x01\x80\xc0\xa1T", "Missing required property 'arguments'."},
      {"\x95\x01\x80\xc0\xa1T\x80", "Reading 'arguments' as Array failed."},
      {"\x95\x01\x80\xc0\xa1T\x91", "Reading 'arguments' failed: invalid MessagePack, a map key that is not a string, "
                                    "or nesting deeper than 64."},
      {"\x95\x01\x80\xc0\xa1T\x91\x81\x01\x02", "Reading 'arguments' failed: invalid MessagePack, a map key that is "
                                               "not a string, or nesting deeper than 64."},
      {"\x96\x01\x80\xc0\xa1T\x90\xa1s", "Reading 'streamIds' as Array failed."},
      {"\x96\x01\x80\xc0\xa1T\x90\x91\x01", "Reading 'streamIds' as Array of String failed."},
      {"\x95\x04\x80\xc0\xa1T\x90", "Missing required property 'invocationId'."},
      {"\x95\x04\x80\xa0\xa1T\x90", "Missing required property 'invocationId'."},
      // StreamItem, Completion, CancelInvocation
      {"\x93\x02\x80\xa1" "1", "Missing required property 'item'."},
      {"\x94\x02\x80\xc0\x01", "Missing required property 'invocationId'."},
      {"\x93\x03\x80\xa1" "1", "Missing required property 'resultKind'."},
      {"\x94\x03\x80\xa1" "1\x04", "Invalid invocation result kind."},
      {"\x94\x03\x80\xa1" "1\x00"s, "Invalid invocation result kind."},
      {"\x94\x03\x80\xa1" "1\xa1" "3", "Invalid invocation result kind."},
      {"\x94\x03\x80\xa1" "1\x03", "Missing required property 'result'."},
      {"\x94\x03\x80\xa1" "1\x01", "Missing required property 'error'."},
      {"\x95\x03\x80\xa1" "1\x01\xc0", "Reading 'error' as String failed."},
      {"\x93\x05\x80\xc0", "Missing required property 'invocationId'."},
      {"\x92\x05\x80", "Missing required property 'invocationId'."},
      // Close, Ack, Sequence
      {"\x91\x07", "Missing required property 'error'."},
      {"\x92\x07\x01", "Reading 'error' as String failed."},
      {"\x93\x07\xc0\x01", "Reading 'allowReconnect' as Boolean failed."},
      {"\x91\x08", "Missing required property 'sequenceId'."},
      {"\x92\x09\xa1" "1", "Reading 'sequenceId' as Int64 failed."},
      {"\x92\x09\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00"s, "Reading 'sequenceId' as Int64 failed."},
      {mp({0x92, 0x08, 0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0}), "Reading 'sequenceId' as Int64 failed."},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(refused(HubProtocol::MessagePack, c.bytes), c.error) << testing::PrintToString(c.bytes);
  }
}

// [2,{},"1", <value>] whose value's containers reach `depth`, the envelope counting 1.
std::string nested_messagepack(std::size_t depth) {
  return "\x94\x02\x80\xa1" "1" + std::string(depth - 2, '\x91') + "\x90";
}

TEST(HubMessagesMessagePack, NestingIsLimitedToMaxDepth) {
  EXPECT_EQ(parse_messagepack_message(nested_messagepack(kMaxDepth)).status, Status::Ok);
  EXPECT_EQ(refused(HubProtocol::MessagePack, nested_messagepack(kMaxDepth + 1)),
            "Reading 'item' failed: invalid MessagePack, a map key that is not a string, or nesting deeper than 64.");
  // Deep enough to overflow the stack of a recursive reader: refused, not a crash.
  EXPECT_EQ(parse_messagepack_message(nested_messagepack(1'000'000)).status, Status::Error);
}

// The JS client's Date (timestamp extension -1, 4, 8 and 12 bytes) and Uint8Array (bin)
// survive parse and write byte for byte.
TEST(HubMessagesMessagePack, TimestampsAndBinaryRoundTripExactly) {
  const std::string body = mp({0x95, 0x01, 0x80, 0xc0, 0xa1, 'T',
                               0x95,                                                      // 5 arguments
                               0xc4, 0x03, 0x00, 0xff, 0x10,                              // bin 8
                               0xd6, 0xff, 0x65, 0x00, 0x00, 0x01,                        // timestamp 32
                               0xd7, 0xff, 0x00, 0x00, 0x00, 0x04, 0x65, 0x00, 0x00, 0x01,  // timestamp 64
                               0xc7, 0x0c, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 0x65, 0, 0, 1,   // timestamp 96
                               0xc5, 0x01, 0x00});                                        // bin 16 ...
  std::string with_bin16 = body + std::string(256, 'b');
  const Message m = parsed(HubProtocol::MessagePack, with_bin16);
  ASSERT_EQ(m.arguments.size(), 5u);
  EXPECT_TRUE(m.arguments.value(0).is_binary());
  EXPECT_FALSE(m.arguments.value(0).get_binary().has_subtype());
  EXPECT_TRUE(m.arguments.value(1).is_binary());
  EXPECT_EQ(m.arguments.value(1).get_binary().subtype(), 0xffu);  // -1
  EXPECT_EQ(m.arguments.value(3).get_binary().size(), 12u);
  std::string framed;
  append_messagepack_message(framed, m);
  EXPECT_EQ(only_message(HubProtocol::MessagePack, framed), with_bin16);
}

// ---- Writing -----------------------------------------------------------------------

TEST(HubMessagesWrite, JsonBytesAreExactly) {
  const HubProtocol j = HubProtocol::Json;
  EXPECT_EQ(written(j, ping()), "{\"type\":6}\x1e");
  EXPECT_EQ(written(j, invocation("", "Send", {"a", 1})), "{\"type\":1,\"target\":\"Send\",\"arguments\":[\"a\",1]}\x1e");
  EXPECT_EQ(written(j, invocation("4", "Up", json::array(), {"5", "6"})),
            "{\"type\":1,\"invocationId\":\"4\",\"target\":\"Up\",\"arguments\":[],\"streamIds\":[\"5\",\"6\"]}\x1e");
  EXPECT_EQ(written(j, invocation("4", "S", {nullptr}, {}, MessageType::StreamInvocation)),
            "{\"type\":4,\"invocationId\":\"4\",\"target\":\"S\",\"arguments\":[null]}\x1e");
  EXPECT_EQ(written(j, stream_item("1", nullptr)), "{\"type\":2,\"invocationId\":\"1\",\"item\":null}\x1e");
  EXPECT_EQ(written(j, completion("1", CompletionKind::Void)), "{\"type\":3,\"invocationId\":\"1\"}\x1e");
  EXPECT_EQ(written(j, completion("1", CompletionKind::Result, nullptr)),
            "{\"type\":3,\"invocationId\":\"1\",\"result\":null}\x1e");
  EXPECT_EQ(written(j, completion("1", CompletionKind::Result, {{"a", 2}})),
            "{\"type\":3,\"invocationId\":\"1\",\"result\":{\"a\":2}}\x1e");
  EXPECT_EQ(written(j, completion("1", CompletionKind::Error, 5, "no")),
            "{\"type\":3,\"invocationId\":\"1\",\"error\":\"no\"}\x1e");  // the result field is not written
  EXPECT_EQ(written(j, with_id(MessageType::CancelInvocation, "1")), "{\"type\":5,\"invocationId\":\"1\"}\x1e");
  EXPECT_EQ(written(j, close()), "{\"type\":7}\x1e");
  EXPECT_EQ(written(j, close("bye")), "{\"type\":7,\"error\":\"bye\"}\x1e");
  EXPECT_EQ(written(j, close("", true)), "{\"type\":7,\"allowReconnect\":true}\x1e");
  EXPECT_EQ(written(j, close("bye", true)), "{\"type\":7,\"error\":\"bye\",\"allowReconnect\":true}\x1e");
  EXPECT_EQ(written(j, sequence(MessageType::Ack, 7)), "{\"type\":8,\"sequenceId\":7}\x1e");
  EXPECT_EQ(written(j, sequence(MessageType::Sequence, INT64_MIN)),
            "{\"type\":9,\"sequenceId\":-9223372036854775808}\x1e");
}

TEST(HubMessagesWrite, JsonStringsAreEscapedAndInvalidUtf8Replaced) {
  const HubProtocol j = HubProtocol::Json;
  EXPECT_EQ(written(j, close("q\" b\\ \n\t\r\b\f \x01\x1f\x7f")),
            "{\"type\":7,\"error\":\"q\\\" b\\\\ \\n\\t\\r\\b\\f \\u0001\\u001f\x7f\"}\x1e");
  // Valid UTF-8 (2, 3 and 4 bytes) passes through.
  EXPECT_EQ(written(j, close("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80")),
            "{\"type\":7,\"error\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}\x1e");
  // Invalid: a stray continuation byte, a truncated sequence (its maximal subpart is one
  // U+FFFD), an overlong form, a surrogate, a byte never used in UTF-8, a sequence cut
  // by the end of the string.
  const std::string fffd = "\xef\xbf\xbd";
  EXPECT_EQ(written(j, close("a\x80" "b\xe2\x82" "c\xc0\xaf" "d\xed\xa0\x80" "e\xff" "f\xf0\x9f\x98")),
            "{\"type\":7,\"error\":\"a" + fffd + "b" + fffd + "c" + fffd + fffd + "d" + fffd + fffd + fffd + "e" +
                fffd + "f" + fffd + "\"}\x1e");
  EXPECT_EQ(written(j, invocation("\xe2", "T\xf0\x9f", json::array(), {"\xc3"})),
            "{\"type\":1,\"invocationId\":\"" + fffd + "\",\"target\":\"T" + fffd +
                "\",\"arguments\":[],\"streamIds\":[\"" + fffd + "\"]}\x1e");
  // Inside values too (nlohmann's replace handler), without an exception.
  EXPECT_EQ(written(j, stream_item("1", {"x\xff"})), "{\"type\":2,\"invocationId\":\"1\",\"item\":[\"x" + fffd + "\"]}\x1e");
  // What is written parses back.
  EXPECT_EQ(parsed(j, only_message(j, written(j, close("a\x80")))), close("a" + fffd));
}

TEST(HubMessagesWrite, MessagePackBytesAreExactly) {
  const HubProtocol p = HubProtocol::MessagePack;
  EXPECT_EQ(written(p, ping()), "\x02\x91\x06");
  EXPECT_EQ(written(p, invocation("", "Echo", {"x"})), "\x0c\x95\x01\x80\xc0\xa4" "Echo" "\x91\xa1" "x");
  EXPECT_EQ(written(p, invocation("3", "Concat", json::array(), {"2"})),
            "\x10\x96\x01\x80\xa1" "3" "\xa6" "Concat" "\x90\x91\xa1" "2");
  EXPECT_EQ(written(p, invocation("3", "S", {1}, {}, MessageType::StreamInvocation)),
            "\x09\x95\x04\x80\xa1" "3" "\xa1" "S" "\x91\x01");
  EXPECT_EQ(written(p, stream_item("1", nullptr)), "\x06\x94\x02\x80\xa1" "1" "\xc0");
  EXPECT_EQ(written(p, completion("1", CompletionKind::Void)), "\x06\x94\x03\x80\xa1" "1" "\x02");
  EXPECT_EQ(written(p, completion("1", CompletionKind::Result, 10)), "\x07\x95\x03\x80\xa1" "1" "\x03\x0a");
  EXPECT_EQ(written(p, completion("1", CompletionKind::Result, nullptr)), "\x07\x95\x03\x80\xa1" "1" "\x03\xc0");
  EXPECT_EQ(written(p, completion("1", CompletionKind::Error, nullptr, "no")),
            "\x09\x95\x03\x80\xa1" "1" "\x01\xa2" "no");
  EXPECT_EQ(written(p, with_id(MessageType::CancelInvocation, "1")), "\x05\x93\x05\x80\xa1" "1");
  EXPECT_EQ(written(p, close()), "\x03\x92\x07\xc0");
  EXPECT_EQ(written(p, close("e")), "\x04\x92\x07\xa1" "e");
  EXPECT_EQ(written(p, close("", true)), "\x04\x93\x07\xc0\xc3");
  EXPECT_EQ(written(p, close("e", true)), "\x05\x93\x07\xa1" "e" "\xc3");
  // Sequence ids in their shortest integer encodings.
  EXPECT_EQ(written(p, sequence(MessageType::Ack, 127)), "\x03\x92\x08\x7f");
  EXPECT_EQ(written(p, sequence(MessageType::Ack, 128)), "\x04\x92\x08\xcc\x80");
  EXPECT_EQ(written(p, sequence(MessageType::Ack, 65536)), mp({7, 0x92, 0x08, 0xce, 0, 1, 0, 0}));
  EXPECT_EQ(written(p, sequence(MessageType::Ack, std::int64_t{1} << 32)), mp({11, 0x92, 0x08, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0}));
  EXPECT_EQ(written(p, sequence(MessageType::Sequence, -32)), "\x03\x92\x09\xe0");
  EXPECT_EQ(written(p, sequence(MessageType::Sequence, -33)), "\x04\x92\x09\xd0\xdf");
  EXPECT_EQ(written(p, sequence(MessageType::Sequence, -129)), "\x05\x92\x09\xd1\xff\x7f");
  EXPECT_EQ(written(p, sequence(MessageType::Sequence, INT64_MIN)), mp({11, 0x92, 0x09, 0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0}));
}

TEST(HubMessagesWrite, MessagePackStringsUseTheirLengthsEncodings) {
  const HubProtocol p = HubProtocol::MessagePack;
  for (std::size_t n : {31u, 32u, 255u, 256u, 65535u, 65536u}) {
    const Message m = close(std::string(n, 'e'));
    const std::string framed = written(p, m);
    const std::string_view body = only_message(p, framed);
    ASSERT_GE(body.size(), 3u);
    const auto marker = static_cast<unsigned char>(body[2]);
    EXPECT_EQ(marker, n <= 31 ? 0xa0 + n : n <= 255 ? 0xd9 : n <= 65535 ? 0xda : 0xdb) << n;
    EXPECT_EQ(parsed(p, body), m) << n;
  }
}

// The VarInt prefix grows to two bytes at a 128-byte body; the body is moved, not lost.
TEST(HubMessagesWrite, MessagePackPrefixAt127And128Bytes) {
  const HubProtocol p = HubProtocol::MessagePack;
  // [1,{},nil,<str 8 target>,[]]: 4 + (2 + n) + 1 bytes.
  const Message at127 = invocation("", std::string(120, 't'), json::array());
  const Message at128 = invocation("", std::string(121, 't'), json::array());
  const std::string a = written(p, at127), b = written(p, at128);
  ASSERT_EQ(a.size(), 128u);
  EXPECT_EQ(a[0], '\x7f');
  EXPECT_EQ(a.substr(1, 4), "\x95\x01\x80\xc0");
  ASSERT_EQ(b.size(), 130u);
  EXPECT_EQ(b.substr(0, 2), "\x80\x01");
  EXPECT_EQ(b.substr(2, 4), "\x95\x01\x80\xc0");
  EXPECT_EQ(b.back(), '\x90');
  EXPECT_EQ(parsed(p, only_message(p, a)), at127);
  EXPECT_EQ(parsed(p, only_message(p, b)), at128);
  // Appending keeps what out already held.
  std::string out = "\x02\x91\x06";
  append_messagepack_message(out, at128);
  EXPECT_EQ(out, "\x02\x91\x06" + b);
}

// Everything written parses back to the same message, in both protocols.
TEST(HubMessagesWrite, EveryTypeRoundTripsInBothProtocols) {
  const json values = json::parse(R"([null, true, -5, 18446744073709551615, 2.5, "s\u00e9", [1, [2]], {"k": {"n": null}}])");
  const std::vector<Message> messages = {
      invocation("", "Fire", values),
      invocation("0", "Call", json::array()),
      invocation("7", "Upload", {1}, {"8", "9"}),
      invocation("3", "Stream", values, {}, MessageType::StreamInvocation),
      invocation("3", "Stream", json::array(), {"4"}, MessageType::StreamInvocation),
      stream_item("3", values),
      stream_item("3", nullptr),
      completion("3", CompletionKind::Void),
      completion("3", CompletionKind::Result, nullptr),
      completion("3", CompletionKind::Result, values),
      completion("3", CompletionKind::Error, nullptr, "It failed."),
      with_id(MessageType::CancelInvocation, "3"),
      ping(),
      close(),
      close("Server closed.", true),
      close("", true),
      sequence(MessageType::Ack, 0),
      sequence(MessageType::Ack, INT64_MAX),
      sequence(MessageType::Sequence, -1),
  };
  for (HubProtocol p : {HubProtocol::Json, HubProtocol::MessagePack}) {
    std::string payload;
    for (const Message& m : messages) append_message(payload, p, m);
    std::vector<std::string_view> pieces;
    const FramingError e = p == HubProtocol::Json ? split_json(payload, 1 << 20, pieces)
                                                  : split_messagepack(payload, 1 << 20, pieces);
    ASSERT_EQ(e, FramingError::None);
    ASSERT_EQ(pieces.size(), messages.size());
    for (std::size_t i = 0; i < messages.size(); ++i) {
      EXPECT_EQ(parsed(p, pieces[i]), messages[i]) << protocol_name(p) << " #" << i;
    }
  }
}

}  // namespace
}  // namespace wirehub::hub
