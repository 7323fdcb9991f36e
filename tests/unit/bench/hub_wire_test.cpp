// The bench's hand-written client side of the hub protocols, checked against the bytes
// PROTOCOL.md gives and against the project's own hub codec (src/hub), which parses what
// the bench writes and writes what the bench must read.

#include "hub_wire.hpp"

#include <gtest/gtest.h>

#include <string>
#include <variant>
#include <vector>

#include "hub/framing.hpp"
#include "hub/handshake.hpp"
#include "hub/messages.hpp"

namespace wirehub::bench {
namespace {

using namespace std::string_literals;

hub::HubProtocol server_side(HubProtocol p) {
  return p == HubProtocol::Json ? hub::HubProtocol::Json : hub::HubProtocol::MessagePack;
}

// Strings that exercise every escape and every MessagePack string width.
std::vector<std::string> awkward_strings() {
  std::vector<std::string> v = {"", "x", "quote \" and backslash \\", "ctl \x01\x1f\n\t end", "caf\xc3\xa9 \xf0\x9f\x98\x80",
                                "@@@\\@\x7f@@"};
  for (std::size_t n : {31u, 32u, 255u, 256u, 65535u, 65536u}) v.emplace_back(n, 'k');
  return v;
}

TEST(HubWire, ProtocolNames) {
  EXPECT_EQ(parse_hub_protocol("json"), HubProtocol::Json);
  EXPECT_EQ(parse_hub_protocol("messagepack"), HubProtocol::MessagePack);
  EXPECT_EQ(parse_hub_protocol("JSON"), std::nullopt);
  EXPECT_EQ(hub_protocol_name(HubProtocol::MessagePack), "messagepack");
}

TEST(HubWire, HandshakeRequestIsJsonTextOnBothProtocols) {
  EXPECT_EQ(hub_handshake_request(HubProtocol::Json), "{\"protocol\":\"json\",\"version\":1}\x1e");
  EXPECT_EQ(hub_handshake_request(HubProtocol::MessagePack), "{\"protocol\":\"messagepack\",\"version\":1}\x1e");
  // The server's handshake parser takes both, as the protocol asked for.
  for (auto p : {HubProtocol::Json, HubProtocol::MessagePack}) {
    const std::string req = hub_handshake_request(p);
    const auto judged = hub::parse_handshake(std::string_view(req).substr(0, req.size() - 1), /*binary_transport=*/true);
    ASSERT_TRUE(std::holds_alternative<hub::HandshakeRequest>(judged)) << req;
    EXPECT_EQ(std::get<hub::HandshakeRequest>(judged).protocol, server_side(p));
  }
}

TEST(HubWire, HandshakeAnswer) {
  std::string why;
  EXPECT_EQ(check_handshake_response("{}\x1e", &why), 3u);
  // Messages may follow the answer in the same payload.
  EXPECT_EQ(check_handshake_response("{}\x1e{\"type\":6}\x1e", &why), 3u);
  EXPECT_EQ(check_handshake_response(" { } \x1e", &why), 6u);

  EXPECT_EQ(check_handshake_response("{\"error\":\"The protocol 'x' is not supported.\"}\x1e", &why), 0u);
  EXPECT_NE(why.find("The protocol 'x' is not supported."), std::string::npos) << why;
  EXPECT_EQ(check_handshake_response("{}", &why), 0u);
  EXPECT_NE(why.find("record separator"), std::string::npos) << why;
  EXPECT_EQ(check_handshake_response("{\"type\":6}\x1e", &why), 0u);
  EXPECT_EQ(check_handshake_response("[]\x1e", &why), 0u);
}

TEST(HubWire, JsonInvocationBytes) {
  std::string out;
  append_invocation(out, HubProtocol::Json, 7, "Echo", {"a\"b\\c\x01"});
  EXPECT_EQ(out, R"({"type":1,"invocationId":"7","target":"Echo","arguments":["a\"b\\c\u0001"]})"
                 "\x1e");
  out.clear();
  append_invocation(out, HubProtocol::Json, std::nullopt, "Publish", {"g", "p"});
  EXPECT_EQ(out, R"({"type":1,"target":"Publish","arguments":["g","p"]})"
                 "\x1e");
}

TEST(HubWire, MessagePackInvocationBytes) {
  std::string out;
  append_invocation(out, HubProtocol::MessagePack, 7, "Echo", {"x"});
  // [1, {}, "7", "Echo", ["x"]] after its length, 13.
  EXPECT_EQ(out, "\x0d\x95\x01\x80\xa1"s + "7\xa4" + "Echo\x91\xa1x");
  out.clear();
  append_invocation(out, HubProtocol::MessagePack, std::nullopt, "J", {});
  EXPECT_EQ(out, "\x07\x95\x01\x80\xc0\xa1J\x90"s);
}

// What the bench writes, the server's parser reads back as the same call, at every
// string width and escape, with the length prefix right (one message, nothing left).
TEST(HubWire, InvocationsParseOnTheServer) {
  for (auto p : {HubProtocol::Json, HubProtocol::MessagePack}) {
    for (const std::string& s : awkward_strings()) {
      for (std::optional<std::uint64_t> id : {std::optional<std::uint64_t>(), std::optional<std::uint64_t>(0),
                                              std::optional<std::uint64_t>(18446744073709551615ull)}) {
        std::string out;
        append_invocation(out, p, id, "Publish", {"group", s});
        EXPECT_LE(out.size(), invocation_bound(7, 5 + s.size(), 2));
        std::vector<std::string_view> parts;
        const auto err = p == HubProtocol::Json ? hub::split_json(out, 1 << 20, parts)
                                                : hub::split_messagepack(out, 1 << 20, parts);
        ASSERT_EQ(err, hub::FramingError::None);
        ASSERT_EQ(parts.size(), 1u);
        const auto r = hub::parse_message(server_side(p), parts[0]);
        ASSERT_EQ(r.status, hub::ParseResult::Status::Ok) << r.error;
        EXPECT_EQ(r.message.type, hub::MessageType::Invocation);
        EXPECT_EQ(r.message.invocation_id, id ? std::to_string(*id) : "");
        EXPECT_EQ(r.message.target, "Publish");
        EXPECT_EQ(r.message.arguments, nlohmann::json::array({"group", s}));
      }
    }
  }
}

// The messages a hub sends, written by the server's writer, read by the bench.
class ReadsServerMessages : public testing::TestWithParam<HubProtocol> {
 protected:
  std::string write(const hub::Message& m) {
    std::string out;
    hub::append_message(out, server_side(GetParam()), m);
    return out;
  }
};

TEST_P(ReadsServerMessages, CompletionsOfEveryKind) {
  for (const std::string& s : awkward_strings()) {
    hub::Message m;
    m.type = hub::MessageType::Completion;
    m.invocation_id = "42";
    m.completion = hub::CompletionKind::Result;
    m.result = s;
    const std::string payload = write(m);
    HubReader r(GetParam());
    r.reset(payload);
    HubMessage got;
    ASSERT_EQ(r.next(got), HubReader::Status::Message) << r.error();
    EXPECT_EQ(got.type, kHubCompletion);
    EXPECT_EQ(got.invocation_id, "42");
    EXPECT_EQ(got.outcome, HubMessage::Outcome::String);
    EXPECT_EQ(got.text, s);
    EXPECT_EQ(r.next(got), HubReader::Status::End);
  }
  hub::Message m;
  m.type = hub::MessageType::Completion;
  m.invocation_id = "1";
  std::string payload = write(m);  // void
  m.completion = hub::CompletionKind::Result;
  m.result = nlohmann::json::array({1, "two", nullptr});
  payload += write(m);
  m.completion = hub::CompletionKind::Error;
  m.error = "An unexpected error occurred invoking 'Echo' on the server.";
  payload += write(m);
  HubReader r(GetParam());
  r.reset(payload);
  HubMessage got;
  ASSERT_EQ(r.next(got), HubReader::Status::Message);
  EXPECT_EQ(got.outcome, HubMessage::Outcome::None);
  ASSERT_EQ(r.next(got), HubReader::Status::Message);
  EXPECT_EQ(got.outcome, HubMessage::Outcome::Other);
  ASSERT_EQ(r.next(got), HubReader::Status::Message);
  EXPECT_EQ(got.outcome, HubMessage::Outcome::Error);
  EXPECT_EQ(got.text, m.error);
  EXPECT_EQ(r.next(got), HubReader::Status::End);
}

TEST_P(ReadsServerMessages, InvocationsPingAndClose) {
  hub::Message inv;
  inv.type = hub::MessageType::Invocation;
  inv.target = "receive";
  inv.arguments = nlohmann::json::array({"@@@@\\@\x7f@payload"});
  hub::Message two_args = inv;
  two_args.arguments = nlohmann::json::array({nlohmann::json::object({{"a", {1, 2}}}), "second"});
  two_args.invocation_id = "c5";
  hub::Message ping;
  ping.type = hub::MessageType::Ping;
  hub::Message close;
  close.type = hub::MessageType::Close;
  close.error = "Server is shutting down.";
  close.allow_reconnect = true;
  const std::string payload = write(inv) + write(ping) + write(two_args) + write(close);

  HubReader r(GetParam());
  r.reset(payload);
  HubMessage got;
  ASSERT_EQ(r.next(got), HubReader::Status::Message) << r.error();
  EXPECT_EQ(got.type, kHubInvocation);
  EXPECT_EQ(got.target, "receive");
  EXPECT_EQ(got.invocation_id, "");
  EXPECT_EQ(got.arguments, 1u);
  EXPECT_TRUE(got.first_argument_is_string);
  EXPECT_EQ(got.first_argument, "@@@@\\@\x7f@payload");
  ASSERT_EQ(r.next(got), HubReader::Status::Message);
  EXPECT_EQ(got.type, kHubPing);
  ASSERT_EQ(r.next(got), HubReader::Status::Message);
  EXPECT_EQ(got.type, kHubInvocation);
  EXPECT_EQ(got.invocation_id, "c5");
  EXPECT_EQ(got.arguments, 2u);
  EXPECT_FALSE(got.first_argument_is_string);
  ASSERT_EQ(r.next(got), HubReader::Status::Message);
  EXPECT_EQ(got.type, kHubClose);
  EXPECT_EQ(got.outcome, HubMessage::Outcome::Error);
  EXPECT_EQ(got.text, "Server is shutting down.");
  EXPECT_EQ(r.next(got), HubReader::Status::End);
}

INSTANTIATE_TEST_SUITE_P(BothProtocols, ReadsServerMessages,
                         testing::Values(HubProtocol::Json, HubProtocol::MessagePack),
                         [](const testing::TestParamInfo<HubProtocol>& p) { return std::string(hub_protocol_name(p.param)); });

// Another server may order properties otherwise, add headers and whitespace, and escape
// what it need not.
TEST(HubReaderJson, AnyPropertyOrderHeadersAndEscapes) {
  const std::string payload =
      " { \"invocationId\" : \"3\", \"headers\":{\"a\":\"b\"}, \"result\":\"x\\u00e9\\/\\ud83d\\ude00\", "
      "\"type\" : 3 }\x1e";
  HubReader r(HubProtocol::Json);
  r.reset(payload);
  HubMessage got;
  ASSERT_EQ(r.next(got), HubReader::Status::Message) << r.error();
  EXPECT_EQ(got.type, kHubCompletion);
  EXPECT_EQ(got.invocation_id, "3");
  EXPECT_EQ(got.outcome, HubMessage::Outcome::String);
  EXPECT_EQ(got.text, "x\xc3\xa9/\xf0\x9f\x98\x80");
}

TEST(HubReaderJson, RefusesMalformedMessages) {
  for (const std::string& bad : std::vector<std::string>{
           "{\"type\":3,\"invocationId\":\"1\"}",             // no record separator
           "{\"invocationId\":\"1\"}\x1e",                     // no type
           "{\"type\":3,\"invocationId\":\"1\",\"result\":1,\"error\":\"e\"}\x1e",  // both outcomes
           "{\"type\":3,\"error\":\"e\",\"result\":\"r\"}\x1e",
           "{\"type\":3,\"result\":\"a\\qb\"}\x1e",            // unknown escape
           "{\"type\":3,\"result\":\"\\ud83d\"}\x1e",          // lone surrogate
           "{\"type\":3,\"result\":\"a\nb\"}\x1e",             // raw control character
           "{\"type\":3}x\x1e",                                 // text after the object
           "{\"type\":1.5}\x1e",
       }) {
    HubReader r(HubProtocol::Json);
    r.reset(bad);
    HubMessage got;
    EXPECT_EQ(r.next(got), HubReader::Status::Error) << bad;
    EXPECT_NE(r.error(), nullptr);
    EXPECT_EQ(r.next(got), HubReader::Status::Error) << "an error is sticky";
  }
}

TEST(HubReaderMessagePack, RefusesMalformedMessages) {
  for (const std::string& bad : {
           "\x80\x80\x80\x80\x80\x01"s,              // a six-byte length
           "\x05\x94\x03\x80"s,                      // shorter than announced
           "\x03\x93\x03\x80"s,                      // Completion without id
           "\x05\x94\x03\x80\xa1" "1"s,              // ... without a result kind
           "\x06\x94\x03\x80\xa1" "1\x05"s,           // unknown result kind
           "\x06\x94\x03\x80\xa1" "1\x03"s,           // kind 3 without its value
           "\x03\x91\x06\xc0"s,                       // bytes after the array
           "\x02\x91\xc1"s,                           // never-used byte
       }) {
    HubReader r(HubProtocol::MessagePack);
    r.reset(bad);
    HubMessage got;
    EXPECT_EQ(r.next(got), HubReader::Status::Error) << testing::PrintToString(bad);
  }
}

TEST(HubReaderMessagePack, SkipsHeadersAndExtraElements) {
  // [3, {"k": "v"}, "9", 3, "r", true] and [2 (StreamItem), {}, "1", nil]: a type the bench
  // does not use is read past.
  const std::string payload = "\x0d\x96\x03\x81\xa1k\xa1v\xa1" "9\x03\xa1r\xc3"s + "\x06\x94\x02\x80\xa1" "1\xc0"s;
  HubReader r(HubProtocol::MessagePack);
  r.reset(payload);
  HubMessage got;
  ASSERT_EQ(r.next(got), HubReader::Status::Message) << r.error();
  EXPECT_EQ(got.invocation_id, "9");
  EXPECT_EQ(got.text, "r");
  ASSERT_EQ(r.next(got), HubReader::Status::Message) << r.error();
  EXPECT_EQ(got.type, 2);
  EXPECT_EQ(r.next(got), HubReader::Status::End);
}

}  // namespace
}  // namespace wirehub::bench
