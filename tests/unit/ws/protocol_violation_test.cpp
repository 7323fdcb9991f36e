// Every way a peer can break RFC 6455, with the exact close code it must get and the exact
// byte at which it must be detected (fail fast: as soon as the error is visible, even in
// the middle of a frame header or payload).

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "protocol_test_support.hpp"
#include "ws/protocol.hpp"

namespace wirehub::ws {
namespace {

using namespace test;

struct Violation {
  std::string name;
  Role receiver;
  std::string before;             // valid frames first ...
  std::vector<std::string> log;   // ... and the events they produce
  std::string bad;                // the offending frame
  std::size_t detect;             // bytes of `bad` needed to see the error
  ProtocolError error;
  Limits limits = {};
};

constexpr std::size_t kWholeFrame = std::string::npos;

std::string masked(std::uint8_t b0, std::string_view payload, int form = 0, std::uint64_t len = ~std::uint64_t{0}) {
  return raw_frame(b0, payload, true, form, len);
}
std::string close_payload(std::uint16_t code, std::string_view reason = {}) {
  std::string p{static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
  return p.append(reason);
}

std::vector<Violation> violations() {
  using E = ProtocolError;
  const Role S = Role::Server;
  std::vector<Violation> v;
  const std::string text_start = masked(0x01, "ab");  // Text, FIN=0: a message in progress

  // RFC 6455 5.1: masking is mandatory from clients and forbidden from servers.
  v.push_back({"RFC6455_5_1 unmasked client text", S, "", {}, raw_frame(0x81, "hi", false), 2, E::UnmaskedClientFrame});
  v.push_back({"RFC6455_5_1 unmasked client close", S, "", {}, raw_frame(0x88, "", false), 2, E::UnmaskedClientFrame});
  v.push_back({"RFC6455_5_1 masked server frame", Role::Client, raw_frame(0x81, "ok", false), {text_event("ok")},
               raw_frame(0x81, "hi", true), 2, E::MaskedServerFrame});

  // RFC 6455 5.2: reserved bits, with no extension negotiated.
  for (std::uint8_t b0 : {0xC1, 0xA1, 0x91, 0xF1, 0xC9, 0xA8})
    v.push_back({"RFC6455_5_2 reserved bits " + std::to_string(b0), S, "", {}, masked(b0, "x"), 1, E::ReservedBits});
  v.push_back({"RFC6455_5_2 reserved bit on a continuation", S, text_start, {}, masked(0xC0, "x"), 1, E::ReservedBits});

  // RFC 6455 5.2: reserved opcodes, data (3-7) and control (B-F).
  for (std::uint8_t op : {3, 4, 5, 6, 7, 11, 12, 13, 14, 15}) {
    v.push_back({"RFC6455_5_2 opcode " + std::to_string(op), S, "", {}, masked(static_cast<std::uint8_t>(0x80 | op), ""),
                 1, E::UnknownOpcode});
    v.push_back({"RFC6455_5_2 opcode " + std::to_string(op) + " without FIN", S, "", {},
                 masked(static_cast<std::uint8_t>(op), "x"), 1, E::UnknownOpcode});
  }
  v.push_back({"RFC6455_5_2 reserved opcode inside a message", S, text_start, {}, masked(0x83, ""), 1, E::UnknownOpcode});

  // RFC 6455 5.5: control frames are short and never fragmented.
  for (std::uint8_t b0 : {0x08, 0x09, 0x0A})
    v.push_back({"RFC6455_5_5 fragmented control " + std::to_string(b0), S, "", {}, masked(b0, ""), 1,
                 E::FragmentedControl});
  v.push_back({"RFC6455_5_5 ping of 126 bytes", S, "", {}, masked(0x89, std::string(126, 'p')), 2, E::ControlTooLong});
  v.push_back({"RFC6455_5_5 close of 126 bytes", S, "", {}, masked(0x88, close_payload(1000, std::string(124, 'r'))), 2,
               E::ControlTooLong});
  v.push_back({"RFC6455_5_5 pong announcing 64 KiB", S, "", {}, masked(0x8A, "", 64, 65536), 2, E::ControlTooLong});
  v.push_back({"RFC6455_5_5 ping of 5 bytes in the 16-bit form", S, "", {}, masked(0x89, "hello", 16), 2,
               E::ControlTooLong});

  // RFC 6455 5.4: fragment sequencing.
  v.push_back({"RFC6455_5_4 continuation with no message", S, "", {}, masked(0x80, "x"), 1, E::UnexpectedContinuation});
  v.push_back({"RFC6455_5_4 non-final continuation with no message", S, "", {}, masked(0x00, "x"), 1,
               E::UnexpectedContinuation});
  v.push_back({"RFC6455_5_4 continuation after a finished message", S,
               masked(0x01, "do") + masked(0x80, "ne"), {text_event("done")}, masked(0x80, "more"), 1,
               E::UnexpectedContinuation});
  v.push_back({"RFC6455_5_4 text inside a fragmented text", S, text_start, {}, masked(0x81, "x"), 1,
               E::ExpectedContinuation});
  v.push_back({"RFC6455_5_4 binary inside a fragmented text", S, text_start, {}, masked(0x82, "x"), 1,
               E::ExpectedContinuation});
  v.push_back({"RFC6455_5_4 non-final text inside a fragmented binary", S, masked(0x02, "b"), {}, masked(0x01, "x"), 1,
               E::ExpectedContinuation});
  v.push_back({"RFC6455_5_4 binary after a ping inside a fragmented text", S, text_start + masked(0x89, "p"),
               {ping_event("p")}, masked(0x82, "x"), 1, E::ExpectedContinuation});

  // RFC 6455 5.2: payload length encoding.
  v.push_back({"RFC6455_5_2 64-bit length with the top bit set", S, "", {}, masked(0x82, "", 64, 1ull << 63), 10,
               E::LengthTopBit});
  v.push_back({"RFC6455_5_2 64-bit length of all ones", S, "", {}, masked(0x82, "", 64, ~0ull - 1), 10,
               E::LengthTopBit});
  for (std::uint64_t n : {0, 1, 125})
    v.push_back({"RFC6455_5_2 non-minimal 16-bit length " + std::to_string(n), S, "", {},
                 masked(0x82, std::string(n, 'x'), 16), 4, E::NonMinimalLength});
  for (std::uint64_t n : {0, 125, 126, 65535})
    v.push_back({"RFC6455_5_2 non-minimal 64-bit length " + std::to_string(n), S, "", {},
                 masked(0x82, std::string(n, 'x'), 64), 10, E::NonMinimalLength});
  v.push_back({"RFC6455_5_2 non-minimal length on a ping", S, "", {}, masked(0x89, "", 16, 0), 2, E::ControlTooLong});

  // RFC 6455 7.4.1 (1009): the message limit, judged from the header.
  v.push_back({"RFC6455_7_4_1 text over the limit", S, "", {}, masked(0x81, std::string(11, 'x')), 2, E::MessageTooBig,
               Limits{10}});
  v.push_back({"RFC6455_7_4_1 binary over the limit, 16-bit length", S, "", {}, masked(0x82, std::string(300, 'x')), 4,
               E::MessageTooBig, Limits{299}});
  v.push_back({"RFC6455_7_4_1 announced 1 TiB, nothing sent", S, "", {}, masked(0x82, "", 64, 1ull << 40), 10,
               E::MessageTooBig});
  v.push_back({"RFC6455_7_4_1 fragments adding up over the limit", S,
               masked(0x02, std::string(40, 'a')) + masked(0x89, "p") + masked(0x00, std::string(40, 'b')),
               {ping_event("p")}, masked(0x80, std::string(21, 'c')), 2, E::MessageTooBig, Limits{100}});
  v.push_back({"RFC6455_7_4_1 first fragment over the limit", S, "", {}, masked(0x01, std::string(101, 'a')), 2,
               E::MessageTooBig, Limits{100}});

  // RFC 6455 5.5.1 / 7.4: the Close payload.
  v.push_back({"RFC6455_5_5_1 close payload of 1 byte", S, "", {}, masked(0x88, "\x03"), kWholeFrame, E::CloseOneByte});
  for (std::uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535})
    v.push_back({"RFC6455_7_4 close code " + std::to_string(code), S, "", {}, masked(0x88, close_payload(code, "r")),
                 kWholeFrame, E::InvalidCloseCode});
  for (std::string reason : {"\xFF", "ok\xED\xA0\x80", "trunc\xC3", "\xC0\xAF"})
    v.push_back({"RFC6455_5_5_1 close reason not UTF-8: " + show(reason), S, "", {},
                 masked(0x88, close_payload(1000, reason)), kWholeFrame, E::InvalidCloseReason});

  // RFC 6455 8.1: text must be UTF-8, checked as the bytes arrive.
  const std::size_t h = 6;  // header of a short masked frame
  v.push_back({"RFC6455_8_1 invalid byte in a text frame", S, "", {}, masked(0x81, "ab\xFF" "cd"), h + 3, E::InvalidText});
  v.push_back({"RFC6455_8_1 code point above U+10FFFF", S, "", {}, masked(0x81, "\xF4\x90\x80\x80"), h + 2,
               E::InvalidText});
  v.push_back({"RFC6455_8_1 surrogate", S, "", {}, masked(0x81, "\xED\xA0\x80"), h + 2, E::InvalidText});
  v.push_back({"RFC6455_8_1 overlong", S, "", {}, masked(0x81, "\xC0\x80"), h + 1, E::InvalidText});
  v.push_back({"RFC6455_8_1 text frame ending inside a character", S, "", {}, masked(0x81, "ab\xE2\x82"), kWholeFrame,
               E::InvalidText});
  v.push_back({"RFC6455_8_1 invalid first fragment fails before the rest", S, "", {}, masked(0x01, "ok\xC0"), h + 3,
               E::InvalidText});
  v.push_back({"RFC6455_8_1 second fragment breaks a character", S, masked(0x01, "\xE2\x82"), {}, masked(0x00, "A"),
               h + 1, E::InvalidText});
  v.push_back({"RFC6455_8_1 final fragment ends inside a character", S, masked(0x01, "ok"), {}, masked(0x80, "\xC3"),
               kWholeFrame, E::InvalidText});
  v.push_back({"RFC6455_8_1 empty final fragment after a partial character", S, masked(0x01, "\xC3"), {},
               masked(0x80, ""), kWholeFrame, E::InvalidText});
  v.push_back({"RFC6455_8_1 invalid continuation after a ping", S, masked(0x01, "a") + masked(0x89, "p"),
               {ping_event("p")}, masked(0x80, "\x80"), h + 1, E::InvalidText});
  {
    std::string big = utf8_text(1000);
    big[700] = '\xFF';
    v.push_back({"RFC6455_8_1 invalid byte deep in a partially received frame", S, "", {}, masked(0x81, big), 8 + 701,
                 E::InvalidText});
  }
  {
    std::string t = std::string(300, 'a') + "\xF4\x90";
    v.push_back({"RFC6455_8_1 impossible prefix at the end of what arrived", S, "", {}, masked(0x81, t + "\x80\x80"),
                 8 + 302, E::InvalidText});
  }
  return v;
}

std::string trailer() {
  // Valid frames after the violation: must never produce an event.
  return raw_frame(0x81, "after", true) + raw_frame(0x89, "", true) + raw_frame(0x81, "after", false);
}

TEST(ProtocolViolation, ExactCloseCodeAtEverySplit) {
  for (const auto& c : violations()) {
    SCOPED_TRACE(c.name);
    std::string wire = c.before + c.bad + trailer();
    std::vector<std::string> log = c.log;
    log.push_back("error " + std::to_string(to_int(close_code_for(c.error))));
    expect_same_everywhere(c.name, wire, c.receiver, log, kAnyConsumed, c.limits);
  }
}

TEST(ProtocolViolation, ReportsWhichRuleWasBroken) {
  for (const auto& c : violations()) {
    std::string wire = c.before + c.bad + trailer();
    Protocol p(c.receiver, c.limits);
    Recorder rec;
    p.receive(wire.data(), wire.size(), rec);
    EXPECT_EQ(p.state(), State::Closed) << c.name;
    EXPECT_EQ(p.error(), c.error) << c.name;
    EXPECT_EQ(p.receive(wire.data(), wire.size(), rec), 0u) << c.name;
  }
}

// Fail fast: one byte short of the evidence there is no error; with that byte, there is.
TEST(ProtocolViolation, DetectedAtTheFirstByteThatShowsIt) {
  for (const auto& c : violations()) {
    const std::size_t detect = c.detect == kWholeFrame ? c.bad.size() : c.detect;
    ASSERT_LE(detect, c.bad.size()) << c.name;
    const std::string prefix = c.before + c.bad.substr(0, detect - 1);
    const std::string code = "error " + std::to_string(to_int(close_code_for(c.error)));
    for (bool bytewise_feed : {false, true}) {
      std::string copy = prefix + c.bad[detect - 1];
      Protocol p(c.receiver, c.limits);
      Recorder rec;
      if (bytewise_feed) {
        for (std::size_t i = 0; i < prefix.size(); ++i) p.receive(copy.data() + i, 1, rec);
      } else {
        p.receive(copy.data(), prefix.size(), rec);
      }
      ASSERT_EQ(rec.log, c.log) << c.name << (bytewise_feed ? " (byte by byte)" : "");
      ASSERT_EQ(p.state(), State::Open) << c.name;
      p.receive(copy.data() + prefix.size(), 1, rec);
      std::vector<std::string> want = c.log;
      want.push_back(code);
      ASSERT_EQ(rec.log, want) << c.name << (bytewise_feed ? " (byte by byte)" : "");
    }
  }
}

TEST(ProtocolViolation, ErrorTableMapsEachRuleToItsCloseCode) {
  EXPECT_EQ(close_code_for(ProtocolError::ReservedBits), CloseCode::ProtocolError);
  EXPECT_EQ(close_code_for(ProtocolError::NonMinimalLength), CloseCode::ProtocolError);
  EXPECT_EQ(close_code_for(ProtocolError::InvalidCloseCode), CloseCode::ProtocolError);
  EXPECT_EQ(close_code_for(ProtocolError::MessageTooBig), CloseCode::MessageTooBig);
  EXPECT_EQ(close_code_for(ProtocolError::InvalidText), CloseCode::InvalidPayload);
  EXPECT_EQ(close_code_for(ProtocolError::InvalidCloseReason), CloseCode::InvalidPayload);
  for (int e = 1; e <= static_cast<int>(ProtocolError::InvalidText); ++e) {
    auto r = reason_for(static_cast<ProtocolError>(e));
    EXPECT_FALSE(r.empty()) << e;
    EXPECT_LE(r.size(), 123u) << e;
  }
}

}  // namespace
}  // namespace wirehub::ws
