// Protocol: golden streams replayed at every split point, the close handshake states,
// callback flow control, buffering, and the frame writers. Protocol violations and their
// close codes are in protocol_violation_test.cpp.

#include "ws/protocol.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <cstdint>
#include <string>
#include <vector>

#include "protocol_test_support.hpp"

namespace wirehub::ws {
namespace {

using namespace test;

struct Golden {
  std::string name;
  std::string wire;
  std::vector<std::string> log;
  std::size_t consumed;  // wire.size() unless a Close ends it early
};

std::vector<Golden> goldens(Role sender) {
  std::vector<Golden> g;
  auto add = [&g](std::string name, std::string wire, std::vector<std::string> log) {
    std::size_t n = wire.size();
    g.push_back({std::move(name), std::move(wire), std::move(log), n});
  };
  Wire w{sender};
  for (std::size_t n : {0, 1, 125, 126, 65535, 65536}) {
    std::string p = bytes_pattern(n, static_cast<unsigned>(n));
    add("binary of " + std::to_string(n) + " bytes", w.frame(Opcode::Binary, p), {binary_event(p)});
  }
  add("empty text", w.frame(Opcode::Text, ""), {text_event("")});
  add("1-byte text", w.frame(Opcode::Text, "a"), {text_event("a")});
  {
    std::string t = utf8_text(300);
    add("300 bytes of multi-byte text", w.frame(Opcode::Text, t), {text_event(t)});
  }
  add("fragmented text with a ping and a pong inside",
      w.frame(Opcode::Text, "Hel", false) + w.frame(Opcode::Ping, "p1") + w.frame(Opcode::Continuation, "lo, ", false) +
          w.frame(Opcode::Pong, "") + w.frame(Opcode::Continuation, "", false) +
          w.frame(Opcode::Continuation, "w\xC3\xB6rld"),
      {ping_event("p1"), pong_event(""), text_event("Hello, w\xC3\xB6rld")});
  add("character split across fragments",
      w.frame(Opcode::Text, "\xF0\x9F", false) + w.frame(Opcode::Continuation, "\x98", false) +
          w.frame(Opcode::Continuation, "\x80!"),
      {text_event("\xF0\x9F\x98\x80!")});
  add("fragmented binary of empty fragments",
      w.frame(Opcode::Binary, "", false) + w.frame(Opcode::Continuation, "", false) +
          w.frame(Opcode::Continuation, ""),
      {binary_event("")});
  add("empty text in fragments", w.frame(Opcode::Text, "", false) + w.frame(Opcode::Continuation, ""),
      {text_event("")});
  {
    std::string p125 = bytes_pattern(125, 7);
    add("control frames of 125 and 0 bytes",
        w.frame(Opcode::Ping, p125) + w.frame(Opcode::Pong, "") + w.frame(Opcode::Ping, "") +
            w.frame(Opcode::Pong, p125),
        {ping_event(p125), pong_event(""), ping_event(""), pong_event(p125)});
  }
  {
    std::string a = bytes_pattern(3000, 1), b = bytes_pattern(2000, 2);
    add("fragmented binary of 5000 bytes with a ping inside",
        w.frame(Opcode::Binary, a, false) + w.frame(Opcode::Ping, "mid") + w.frame(Opcode::Continuation, b),
        {ping_event("mid"), binary_event(a + b)});
  }
  {
    std::string close = w.close(1000, "bye");
    std::string wire = w.frame(Opcode::Text, "before") + close;
    std::size_t end = wire.size();
    g.push_back({"close with code and reason, then bytes that are ignored",
                 wire + w.frame(Opcode::Text, "after") + w.frame(Opcode::Ping, ""),
                 {text_event("before"), close_event(1000, "bye")},
                 end});
  }
  {
    std::string wire = w.frame(Opcode::Close, "");
    std::size_t end = wire.size();
    g.push_back({"empty close", wire + "\x81\xFF garbage", {close_event(1005, "")}, end});
  }
  {
    std::string reason = utf8_text(123);
    std::string wire = w.close(4999, reason);
    add("close with a 123-byte reason", wire, {close_event(4999, reason)});
  }
  {
    std::string bin200 = bytes_pattern(200, 9), t126 = utf8_text(126);
    std::string f1 = bytes_pattern(70, 3), f2 = bytes_pattern(70, 4), f3 = bytes_pattern(70, 5);
    std::string wire = w.frame(Opcode::Text, "first") + w.frame(Opcode::Binary, bin200) + w.frame(Opcode::Ping, "x") +
                       w.frame(Opcode::Binary, f1, false) + w.frame(Opcode::Continuation, f2, false) +
                       w.frame(Opcode::Ping, "in") + w.frame(Opcode::Continuation, f3) +
                       w.frame(Opcode::Text, t126) + w.close(1001, "going");
    add("a mixed stream", wire,
        {text_event("first"), binary_event(bin200), ping_event("x"), ping_event("in"), binary_event(f1 + f2 + f3),
         text_event(t126), close_event(1001, "going")});
  }
  return g;
}

// ---- golden streams at every split ---------------------------------------------------------

const std::vector<Golden>& cached_goldens(Role sender) {
  static const std::vector<Golden> from_client = goldens(Role::Client);
  static const std::vector<Golden> from_server = goldens(Role::Server);
  return sender == Role::Client ? from_client : from_server;
}

struct ReplayCase {
  Role receiver;
  std::size_t index;
};

std::vector<ReplayCase> replay_cases(Role receiver) {
  std::vector<ReplayCase> v;
  Role sender = receiver == Role::Server ? Role::Client : Role::Server;
  for (std::size_t i = 0; i < cached_goldens(sender).size(); ++i) v.push_back({receiver, i});
  return v;
}

const Golden& golden_of(const ReplayCase& c) {
  return cached_goldens(c.receiver == Role::Server ? Role::Client : Role::Server)[c.index];
}

class GoldenReplay : public ::testing::TestWithParam<ReplayCase> {};

// RFC 6455 5.2-5.6: the same events and the same bytes consumed however the stream is cut.
TEST_P(GoldenReplay, RFC6455_5_SameEventsAtEverySplit) {
  const Golden& g = golden_of(GetParam());
  expect_same_everywhere(g.name, g.wire, GetParam().receiver, g.log, g.consumed);
}

std::string replay_case_name(const ::testing::TestParamInfo<ReplayCase>& info) {
  std::string name;
  for (char c : golden_of(info.param).name) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(ServerRole, GoldenReplay, ::testing::ValuesIn(replay_cases(Role::Server)), replay_case_name);
INSTANTIATE_TEST_SUITE_P(ClientRole, GoldenReplay, ::testing::ValuesIn(replay_cases(Role::Client)), replay_case_name);

// ---- delivery, buffering, flow control -----------------------------------------------------

class PointerRecorder final : public Handler {
 public:
  std::vector<std::string_view> messages;
  bool on_message(Opcode, std::string_view p) override {
    messages.push_back(p);
    return true;
  }
  bool on_ping(std::string_view) override { return true; }
  bool on_pong(std::string_view) override { return true; }
  bool on_close(std::uint16_t, std::string_view) override { return true; }
  void on_error(CloseCode, std::string_view) override {}
};

TEST(Protocol, CompleteFramesAreDeliveredInPlaceWithoutBuffering) {
  Wire w;
  std::string wire = w.frame(Opcode::Text, "hello") + w.frame(Opcode::Binary, bytes_pattern(70000, 1));
  Protocol p(Role::Server);
  PointerRecorder rec;
  ASSERT_EQ(p.receive(wire.data(), wire.size(), rec), wire.size());
  ASSERT_EQ(rec.messages.size(), 2u);
  for (auto m : rec.messages) {
    EXPECT_GE(m.data(), wire.data());
    EXPECT_LE(m.data() + m.size(), wire.data() + wire.size());
  }
  EXPECT_EQ(rec.messages[0], "hello");  // unmasked in place
  EXPECT_EQ(p.buffered_bytes(), 0u);
}

TEST(Protocol, PartialFramesAreBufferedAndReleasedByShrink) {
  Wire w;
  std::string payload = bytes_pattern(1000, 4);
  std::string wire = w.frame(Opcode::Binary, payload);
  Protocol p(Role::Server);
  Recorder rec;
  ASSERT_EQ(p.receive(wire.data(), 500, rec), 500u);
  EXPECT_EQ(p.buffered_bytes(), 500u - 8u);  // 8 header bytes (126 form + mask key)
  p.shrink();                                // not idle: keeps the data
  EXPECT_EQ(p.buffered_bytes(), 492u);
  ASSERT_EQ(p.receive(wire.data() + 500, wire.size() - 500, rec), wire.size() - 500);
  EXPECT_EQ(rec.log, std::vector<std::string>{binary_event(payload)});
  EXPECT_EQ(p.buffered_bytes(), 0u);
  p.shrink();
  EXPECT_EQ(p.buffered_bytes(), 0u);
}

TEST(Protocol, CallbackReturningFalseStopsAfterThatFrameAndReceiveResumes) {
  Wire w;
  std::string wire = w.frame(Opcode::Text, "one") + w.frame(Opcode::Ping, "p") + w.frame(Opcode::Binary, "two");
  std::size_t first = w.frame(Opcode::Text, "one").size();
  Protocol p(Role::Server);
  Recorder rec;
  rec.stop = true;
  std::size_t used = p.receive(wire.data(), wire.size(), rec);
  EXPECT_EQ(used, first);
  EXPECT_EQ(rec.log, std::vector<std::string>{text_event("one")});
  EXPECT_EQ(p.state(), State::Open);
  rec.stop = false;
  EXPECT_EQ(p.receive(wire.data() + used, wire.size() - used, rec), wire.size() - used);
  EXPECT_EQ(rec.log, (std::vector<std::string>{text_event("one"), ping_event("p"), binary_event("two")}));
}

TEST(Protocol, CallbackReturningFalseOnABufferedMessage) {
  Wire w;
  std::string wire = w.frame(Opcode::Text, "ab", false) + w.frame(Opcode::Continuation, "cd") + w.frame(Opcode::Text, "ef");
  Protocol p(Role::Server);
  Recorder rec;
  rec.stop = true;
  std::size_t used = p.receive(wire.data(), wire.size(), rec);
  EXPECT_EQ(rec.log, std::vector<std::string>{text_event("abcd")});
  EXPECT_EQ(p.buffered_bytes(), 0u);
  rec.stop = false;
  p.receive(wire.data() + used, wire.size() - used, rec);
  EXPECT_EQ(rec.log, (std::vector<std::string>{text_event("abcd"), text_event("ef")}));
}

// A handler that acts on the Protocol from inside its callbacks, as a session does.
class ReentrantHandler final : public Handler {
 public:
  explicit ReentrantHandler(Protocol& p) : proto_(p) {}
  std::vector<std::string> log;
  bool on_message(Opcode, std::string_view payload) override {
    proto_.shrink();      // must not free the buffer `payload` may point into
    proto_.close_sent();  // e.g. the application closes in reply to this message
    log.push_back(text_event(payload));
    return true;
  }
  bool on_ping(std::string_view payload) override {
    log.push_back(ping_event(payload));
    return true;
  }
  bool on_pong(std::string_view payload) override {
    log.push_back(pong_event(payload));
    return true;
  }
  bool on_close(std::uint16_t code, std::string_view reason) override {
    log.push_back(close_event(code, reason));
    return true;
  }
  void on_error(CloseCode code, std::string_view) override { log.push_back("error " + std::to_string(to_int(code))); }

 private:
  Protocol& proto_;
};

TEST(Protocol, ShrinkAndCloseSentFromInsideACallback) {
  Wire w;
  std::string wire = w.frame(Opcode::Text, "frag", false) + w.frame(Opcode::Continuation, "mented") +
                     w.frame(Opcode::Text, "discarded") + w.frame(Opcode::Ping, "kept") + w.close(1000, "");
  for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
    std::string copy = wire;
    Protocol p(Role::Server);
    ReentrantHandler h(p);
    p.receive(copy.data(), cut, h);
    p.receive(copy.data() + cut, copy.size() - cut, h);
    ASSERT_EQ(h.log, (std::vector<std::string>{text_event("fragmented"), ping_event("kept"), close_event(1000, "")}))
        << cut;
    p.shrink();
    EXPECT_EQ(p.buffered_bytes(), 0u);
  }
}

TEST(Protocol, ZeroLengthReceiveIsANoOp) {
  Protocol p(Role::Server);
  Recorder rec;
  char c = 0;
  EXPECT_EQ(p.receive(&c, 0, rec), 0u);
  EXPECT_TRUE(rec.log.empty());
}

TEST(Protocol, SizeStaysSmall) {
  // 72 bytes on x86-64 with g++ 12: the 24-byte buffer, limits, the remaining length, the
  // 14-byte header scratch, the mask key and a handful of one-byte fields.
  EXPECT_LE(sizeof(Protocol), 96u);
}

// ---- the close handshake ---------------------------------------------------------------------

TEST(ProtocolClose, RFC6455_5_5_1_PeerInitiatedCloseWhileOpen) {
  Wire w;
  std::string wire = w.close(1000, "done");
  Protocol p(Role::Server);
  Recorder rec(&p);
  EXPECT_EQ(p.receive(wire.data(), wire.size(), rec), wire.size());
  EXPECT_EQ(rec.log, std::vector<std::string>{close_event(1000, "done")});
  EXPECT_EQ(rec.state_in_on_close, std::vector<State>{State::Open});  // so the session echoes
  EXPECT_EQ(p.state(), State::Closed);
  EXPECT_EQ(p.receive(wire.data(), wire.size(), rec), 0u);
  EXPECT_EQ(rec.log.size(), 1u);
}

TEST(ProtocolClose, RFC6455_1_4_DataIsDiscardedAfterWeSentClose) {
  Wire w;
  std::string wire = w.frame(Opcode::Text, "dropped") + w.frame(Opcode::Binary, "part", false) +
                     w.frame(Opcode::Ping, "still") + w.frame(Opcode::Continuation, bytes_pattern(300, 1)) +
                     w.frame(Opcode::Text, "\xFF not even validated") + w.close(1000, "");
  for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
    std::string copy = wire;
    Protocol p(Role::Server);
    Recorder rec(&p);
    p.close_sent();
    EXPECT_EQ(p.state(), State::Closing);
    p.receive(copy.data(), cut, rec);
    p.receive(copy.data() + cut, copy.size() - cut, rec);
    ASSERT_EQ(rec.log, (std::vector<std::string>{ping_event("still"), close_event(1000, "")})) << cut;
    EXPECT_EQ(rec.state_in_on_close, std::vector<State>{State::Closing});
    EXPECT_EQ(p.state(), State::Closed);
    EXPECT_EQ(p.buffered_bytes(), 0u);
  }
}

TEST(ProtocolClose, RFC6455_1_4_CloseSentMidMessageKeepsAPartialControlFrame) {
  Wire w;
  std::string ping = w.frame(Opcode::Ping, "a ping split across reads");
  std::string wire = w.frame(Opcode::Text, "half a message", false) + ping + w.frame(Opcode::Continuation, "rest") +
                     w.close(1001, "");
  std::size_t cut = wire.find(ping) + 9;  // inside the ping's payload
  Protocol p(Role::Server);
  Recorder rec(&p);
  ASSERT_EQ(p.receive(wire.data(), cut, rec), cut);
  EXPECT_GT(p.buffered_bytes(), std::string_view("half a message").size());
  p.close_sent();
  p.receive(wire.data() + cut, wire.size() - cut, rec);
  EXPECT_EQ(rec.log, (std::vector<std::string>{ping_event("a ping split across reads"), close_event(1001, "")}));
}

TEST(ProtocolClose, FramingErrorsStillFailWhileClosing) {
  Wire w;
  std::string wire = w.frame(Opcode::Continuation, "no message");
  Protocol p(Role::Server);
  Recorder rec;
  p.close_sent();
  p.receive(wire.data(), wire.size(), rec);
  EXPECT_EQ(rec.log, std::vector<std::string>{"error 1002"});
}

TEST(ProtocolClose, CloseSentTwiceAndAfterClosedChangesNothing) {
  Protocol p(Role::Server);
  p.close_sent();
  p.close_sent();
  EXPECT_EQ(p.state(), State::Closing);
}

// ---- message limit -------------------------------------------------------------------------

TEST(ProtocolLimits, RFC6455_7_4_1_MessageAtTheLimitIsAccepted) {
  Wire w;
  Limits l{10};
  std::string single = w.frame(Opcode::Binary, "0123456789");
  expect_same_everywhere("single", single, Role::Server, {binary_event("0123456789")}, single.size(), l);
  std::string frags = w.frame(Opcode::Text, "01234", false) + w.frame(Opcode::Ping, "0123456789ab") +
                      w.frame(Opcode::Continuation, "5678", false) + w.frame(Opcode::Continuation, "9");
  expect_same_everywhere("fragments", frags, Role::Server, {ping_event("0123456789ab"), text_event("0123456789")},
                         frags.size(), l);
}

TEST(ProtocolLimits, ZeroLimitStillAllowsEmptyMessages) {
  Wire w;
  std::string wire = w.frame(Opcode::Text, "") + w.frame(Opcode::Binary, "", false) + w.frame(Opcode::Continuation, "");
  Outcome o = replay(wire, whole(wire.size()), Role::Server, Limits{0});
  EXPECT_EQ(o.log, (std::vector<std::string>{text_event(""), binary_event("")}));
}

TEST(ProtocolLimits, DefaultLimitIs16MiBInclusive) {
  // Autobahn 9.1.6 / 9.2.6 send exactly 16 MiB.
  Wire w;
  std::string payload(16u << 20, 'z');
  std::string wire = w.frame(Opcode::Text, payload);
  Protocol p(Role::Server);
  Recorder rec;
  EXPECT_EQ(p.receive(wire.data(), wire.size(), rec), wire.size());
  EXPECT_EQ(rec.log, std::vector<std::string>{text_event(payload)});
  std::string header(kMaxFrameHeader, '\0');
  const std::uint8_t key[4] = {1, 2, 3, 4};
  header.resize(write_frame_header(header.data(), Opcode::Binary, true, (16u << 20) + 1, key));
  p = Protocol(Role::Server);
  rec.log.clear();
  p.receive(header.data(), header.size(), rec);
  EXPECT_EQ(rec.log, std::vector<std::string>{"error 1009"});
}

// ---- writers ---------------------------------------------------------------------------------

TEST(WriteFrame, RoundTripsThroughTheReceiverInBothRoles) {
  const std::uint8_t key[4] = {0xAA, 0x55, 0x0F, 0xF0};
  for (std::size_t n : {0, 5, 125, 126, 65535, 65536, 100000}) {
    std::string payload = bytes_pattern(n, 3);
    std::string masked, plain;
    write_frame(masked, Opcode::Binary, payload, key);
    write_frame(plain, Opcode::Binary, payload);
    EXPECT_EQ(replay(masked, whole(masked.size()), Role::Server).log, std::vector<std::string>{binary_event(payload)});
    EXPECT_EQ(replay(plain, whole(plain.size()), Role::Client).log, std::vector<std::string>{binary_event(payload)});
    EXPECT_NE(masked.substr(masked.size() - n), payload.size() ? payload : "x");
  }
}

TEST(WriteFrame, AppendsAndHonoursFin) {
  std::string out = "xy";
  write_frame(out, Opcode::Text, "abc", nullptr, false);
  EXPECT_EQ(out, std::string("xy\x01\x03" "abc", 7));
}

TEST(WriteClose, RFC6455_5_5_1_CodeThenReason) {
  std::string out;
  write_close(out, 1000, "bye");
  EXPECT_EQ(out, std::string("\x88\x05\x03\xE8" "bye", 7));
  out.clear();
  write_close(out, CloseCode::GoingAway);
  EXPECT_EQ(out, std::string("\x88\x02\x03\xE9", 4));
}

TEST(WriteClose, NoStatusWritesAnEmptyClose) {
  std::string out;
  write_close(out, 1005, "ignored");
  EXPECT_EQ(out, std::string("\x88\x00", 2));
}

TEST(WriteClose, RFC6455_5_5_ReasonIsCutTo123BytesAtACharacterBoundary) {
  std::string out;
  write_close(out, 1000, std::string(200, 'r'));
  EXPECT_EQ(out.size(), 2u + 125u);
  EXPECT_EQ(out.substr(4), std::string(123, 'r'));

  // 121 ASCII bytes then a 4-byte character straddling byte 123: it is dropped whole.
  out.clear();
  std::string reason = std::string(121, 'a') + "\xF0\x9F\x98\x80" + "tail";
  write_close(out, 1000, reason);
  EXPECT_EQ(out.substr(4), std::string(121, 'a'));
  // A 2-byte character ending exactly at byte 123 is kept.
  out.clear();
  reason = std::string(121, 'a') + "\xC3\xA9" + "tail";
  write_close(out, 1000, reason);
  EXPECT_EQ(out.substr(4), std::string(121, 'a') + "\xC3\xA9");
  EXPECT_TRUE(is_valid_utf8(out.substr(4)));
}

TEST(WriteClose, MaskedCloseRoundTrips) {
  const std::uint8_t key[4] = {1, 2, 3, 4};
  std::string out;
  write_close(out, 4000, "app reason", key);
  EXPECT_EQ(replay(out, whole(out.size()), Role::Server).log, std::vector<std::string>{close_event(4000, "app reason")});
}

}  // namespace
}  // namespace wirehub::ws
