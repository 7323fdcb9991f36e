#include "hub/json_invocation.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace wirehub::hub {
namespace {

using nlohmann::json;

bool taken(std::string_view text) {
  Message m;
  return read_json_invocation(text, m);
}

Message read(std::string_view text) {
  Message m;
  EXPECT_TRUE(read_json_invocation(text, m)) << text;
  return m;
}

// What nlohmann's document says the Invocation is: the reference the reader must agree
// with whenever it takes a message.
void expect_same_as_nlohmann(std::string_view text, const Message& m) {
  const json doc = json::parse(text.begin(), text.end(), nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << "taken but nlohmann refuses: " << text;
  EXPECT_EQ(static_cast<int>(m.type), doc["type"].get<int>()) << text;
  const json* id = doc.contains("invocationId") ? &doc["invocationId"] : nullptr;
  EXPECT_EQ(m.invocation_id, id && id->is_string() ? id->get<std::string>() : "") << text;
  EXPECT_EQ(m.target, doc["target"].get<std::string>()) << text;
  EXPECT_TRUE(m.arguments.on_wire());
  EXPECT_EQ(m.arguments.to_json(), doc["arguments"]) << text;
  std::vector<std::string> ids;
  if (doc.contains("streamIds") && !doc["streamIds"].is_null()) ids = doc["streamIds"].get<std::vector<std::string>>();
  EXPECT_EQ(m.stream_ids, ids) << text;
}

TEST(HubJsonInvocation, TakesWhatTheJsClientSends) {
  for (const char* text : {
           R"({"target":"Echo","arguments":["x"],"invocationId":"0","type":1})",
           R"({"target":"Echo","arguments":["x"],"type":1})",
           R"({"target":"Concat","arguments":[],"invocationId":"3","streamIds":["2"],"type":1})",
           R"({"type":4,"invocationId":"5","target":"Count","arguments":[3,{"a":[true,null,-1.5e3]}]})",
           R"({"headers":{"traceparent":"00-ab"},"type":1,"target":"T","arguments":[],"later":{"x":[1]}})",
           " {\"type\" : 1 , \"target\":\"T\" ,\"arguments\" : [ 1 , \"a\" ] }\r\n\t",
           R"({"type":1,"invocationId":null,"target":"T","arguments":[],"streamIds":null,"headers":null})",
           R"({"type":1,"target":"T","arguments":[18446744073709551615,-9223372036854775808,18446744073709551616]})",
           R"({"type":1,"target":"T","arguments":[0,-0,1e308,0.5,-0.0,1E+2,2e-2]})",
           R"({"type":1,"target":"T\u00e9\n","arguments":["\ud83d\ude00 \"\\\/\b\f\n\r\t\u0000","é€𝄞"]})",
           R"({"type":1,"target":"T","arguments":[],"x":"\u00e9","":[{},[]],"y":true,"z":false,"w":null})",
       }) {
    Message m;
    ASSERT_TRUE(read_json_invocation(text, m)) << text;
    expect_same_as_nlohmann(text, m);
  }
}

TEST(HubJsonInvocation, KeepsTheArgumentsAsWireText) {
  const Message m = read(R"({"type":1,"target":"Echo","arguments":[ "x" ,{"a" : [1]}, 2 ],"invocationId":"7"})");
  EXPECT_EQ(m.type, MessageType::Invocation);
  EXPECT_EQ(m.invocation_id, "7");
  EXPECT_EQ(m.target, "Echo");
  ASSERT_EQ(m.arguments.size(), 3u);
  EXPECT_EQ(m.arguments.value(0), "x");
  EXPECT_EQ(m.arguments.value(1), json::parse(R"({"a":[1]})"));
  EXPECT_EQ(m.arguments.value(2), 2);
}

// Everything the reader leaves to the general path: other types, whatever is refused,
// and what it does not try to match (duplicates, escaped names, a BOM, headers that are
// not an object of strings, numbers a double does not hold).
TEST(HubJsonInvocation, LeavesEverythingElseToTheGeneralPath) {
  for (const char* text : {
           "", "{", "[]", "null", "{}", R"({"type":6})", R"({"type":2,"invocationId":"1","item":1})",
           R"({"type":3,"invocationId":"1","result":"x"})", R"({"type":7})",
           // the type
           R"({"type":"1","target":"T","arguments":[]})", R"({"type":1.0,"target":"T","arguments":[]})",
           R"({"type":-1,"target":"T","arguments":[]})", R"({"type":null,"target":"T","arguments":[]})",
           R"({"type":18446744073709551617,"target":"T","arguments":[]})", R"({"target":"T","arguments":[]})",
           // required properties and their types
           R"({"type":1,"arguments":[]})", R"({"type":1,"target":null,"arguments":[]})",
           R"({"type":1,"target":1,"arguments":[]})", R"({"type":1,"target":"T"})",
           R"({"type":1,"target":"T","arguments":null})", R"({"type":1,"target":"T","arguments":{}})",
           R"({"type":1,"invocationId":1,"target":"T","arguments":[]})",
           R"({"type":4,"target":"T","arguments":[]})", R"({"type":4,"invocationId":"","target":"T","arguments":[]})",
           R"({"type":4,"invocationId":null,"target":"T","arguments":[]})",
           R"({"type":1,"target":"T","arguments":[],"streamIds":"2"})",
           R"({"type":1,"target":"T","arguments":[],"streamIds":[2]})",
           R"({"type":1,"target":"T","arguments":[],"headers":[]})",
           R"({"type":1,"target":"T","arguments":[],"headers":{"a":1}})",
           R"({"type":1,"target":"T","arguments":[],"headers":{"a":null}})",
           // names: duplicates (nlohmann keeps the last), escapes (may spell a name we read)
           R"({"type":1,"target":"T","arguments":[],"type":1})", R"({"type":1,"target":"T","arguments":[1],"arguments":[]})",
           R"({"type":1,"t\u0061rget":"T","arguments":[]})", R"({"type":1,"target":"T","arguments":[],"\u0078":1})",
           // not JSON, or not as nlohmann reads it
           "\xef\xbb\xbf{\"type\":1,\"target\":\"T\",\"arguments\":[]}",  // a BOM nlohmann skips
           R"({"type":1,"target":"T","arguments":[]} x)", R"({"type":1,"target":"T","arguments":[]},)",
           R"({"type":1,"target":"T","arguments":[],})", R"({"type":1,"target":"T","arguments":[1,]})",
           R"({"type":1,"target":"T","arguments":[01]})", R"({"type":1,"target":"T","arguments":[1.]})",
           R"({"type":1,"target":"T","arguments":[.5]})", R"({"type":1,"target":"T","arguments":[1e]})",
           R"({"type":1,"target":"T","arguments":[-]})", R"({"type":1,"target":"T","arguments":[+1]})",
           R"({"type":1,"target":"T","arguments":[1e400]})", R"({"type":1,"target":"T","arguments":[1e-400]})",
           R"({"type":1,"target":"T","arguments":[tru]})", R"({"type":1,"target":"T","arguments":[nul]})",
           R"({"type":1,"target":"T","arguments":[True]})", R"({"type":1 "target":"T","arguments":[]})",
           R"({"type":1,"target" "T","arguments":[]})", R"({type:1,"target":"T","arguments":[]})",
           R"({"type":1,"target":"T","arguments":["\x"]})", R"({"type":1,"target":"T","arguments":["\u12"]})",
           R"({"type":1,"target":"T","arguments":["\ud800"]})", R"({"type":1,"target":"T","arguments":["\udc00"]})",
           R"({"type":1,"target":"T","arguments":["\ud800\u0041"]})", R"({"type":1,"target":"T","arguments":["\ud800x"]})",
           "{\"type\":1,\"target\":\"T\",\"arguments\":[\"\t\"]}",  // a raw control character
       }) {
    EXPECT_FALSE(taken(text)) << text;
  }
  // Ill-formed UTF-8 in a string: a bad continuation, overlong forms, a surrogate, past
  // U+10FFFF, sequences cut short, a lone continuation byte, and a text cut short.
  for (const char* bytes : {"\xc3\x28", "\xe0\x80\x80", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                            "\xf5\x80\x80\x80", "\xe2\x82", "\xf0\x9f\x98", "\x80", "\xff"}) {
    const std::string text = std::string(R"({"type":1,"target":"T","arguments":[")") + bytes + R"("]})";
    EXPECT_FALSE(taken(text)) << text;
  }
  EXPECT_FALSE(taken(R"({"type":1,"target":"T","arguments":[")"));
  // The edges of the well-formed ranges are taken: U+0080, U+0800, U+D7FF, U+E000, U+10000, U+10FFFF.
  for (const char* bytes : {"\xc2\x80", "\xe0\xa0\x80", "\xed\x9f\xbf", "\xee\x80\x80", "\xf0\x90\x80\x80",
                            "\xf4\x8f\xbf\xbf"}) {
    const std::string text = std::string(R"({"type":1,"target":"T","arguments":[")") + bytes + R"("]})";
    EXPECT_TRUE(taken(text)) << text;
  }
}

std::string nested(std::size_t depth) {
  return R"({"type":1,"target":"T","arguments":)" + std::string(depth - 1, '[') + std::string(depth - 1, ']') + "}";
}

TEST(HubJsonInvocation, NestingUpToMaxDepthIsTaken) {
  EXPECT_TRUE(taken(nested(kMaxDepth)));
  EXPECT_FALSE(taken(nested(kMaxDepth + 1)));
  // Objects count as arrays do, in any property.
  std::string objects = R"({"type":1,"target":"T","arguments":[],"x":)";
  for (std::size_t i = 1; i < kMaxDepth; ++i) objects += R"({"a":)";
  objects += "1" + std::string(kMaxDepth - 1, '}') + "}";
  EXPECT_TRUE(taken(objects));
  EXPECT_FALSE(taken(R"({"type":1,"target":"T","arguments":[],"x":{"b":)" + objects.substr(1) + "}"));
}

TEST(HubJsonInvocation, DecodesEveryEscape) {
  std::string out = "kept:";
  decode_json_string(R"(a\"b\\c\/d\be\ff\ng\rh\ti\u0000j\u00e9\u20ac\ud834\udd1e\uD83D\uDE00z)", out);
  EXPECT_EQ(out, std::string("kept:a\"b\\c/d\be\ff\ng\rh\ti") + std::string(1, '\0') +
                     "j\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e\xf0\x9f\x98\x80z");
}

// Random edits of good messages: whatever the reader takes, nlohmann accepts and reads
// the same way; and it takes every message that nlohmann accepts without the edits'
// oddities (checked by the table above), so only agreement is asserted here.
TEST(HubJsonInvocation, AgreesWithNlohmannOnRandomEdits) {
  const std::vector<std::string> seeds = {
      R"({"type":1,"invocationId":"12","target":"Echo",)"
      R"("arguments":["h\u00e9llo",42,-7,true,null,[1,{"k":"v"}]],"streamIds":["a"]})",
      R"({"target":"Send","arguments":[3.25,"\ud83d\ude00",{"a":{"b":[false]}}],)"
      R"("headers":{"h":"v"},"type":4,"invocationId":"x"})",
  };
  const std::string alphabet = "{}[]\":,\\u0123456789abcdefnrtlsux-+.eE \t\n\x1e\xc3\xa9\xed\xa0\x80\xf0\x9f";
  std::mt19937 rng(20261126);
  int agreed = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string text = seeds[static_cast<std::size_t>(round) % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      const std::size_t at = rng() % (text.size() + 1);
      switch (rng() % 3) {
        case 0: text.insert(at, 1, alphabet[rng() % alphabet.size()]); break;
        case 1: if (at < text.size()) text.erase(at, 1); break;
        default: if (at < text.size()) text[at] = alphabet[rng() % alphabet.size()]; break;
      }
    }
    Message m;
    if (!read_json_invocation(text, m)) continue;
    expect_same_as_nlohmann(text, m);
    if (::testing::Test::HasFailure()) return;
    ++agreed;
  }
  EXPECT_GT(agreed, 1000);  // the edits leave many messages the reader still takes
}

}  // namespace
}  // namespace wirehub::hub
