#include "hub/handshake.hpp"

#include <gtest/gtest.h>

namespace wirehub::hub {
namespace {

HandshakeRequest accepted(std::string_view m, bool binary = true) {
  auto r = parse_handshake(m, binary);
  EXPECT_TRUE(std::holds_alternative<HandshakeRequest>(r)) << m;
  return std::holds_alternative<HandshakeRequest>(r) ? std::get<HandshakeRequest>(r) : HandshakeRequest{};
}

std::string refused(std::string_view m, bool binary = true) {
  auto r = parse_handshake(m, binary);
  EXPECT_TRUE(std::holds_alternative<std::string>(r)) << m;
  return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : std::string();
}

TEST(HubHandshake, AcceptsBothProtocolsInVersionsOneAndTwo) {
  EXPECT_EQ(accepted(R"({"protocol":"json","version":1})").protocol, HubProtocol::Json);
  EXPECT_EQ(accepted(R"({"version":2,"protocol":"json"})").version, 2);  // any order
  HandshakeRequest mp = accepted(R"({"protocol":"messagepack","version":1,"extra":[1]})");  // unknown ignored
  EXPECT_EQ(mp.protocol, HubProtocol::MessagePack);
  EXPECT_EQ(mp.version, 1);
  EXPECT_EQ(accepted(R"({"protocol":"json","version":1})", /*binary=*/false).protocol, HubProtocol::Json);
}

TEST(HubHandshake, RefusalsCarryTheTextsClientsShow) {
  EXPECT_EQ(refused(R"({"protocol":"xml","version":1})"), "The protocol 'xml' is not supported.");
  EXPECT_EQ(refused(R"({"protocol":"json","version":3})"),
            "The server does not support version 3 of the 'json' protocol.");
  EXPECT_EQ(refused(R"({"protocol":"messagepack","version":0})"),
            "The server does not support version 0 of the 'messagepack' protocol.");
  EXPECT_EQ(refused(R"({"protocol":"messagepack","version":1})", /*binary=*/false),
            "Cannot use the 'messagepack' protocol on the current transport. The transport does not support "
            "'Binary' transfer format.");
  for (const char* bad : {"", "{", "[]", R"({"protocol":"json"})", R"({"version":1})", R"({"protocol":1,"version":1})",
                          R"({"protocol":"json","version":"1"})", R"({"protocol":"json","version":1.5})"}) {
    EXPECT_NE(refused(bad).find("must be a JSON object"), std::string::npos) << bad;
  }
}

TEST(HubHandshake, ResponsesAreJsonPlusTheSeparator) {
  EXPECT_EQ(handshake_response(), std::string("{}\x1e"));
  EXPECT_EQ(handshake_response("The protocol 'x' is not supported."),
            std::string("{\"error\":\"The protocol 'x' is not supported.\"}\x1e"));
  EXPECT_EQ(handshake_response("say \"hi\""), std::string("{\"error\":\"say \\\"hi\\\"\"}\x1e"));
}

}  // namespace
}  // namespace wirehub::hub
