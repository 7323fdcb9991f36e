#include "hub/negotiate.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include <nlohmann/json.hpp>

namespace wirehub::hub {
namespace {

NegotiateRequest accepted(std::string_view query) {
  auto r = parse_negotiate_query(query);
  EXPECT_TRUE(std::holds_alternative<NegotiateRequest>(r)) << query;
  return std::holds_alternative<NegotiateRequest>(r) ? std::get<NegotiateRequest>(r) : NegotiateRequest{-1, false};
}

std::string refused(std::string_view query) {
  auto r = parse_negotiate_query(query);
  EXPECT_TRUE(std::holds_alternative<std::string>(r)) << query;
  return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : std::string();
}

constexpr std::string_view kNonInteger = "The client requested a non-integer protocol version.";

TEST(HubNegotiate, RandomIdsAre22UrlSafeCharactersAndDistinct) {
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::set<std::string> seen;
  std::set<char> first_chars;
  for (int i = 0; i < 10'000; ++i) {
    const std::string id = random_id();
    ASSERT_EQ(id.size(), 22u) << id;
    for (char c : id) ASSERT_NE(alphabet.find(c), std::string::npos) << id;
    // 128 bits fill 21 characters and 2 bits of the last; its 4 low bits are padding zeros.
    ASSERT_EQ(alphabet.find(id.back()) % 16, 0u) << id;
    first_chars.insert(id.front());
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 10'000u);
  // Each of the 64 characters starts some id (missing one by chance: about 64 * (63/64)^10000).
  EXPECT_EQ(first_chars.size(), 64u);
}

TEST(HubNegotiate, TransportNamesAreTheOnesClientsMatch) {
  EXPECT_EQ(transport_name(Transport::WebSockets), "WebSockets");
  EXPECT_EQ(transport_name(Transport::ServerSentEvents), "ServerSentEvents");
  EXPECT_EQ(transport_name(Transport::LongPolling), "LongPolling");
}

TEST(HubNegotiate, VersionOneBodyListsAllTransportsInOrderWithTheirFormats) {
  NegotiateAnswer a;
  a.connection_id = "id-1";
  a.connection_token = "tok_2";
  EXPECT_EQ(negotiate_body(a),
            R"({"negotiateVersion":1,"connectionId":"id-1","connectionToken":"tok_2","availableTransports":[)"
            R"({"transport":"WebSockets","transferFormats":["Text","Binary"]},)"
            R"({"transport":"ServerSentEvents","transferFormats":["Text"]},)"
            R"({"transport":"LongPolling","transferFormats":["Text","Binary"]}]})");
}

TEST(HubNegotiate, VersionZeroBodyHasNoToken) {
  NegotiateAnswer a;
  a.version = 0;
  a.connection_id = "id";
  a.connection_token = "secret";
  a.transports = static_cast<unsigned>(Transport::WebSockets);
  EXPECT_EQ(negotiate_body(a),
            R"({"negotiateVersion":0,"connectionId":"id","availableTransports":[)"
            R"({"transport":"WebSockets","transferFormats":["Text","Binary"]}]})");
}

TEST(HubNegotiate, DisabledTransportsAreLeftOutAndTextOnlyHubsListNoBinary) {
  NegotiateAnswer a;
  a.connection_id = "i";
  a.connection_token = "t";
  a.transports = static_cast<unsigned>(Transport::ServerSentEvents) | static_cast<unsigned>(Transport::LongPolling);
  a.binary_formats = false;
  EXPECT_EQ(negotiate_body(a),
            R"({"negotiateVersion":1,"connectionId":"i","connectionToken":"t","availableTransports":[)"
            R"({"transport":"ServerSentEvents","transferFormats":["Text"]},)"
            R"({"transport":"LongPolling","transferFormats":["Text"]}]})");
  a.transports = static_cast<unsigned>(Transport::WebSockets) | static_cast<unsigned>(Transport::LongPolling);
  a.binary_formats = true;
  EXPECT_EQ(negotiate_body(a),
            R"({"negotiateVersion":1,"connectionId":"i","connectionToken":"t","availableTransports":[)"
            R"({"transport":"WebSockets","transferFormats":["Text","Binary"]},)"
            R"({"transport":"LongPolling","transferFormats":["Text","Binary"]}]})");
  a.transports = 0;
  EXPECT_EQ(negotiate_body(a), R"({"negotiateVersion":1,"connectionId":"i","connectionToken":"t","availableTransports":[]})");
}

TEST(HubNegotiate, StatefulReconnectIsWrittenOnlyWhenSet) {
  NegotiateAnswer a;
  a.connection_id = "i";
  a.connection_token = "t";
  a.transports = static_cast<unsigned>(Transport::WebSockets);
  a.stateful_reconnect = true;
  const std::string body = negotiate_body(a);
  EXPECT_EQ(body, R"({"negotiateVersion":1,"connectionId":"i","connectionToken":"t","availableTransports":[)"
                  R"({"transport":"WebSockets","transferFormats":["Text","Binary"]}],"useStatefulReconnect":true})");
  a.stateful_reconnect = false;
  EXPECT_EQ(negotiate_body(a).find("useStatefulReconnect"), std::string::npos);
  // What clients parse: valid JSON, and never the old server's marker.
  const auto v = nlohmann::json::parse(body);
  EXPECT_FALSE(v.contains("ProtocolVersion"));
  EXPECT_EQ(v["useStatefulReconnect"], true);
}

TEST(HubNegotiate, IdsAreEscapedAsJsonStrings) {
  NegotiateAnswer a;
  a.connection_id = "a\"b";
  a.connection_token = "c\\d";
  a.transports = 0;
  const auto v = nlohmann::json::parse(negotiate_body(a));
  EXPECT_EQ(v["connectionId"], "a\"b");
  EXPECT_EQ(v["connectionToken"], "c\\d");
}

TEST(HubNegotiate, ErrorAndRedirectBodies) {
  EXPECT_EQ(negotiate_error_body(kNonInteger), R"({"error":"The client requested a non-integer protocol version."})");
  EXPECT_EQ(negotiate_error_body("say \"no\"\n"), R"({"error":"say \"no\"\n"})");
  EXPECT_EQ(negotiate_redirect_body("https://other/hub?x=y"), R"({"url":"https://other/hub?x=y"})");
  EXPECT_EQ(negotiate_redirect_body("https://other/hub", "jwt.a.b"),
            R"({"url":"https://other/hub","accessToken":"jwt.a.b"})");
}

TEST(HubNegotiateQuery, VersionAbsentIsZeroAndAboveOneIsOne) {
  EXPECT_EQ(accepted("").version, 0);
  EXPECT_EQ(accepted("id=x&_=1").version, 0);
  EXPECT_EQ(accepted("negotiateVersion=0").version, 0);
  EXPECT_EQ(accepted("negotiateVersion=1").version, 1);
  EXPECT_EQ(accepted("negotiateVersion=2").version, 1);
  EXPECT_EQ(accepted("negotiateVersion=2147483647").version, 1);
  EXPECT_EQ(accepted("user=me&negotiateVersion=1&x").version, 1);  // user parameters around it
}

TEST(HubNegotiateQuery, KeysMatchCaseInsensitivelyAfterDecoding) {
  EXPECT_EQ(accepted("NEGOTIATEVERSION=1").version, 1);
  EXPECT_EQ(accepted("NegotiateVersion=1").version, 1);
  EXPECT_EQ(accepted("negotiate%56ersion=1").version, 1);  // %56 = 'V'
  EXPECT_TRUE(accepted("negotiateVersion=1&USESTATEFULRECONNECT=true").stateful_reconnect);
}

TEST(HubNegotiateQuery, VersionIsReadAsDotNetReadsAnInt) {
  EXPECT_EQ(accepted("negotiateVersion=%2B1").version, 1);      // "+1"
  EXPECT_EQ(accepted("negotiateVersion=+1+").version, 1);       // " 1 ": '+' is a space
  EXPECT_EQ(accepted("negotiateVersion=%091%0D").version, 1);   // tab, CR
  EXPECT_EQ(accepted("negotiateVersion=-0").version, 0);
  EXPECT_EQ(accepted("negotiateVersion=0001").version, 1);
  for (const char* q : {"negotiateVersion=abc", "negotiateVersion=", "negotiateVersion", "negotiateVersion=1.0",
                        "negotiateVersion=1x", "negotiateVersion=0x1", "negotiateVersion=-", "negotiateVersion=%2B-1",
                        "negotiateVersion=1%201", "negotiateVersion=2147483648", "negotiateVersion=-2147483649",
                        "negotiateVersion=99999999999999999999999", "negotiateVersion=%EF%BC%91"}) {
    EXPECT_EQ(refused(q), kNonInteger) << q;
  }
}

TEST(HubNegotiateQuery, NegativeVersionsAreRefusedWithTheirNumber) {
  EXPECT_EQ(refused("negotiateVersion=-1"),
            "The client requested version '-1', but the server does not support this version.");
  EXPECT_EQ(refused("negotiateVersion=-2147483648"),
            "The client requested version '-2147483648', but the server does not support this version.");
}

TEST(HubNegotiateQuery, OnlyTrueAsksForStatefulReconnect) {
  EXPECT_FALSE(accepted("negotiateVersion=1").stateful_reconnect);
  EXPECT_TRUE(accepted("negotiateVersion=1&useStatefulReconnect=true").stateful_reconnect);
  EXPECT_TRUE(accepted("useStatefulReconnect=True").stateful_reconnect);
  EXPECT_TRUE(accepted("useStatefulReconnect=TRUE").stateful_reconnect);
  EXPECT_TRUE(accepted("useStatefulReconnect=%20true%09").stateful_reconnect);
  for (const char* q : {"useStatefulReconnect=false", "useStatefulReconnect=1", "useStatefulReconnect=yes",
                        "useStatefulReconnect=", "useStatefulReconnect", "useStatefulReconnect=truex",
                        "useStatefulReconnect=tru"}) {
    EXPECT_FALSE(accepted(q).stateful_reconnect) << q;
  }
}

TEST(HubQueryParam, DecodesValuesAndMatchesKeysCaseInsensitively) {
  EXPECT_EQ(query_param_ci("id=abc&x=1", "ID"), "abc");
  EXPECT_EQ(query_param_ci("a=1&id=first&ID=second", "id"), "first");
  EXPECT_EQ(query_param_ci("q=a+b%2Bc%20d", "q"), "a b+c d");
  EXPECT_EQ(query_param_ci("q=%zz%4", "q"), "%zz%4");  // not an escape: kept
  EXPECT_EQ(query_param_ci("q=%4a", "q"), "J");
  EXPECT_EQ(query_param_ci("flag&q=1", "flag"), "");
  EXPECT_EQ(query_param_ci("a%5Fb=1", "A_B"), "1");
  EXPECT_EQ(query_param_ci("&&q=2&", "q"), "2");
  EXPECT_EQ(query_param_ci("", "q"), std::nullopt);
  EXPECT_EQ(query_param_ci("qq=1&q2=2", "q"), std::nullopt);
}

TEST(HubCookie, FindsTheNamedCookieInACookieHeader) {
  EXPECT_EQ(cookie_value("a=b; c=d", "c"), "d");
  EXPECT_EQ(cookie_value("a=b;c=d", "a"), "b");
  EXPECT_EQ(cookie_value(" \ta = b \t; c=d", "a"), "b");
  EXPECT_EQ(cookie_value("s=\"quoted value\"", "s"), "quoted value");
  EXPECT_EQ(cookie_value("s=\"", "s"), "\"");  // one quote alone is not a quoted value
  EXPECT_EQ(cookie_value("t=a=b", "t"), "a=b");
  EXPECT_EQ(cookie_value("e=", "e"), "");
  EXPECT_EQ(cookie_value("x=1; x=2", "x"), "1");
  EXPECT_EQ(cookie_value("junk; k=v", "k"), "v");
  EXPECT_EQ(cookie_value("A=1; a=2", "a"), "2");  // names are case-sensitive
  EXPECT_EQ(cookie_value("ab=1", "a"), std::nullopt);
  EXPECT_EQ(cookie_value("", "a"), std::nullopt);
  EXPECT_EQ(cookie_value("a", "a"), std::nullopt);
}

}  // namespace
}  // namespace wirehub::hub
