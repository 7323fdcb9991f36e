#include "wire.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "ws/frame.hpp"
#include "ws/handshake.hpp"
#include "ws/utf8.hpp"

namespace wirehub::bench {
namespace {

TEST(Seq, RoundTripsAndIsPlainAscii) {
  for (std::uint64_t seq : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{63}, std::uint64_t{64},
                            std::uint64_t{123456789}, kMaxSeq}) {
    char buf[kSeqBytes];
    encode_seq(buf, seq);
    for (char c : buf) {
      EXPECT_GE(static_cast<unsigned char>(c), 0x40);
      EXPECT_LE(static_cast<unsigned char>(c), 0x7F);
    }
    auto back = decode_seq(buf);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, seq);
  }
}

TEST(Seq, WrapsModulo48Bits) {
  char buf[kSeqBytes];
  encode_seq(buf, kMaxSeq + 5);
  EXPECT_EQ(decode_seq(buf), std::optional<std::uint64_t>(4));
}

TEST(Seq, RejectsBytesOutsideTheAlphabet) {
  char buf[kSeqBytes];
  encode_seq(buf, 77);
  buf[3] = 'a' - 0x40;  // 0x21
  EXPECT_FALSE(decode_seq(buf));
  buf[3] = static_cast<char>(0xC1);
  EXPECT_FALSE(decode_seq(buf));
}

// mask_copy must agree with the project's in-place masking at every length and phase.
TEST(MaskCopy, MatchesApplyMaskAtEveryLengthAndPhase) {
  const std::uint32_t key = 0xA1B2C3D4;
  std::uint8_t k[4];
  std::memcpy(k, &key, 4);
  std::string src(300, '\0');
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<char>(i * 7 + 3);
  for (std::size_t phase = 0; phase < 4; ++phase) {
    for (std::size_t n = 0; n <= src.size(); ++n) {
      std::string want = src.substr(0, n);
      const std::size_t want_phase = ws::apply_mask(want.data(), n, k, phase);
      std::vector<char> got(n + 1, 'Z');
      const std::size_t got_phase = mask_copy(got.data(), src.data(), n, key, phase);
      ASSERT_EQ(std::string(got.data(), n), want) << "n=" << n << " phase=" << phase;
      ASSERT_EQ(got[n], 'Z') << "wrote past the end, n=" << n;
      ASSERT_EQ(got_phase, want_phase);
    }
  }
}

TEST(MaskCopy, ChainedPiecesEqualOneCall) {
  const std::uint32_t key = 0x01020304;
  const std::string a = "12345678", b(77, 'x');
  std::string whole(a.size() + b.size(), '\0'), pieces(a.size() + b.size(), '\0');
  mask_copy(whole.data(), (a + b).data(), whole.size(), key, 0);
  const std::size_t ph = mask_copy(pieces.data(), a.data(), a.size(), key, 0);
  mask_copy(pieces.data() + a.size(), b.data(), b.size(), key, ph);
  EXPECT_EQ(whole, pieces);
}

TEST(Handshake, KeyIsBase64OfSixteenBytesAndVaries) {
  Xorshift rng(1234);
  const std::string k1 = make_websocket_key(rng), k2 = make_websocket_key(rng);
  EXPECT_EQ(k1.size(), 24u);
  EXPECT_EQ(k1.substr(22), "==");
  EXPECT_NE(k1, k2);
  // The server's own check accepts it.
  ws::HandshakeRequest req;
  req.method = "GET";
  req.host = "127.0.0.1:1";
  req.upgrade = "websocket";
  req.connection = "Upgrade";
  req.key = k1;
  req.version = "13";
  EXPECT_FALSE(ws::check_upgrade(req));
}

TEST(Handshake, RequestHasTheRequiredFields) {
  const std::string r = upgrade_request("127.0.0.1:8080", "/ws/echo?x=1", "dGhlIHNhbXBsZSBub25jZQ==");
  EXPECT_EQ(r.rfind("GET /ws/echo?x=1 HTTP/1.1\r\n", 0), 0u);
  EXPECT_NE(r.find("\r\nHost: 127.0.0.1:8080\r\n"), std::string::npos);
  EXPECT_NE(r.find("\r\nUpgrade: websocket\r\n"), std::string::npos);
  EXPECT_NE(r.find("\r\nConnection: Upgrade\r\n"), std::string::npos);
  EXPECT_NE(r.find("\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"), std::string::npos);
  EXPECT_NE(r.find("\r\nSec-WebSocket-Version: 13\r\n"), std::string::npos);
  EXPECT_EQ(find_head_end(r), r.size());
}

// RFC 6455 1.3's sample key and accept value.
constexpr const char* kAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

std::string response(std::string_view status, std::string_view fields) {
  return std::string(status) + "\r\n" + std::string(fields) + "\r\n";
}

TEST(Handshake, AcceptsAProper101) {
  const std::string ok = response("HTTP/1.1 101 Switching Protocols",
                                  "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
                                      std::string(kAccept) + "\r\n");
  EXPECT_EQ(check_upgrade_response(ok, kAccept), nullptr);
  const std::string cased = response("HTTP/1.1 101 OK",
                                     "UPGRADE: WebSocket\r\nconnection: keep-alive, upgrade\r\n"
                                     "sec-websocket-accept:   " + std::string(kAccept) + "  \r\n");
  EXPECT_EQ(check_upgrade_response(cased, kAccept), nullptr);
  EXPECT_EQ(ws::accept_key("dGhlIHNhbXBsZSBub25jZQ=="), kAccept);
}

TEST(Handshake, RefusesEverythingElse) {
  const std::string fields = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + std::string(kAccept) + "\r\n";
  EXPECT_NE(check_upgrade_response(response("HTTP/1.1 400 Bad Request", fields), kAccept), nullptr);
  EXPECT_NE(check_upgrade_response(response("HTTP/1.1 1010", fields), kAccept), nullptr);
  EXPECT_NE(check_upgrade_response(response("HTTP/1.1 101 Switching Protocols", fields), "xxx"), nullptr);
  EXPECT_NE(check_upgrade_response(
                response("HTTP/1.1 101 Switching Protocols", "Connection: Upgrade\r\nSec-WebSocket-Accept: " + std::string(kAccept) + "\r\n"),
                kAccept),
            nullptr);
  EXPECT_NE(check_upgrade_response(
                response("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket\r\nSec-WebSocket-Accept: " + std::string(kAccept) + "\r\n"),
                kAccept),
            nullptr);
  EXPECT_NE(check_upgrade_response(response("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket\r\nConnection: Upgrade\r\n"),
                                   kAccept),
            nullptr);
  EXPECT_NE(check_upgrade_response(response("HTTP/1.1 101 Switching Protocols",
                                            fields + "Sec-WebSocket-Extensions: permessage-deflate\r\n"),
                                   kAccept),
            nullptr);
  EXPECT_NE(check_upgrade_response("HTTP/1.1 101 Switching Protocols", kAccept), nullptr);
}

// connect --offer-deflate: the offer goes out, and only a permessage-deflate answer is taken.
TEST(Handshake, DeflateOfferAndAnswer) {
  const std::string r = upgrade_request("127.0.0.1:8080", "/ws/echo", "dGhlIHNhbXBsZSBub25jZQ==", true);
  EXPECT_NE(r.find("\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"),
            std::string::npos);
  EXPECT_EQ(find_head_end(r), r.size());
  EXPECT_EQ(upgrade_request("h", "/", "k").find("Sec-WebSocket-Extensions"), std::string::npos);
  const std::string fields =
      "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + std::string(kAccept) + "\r\n";
  const std::string deflate = response("HTTP/1.1 101 Switching Protocols",
                                       fields + "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n");
  EXPECT_EQ(check_upgrade_response(deflate, kAccept, true), nullptr);
  EXPECT_NE(check_upgrade_response(deflate, kAccept, false), nullptr);
  EXPECT_NE(check_upgrade_response(response("HTTP/1.1 101 Switching Protocols",
                                            fields + "Sec-WebSocket-Extensions: x-other\r\n"),
                                   kAccept, true),
            nullptr);
}

TEST(Handshake, FindsTheEndOfTheHeadOnly) {
  EXPECT_EQ(find_head_end("HTTP/1.1 101 X\r\nA: b\r\n"), std::string_view::npos);
  EXPECT_EQ(find_head_end("HTTP/1.1 101 X\r\n\r\n\x81\x02hi"), 18u);
}

}  // namespace
}  // namespace wirehub::bench
