#include "ws/handshake.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace wirehub::ws {
namespace {

// The client handshake of RFC 6455 1.2, as the caller would fill it from the HTTP head.
HandshakeRequest good_request() {
  HandshakeRequest r;
  r.method = "GET";
  r.version_minor = 1;
  r.host = "server.example.com";
  r.upgrade = "websocket";
  r.connection = "Upgrade";
  r.key = "dGhlIHNhbXBsZSBub25jZQ==";
  r.version = "13";
  r.protocol = "chat, superchat";
  return r;
}

TEST(Handshake, RFC6455_4_2_1_AcceptsTheSpecExample) { EXPECT_FALSE(check_upgrade(good_request())); }

TEST(Handshake, RFC6455_4_2_1_AcceptsTokenListsAnyCaseAndNewerHttp) {
  HandshakeRequest r = good_request();
  r.upgrade = "h2c, WebSocket";
  r.connection = "keep-alive,  UPGRADE ";
  r.version_minor = 2;
  r.protocol.reset();
  EXPECT_FALSE(check_upgrade(r));
}

struct Refusal {
  const char* name;
  void (*edit)(HandshakeRequest&);
  int status;
  bool version_header;
};

// Each requirement of RFC 6455 4.2.1 broken alone, with the status it gets.
const Refusal kRefusals[] = {
    {"POST", [](HandshakeRequest& r) { r.method = "POST"; }, 400, false},
    {"lower-case get", [](HandshakeRequest& r) { r.method = "get"; }, 400, false},
    {"HTTP/1.0", [](HandshakeRequest& r) { r.version_minor = 0; }, 400, false},
    {"no Host", [](HandshakeRequest& r) { r.host.reset(); }, 400, false},
    {"no Upgrade", [](HandshakeRequest& r) { r.upgrade.reset(); }, 400, false},
    {"Upgrade: h2c", [](HandshakeRequest& r) { r.upgrade = "h2c"; }, 400, false},
    {"Upgrade: websocket/13", [](HandshakeRequest& r) { r.upgrade = "websocket/13"; }, 400, false},
    {"no Connection", [](HandshakeRequest& r) { r.connection.reset(); }, 400, false},
    {"Connection: keep-alive", [](HandshakeRequest& r) { r.connection = "keep-alive"; }, 400, false},
    {"Connection: upgrades", [](HandshakeRequest& r) { r.connection = "upgrades"; }, 400, false},
    {"no key", [](HandshakeRequest& r) { r.key.reset(); }, 400, false},
    {"empty key", [](HandshakeRequest& r) { r.key = ""; }, 400, false},
    {"key of 15 bytes", [](HandshakeRequest& r) { r.key = "dGhlIHNhbXBsZSBub25j"; }, 400, false},
    {"key of 17 bytes", [](HandshakeRequest& r) { r.key = "dGhlIHNhbXBsZSBub25jZXg="; }, 400, false},
    {"key without padding", [](HandshakeRequest& r) { r.key = "dGhlIHNhbXBsZSBub25jZQ"; }, 400, false},
    {"key with a bad character", [](HandshakeRequest& r) { r.key = "dGhlIHNhbXBsZSBub25jZ*=="; }, 400, false},
    {"key with non-zero pad bits", [](HandshakeRequest& r) { r.key = "dGhlIHNhbXBsZSBub25jZR=="; }, 400, false},
    {"key with spaces", [](HandshakeRequest& r) { r.key = " dGhlIHNhbXBsZSBub25jZQ=="; }, 400, false},
    {"no version", [](HandshakeRequest& r) { r.version.reset(); }, 400, false},
    {"version 8", [](HandshakeRequest& r) { r.version = "8"; }, 426, true},
    {"version 14", [](HandshakeRequest& r) { r.version = "14"; }, 426, true},
    {"version list", [](HandshakeRequest& r) { r.version = "13, 8"; }, 426, true},
    {"version garbage", [](HandshakeRequest& r) { r.version = "thirteen"; }, 426, true},
};

TEST(Handshake, RFC6455_4_2_1_And_4_4_RefusalsAndTheirStatus) {
  for (const auto& c : kRefusals) {
    HandshakeRequest r = good_request();
    c.edit(r);
    auto err = check_upgrade(r);
    ASSERT_TRUE(err) << c.name;
    EXPECT_EQ(err->status, c.status) << c.name;
    EXPECT_EQ(err->send_version_header, c.version_header) << c.name;
    EXPECT_FALSE(err->reason.empty()) << c.name;
  }
}

TEST(Handshake, AcceptsEveryCanonicalLastKeyCharacter) {
  // The 22nd character holds 2 data bits and 4 zero bits: A, Q, g, w.
  for (char last : std::string("AQgw")) {
    HandshakeRequest r = good_request();
    std::string key = "dGhlIHNhbXBsZSBub25jZQ==";
    key[21] = last;
    r.key = key;
    EXPECT_FALSE(check_upgrade(r)) << key;
  }
}

// The value printed in RFC 6455 1.3 (and 4.2.2), checked against `openssl sha1 | base64`.
TEST(Handshake, RFC6455_1_3_AcceptKeyExample) {
  EXPECT_EQ(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(Handshake, AcceptKeyOfAnotherKey) {
  // Computed independently: base64(sha1("x3JJHMbDL1EzLkh9GBhXDw==258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).
  EXPECT_EQ(accept_key("x3JJHMbDL1EzLkh9GBhXDw=="), "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
}

TEST(Handshake, SplitTokensTrimsAndDropsEmptyItems) {
  using V = std::vector<std::string_view>;
  EXPECT_EQ(split_tokens("chat, superchat"), (V{"chat", "superchat"}));
  EXPECT_EQ(split_tokens(" a ,\tb\t,,  , c"), (V{"a", "b", "c"}));
  EXPECT_EQ(split_tokens(""), V{});
  EXPECT_EQ(split_tokens(" , ,"), V{});
  EXPECT_EQ(split_tokens("single"), V{"single"});
}

TEST(Handshake, HasTokenIsCaseInsensitiveOnWholeItems) {
  EXPECT_TRUE(has_token("keep-alive, Upgrade", "upgrade"));
  EXPECT_TRUE(has_token("UPGRADE", "upgrade"));
  EXPECT_FALSE(has_token("upgraded", "upgrade"));
  EXPECT_FALSE(has_token("", "upgrade"));
  EXPECT_FALSE(has_token("up grade", "upgrade"));
}

TEST(Handshake, RFC6455_4_2_2_UpgradeResponse) {
  std::string out = "prefix|";
  write_upgrade_response(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_EQ(out,
            "prefix|HTTP/1.1 101 Switching Protocols\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            "\r\n");
}

TEST(Handshake, RFC6455_4_2_2_UpgradeResponseWithSubprotocolAndExtraHeaders) {
  std::string out;
  write_upgrade_response(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "chat", "X-One: 1\r\nX-Two: 2\r\n");
  EXPECT_EQ(out,
            "HTTP/1.1 101 Switching Protocols\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            "Sec-WebSocket-Protocol: chat\r\n"
            "X-One: 1\r\nX-Two: 2\r\n"
            "\r\n");
}

}  // namespace
}  // namespace wirehub::ws
