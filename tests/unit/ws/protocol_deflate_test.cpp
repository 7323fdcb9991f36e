// permessage-deflate in Protocol (RFC 7692 6 and 7.2) and the Deflater/Inflater codecs:
// compressed messages at every split point, RSV1 rules, limits on the inflated size,
// corrupt data, UTF-8 after inflating, context takeover, and the send side round trip.

#include <gtest/gtest.h>
#include <zlib.h>

#include <memory>
#include <string>
#include <vector>

#include "protocol_test_support.hpp"
#include "ws/deflate.hpp"
#include "ws/protocol.hpp"

namespace wirehub::ws {
namespace {

using namespace test;

constexpr std::uint8_t kFin = 0x80, kRsv1 = 0x40, kRsv2 = 0x20, kRsv3 = 0x10;
constexpr std::uint8_t kText = 1, kBinary = 2, kCont = 0, kPing = 9;

// An independent reference compressor: raw zlib, one sync flush per message with the
// 00 00 ff ff tail removed (RFC 7692 7.2.1). One stream across calls = context takeover.
class RefDeflate {
 public:
  explicit RefDeflate(int bits = 15) {
    EXPECT_EQ(deflateInit2(&z_, 6, Z_DEFLATED, -bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
  }
  ~RefDeflate() { deflateEnd(&z_); }
  std::string message(std::string_view in, int flush = Z_SYNC_FLUSH) {
    std::string out(in.size() + 1024, '\0');
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z_.avail_in = static_cast<uInt>(in.size());
    z_.next_out = reinterpret_cast<Bytef*>(out.data());
    z_.avail_out = static_cast<uInt>(out.size());
    int r = deflate(&z_, flush);
    EXPECT_TRUE(r == Z_OK || r == Z_STREAM_END);
    out.resize(out.size() - z_.avail_out);
    if (flush == Z_SYNC_FLUSH) {
      EXPECT_EQ(out.substr(out.size() - 4), std::string("\0\0\xff\xff", 4));
      out.resize(out.size() - 4);
    }
    return out;
  }

 private:
  z_stream z_{};
};

std::string compress(std::string_view in) {
  return RefDeflate().message(in);
}

// A handler with its own inflater (what a Session with context takeover provides).
class ZRecorder final : public Handler {
 public:
  explicit ZRecorder(bool takeover = true, bool give_inflater = true)
      : inflater_(15, takeover, 0), give_(give_inflater) {}
  std::vector<std::string> log;
  bool on_message(Opcode op, std::string_view p) override {
    log.push_back(op == Opcode::Text ? text_event(p) : binary_event(p));
    return true;
  }
  bool on_ping(std::string_view p) override {
    log.push_back(ping_event(p));
    return true;
  }
  bool on_pong(std::string_view p) override {
    log.push_back(pong_event(p));
    return true;
  }
  bool on_close(std::uint16_t code, std::string_view reason) override {
    log.push_back(close_event(code, reason));
    return true;
  }
  void on_error(CloseCode code, std::string_view) override {
    log.push_back("error " + std::to_string(to_int(code)));
  }
  Inflater* inflater() override { return give_ ? &inflater_ : nullptr; }
  Inflater inflater_;

 private:
  bool give_;
};

struct ZSetup {
  bool negotiated = true;
  bool takeover = true;
  Limits limits{};
};

std::vector<std::string> run(std::string_view wire, const std::vector<std::size_t>& cuts,
                             ZSetup s = {}) {
  Protocol proto(Role::Server, s.limits);
  if (s.negotiated) proto.accept_compressed();
  ZRecorder rec(s.takeover);
  for (std::size_t i = 0; i + 1 < cuts.size(); ++i) {
    std::size_t len = cuts[i + 1] - cuts[i];
    // Exactly sized heap chunks, freed after each call: ASan catches over-reads and views
    // kept across calls.
    std::unique_ptr<char[]> chunk(new char[len ? len : 1]);
    std::memcpy(chunk.get(), wire.data() + cuts[i], len);
    if (proto.receive(chunk.get(), len, rec) < len || proto.state() == State::Closed) break;
  }
  return rec.log;
}

void expect_everywhere(const std::string& name, const std::string& wire,
                       const std::vector<std::string>& log, ZSetup s = {}) {
  const std::size_t n = wire.size();
  ASSERT_EQ(run(wire, whole(n), s), log) << name << ": whole";
  for (std::size_t a = 0; a <= n; ++a)
    ASSERT_EQ(run(wire, split_at(n, a), s), log) << name << ": split at " << a;
  ASSERT_EQ(run(wire, bytewise(n), s), log) << name << ": byte by byte";
}

// ---- receive: messages at every split point ------------------------------------------------

TEST(ProtocolDeflate, RFC7692_7_2_2_OneFrameCompressedTextAndBinaryAtEverySplit) {
  const std::string hello = "Hello, wörld! Hello, wörld! Hello!";
  expect_everywhere("text", raw_frame(kFin | kRsv1 | kText, compress(hello)), {text_event(hello)});
  const std::string big = bytes_pattern(3000, 5) + std::string(3000, 'x');
  expect_everywhere("binary", raw_frame(kFin | kRsv1 | kBinary, compress(big)),
                    {binary_event(big)});
  expect_everywhere("empty", raw_frame(kFin | kRsv1 | kText, compress("")), {text_event("")});
}

TEST(ProtocolDeflate, RFC7692_6_1_FragmentedCompressedMessageWithControlFrameInsideAtEverySplit) {
  const std::string text = utf8_text(500);
  const std::string z = compress(text);
  ASSERT_GT(z.size(), 4u);
  // RSV1 only on the first frame; the compressed bytes are cut anywhere, even mid-symbol.
  std::string wire = raw_frame(kRsv1 | kText, z.substr(0, 3)) + raw_frame(kFin | kPing, "p") +
                     raw_frame(kCont, z.substr(3, z.size() / 2)) + raw_frame(kCont, "") +
                     raw_frame(kFin | kCont, z.substr(3 + z.size() / 2));
  expect_everywhere("fragmented text", wire, {ping_event("p"), text_event(text)});
}

TEST(ProtocolDeflate, UncompressedMessagesStillWorkWhenNegotiated) {
  std::string wire = raw_frame(kFin | kText, "plain") +
                     raw_frame(kFin | kRsv1 | kText, compress("packed")) + raw_frame(kText, "pl") +
                     raw_frame(kFin | kCont, "ain");
  expect_everywhere("mixed", wire,
                    {text_event("plain"), text_event("packed"), text_event("plain")});
}

TEST(ProtocolDeflate, RFC7692_7_1_1_ContextTakeoverAcrossMessages) {
  RefDeflate sender;  // one stream: the second message refers back into the first
  const std::string m = "the same sentence, again and again; the same sentence";
  std::string z1 = sender.message(m), z2 = sender.message(m);
  ASSERT_LT(z2.size(), z1.size()) << "the second message must use the shared history";
  std::string wire = raw_frame(kFin | kRsv1 | kText, z1) + raw_frame(kFin | kRsv1 | kText, z2);
  expect_everywhere("takeover", wire, {text_event(m), text_event(m)});
  // An inflater that resets per message cannot decode the second one.
  auto log = run(wire, whole(wire.size()), ZSetup{.takeover = false});
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0], text_event(m));
  EXPECT_NE(log[1], text_event(m));
}

TEST(ProtocolDeflate, RFC7692_7_2_3_4_FinalBlockEndsTheStreamAndTheNextMessageStartsAfresh) {
  const std::string a = "first message, ended with BFINAL", b = "second message";
  std::string za = RefDeflate().message(a, Z_FINISH), zb = RefDeflate().message(b);
  std::string wire = raw_frame(kFin | kRsv1 | kText, za) + raw_frame(kFin | kRsv1 | kText, zb);
  expect_everywhere("bfinal", wire, {text_event(a), text_event(b)});
}

// ---- receive: what fails, and with which code ----------------------------------------------

TEST(ProtocolDeflate, RFC7692_6_Rsv1WithoutNegotiationIs1002) {
  std::string wire = raw_frame(kFin | kRsv1 | kText, compress("x"));
  EXPECT_EQ(run(wire, whole(wire.size()), ZSetup{.negotiated = false}),
            std::vector<std::string>{"error 1002"});
}

TEST(ProtocolDeflate, RFC7692_6_1_Rsv1OnContinuationIs1002) {
  std::string z = compress("abcdef");
  std::string wire =
      raw_frame(kRsv1 | kText, z.substr(0, 2)) + raw_frame(kFin | kRsv1 | kCont, z.substr(2));
  expect_everywhere("rsv1 continuation", wire, {"error 1002"});
  std::string plain = raw_frame(kText, "ab") + raw_frame(kFin | kRsv1 | kCont, "cd");
  expect_everywhere("rsv1 on continuation of an uncompressed message", plain, {"error 1002"});
}

TEST(ProtocolDeflate, RFC7692_6_1_Rsv1OnControlFramesIs1002) {
  for (std::uint8_t op : {0x8, 0x9, 0xA}) {
    std::string wire = raw_frame(kFin | kRsv1 | op, op == 0x8 ? std::string("\x03\xe8", 2) : "x");
    expect_everywhere("rsv1 control " + std::to_string(op), wire, {"error 1002"});
  }
}

TEST(ProtocolDeflate, RFC6455_5_2_Rsv2AndRsv3StayErrors) {
  for (std::uint8_t bits : {kRsv2, kRsv3, static_cast<std::uint8_t>(kRsv1 | kRsv2),
                            static_cast<std::uint8_t>(kRsv1 | kRsv3)}) {
    std::string wire = raw_frame(kFin | bits | kText, compress("x"));
    expect_everywhere("rsv bits " + std::to_string(bits), wire, {"error 1002"});
  }
}

TEST(ProtocolDeflate, HandlerWithoutInflaterFailsTheConnection) {
  Protocol proto(Role::Server);
  proto.accept_compressed();
  ZRecorder rec(true, /*give_inflater=*/false);
  std::string wire = raw_frame(kFin | kRsv1 | kText, compress("x"));
  proto.receive(wire.data(), wire.size(), rec);
  EXPECT_EQ(rec.log, std::vector<std::string>{"error 1002"});
}

TEST(ProtocolDeflate, RFC7692_8_CorruptDeflateDataIs1007) {
  // 0xff: BTYPE 11, a reserved block type.
  expect_everywhere("reserved block type", raw_frame(kFin | kRsv1 | kBinary, "\xff\xff\xff"),
                    {"error 1007"});
  // A stored block whose NLEN is not the complement of LEN.
  expect_everywhere("bad stored block",
                    raw_frame(kFin | kRsv1 | kBinary, std::string("\x00\x05\x00\x00\x00"
                                                                  "abcde",
                                                                  10)),
                    {"error 1007"});
}

TEST(ProtocolDeflate, RFC6455_8_1_TextIsValidatedAfterInflating) {
  expect_everywhere("invalid utf-8", raw_frame(kFin | kRsv1 | kText, compress("ok \xff\xfe")),
                    {"error 1007"});
  expect_everywhere("truncated character", raw_frame(kFin | kRsv1 | kText, compress("\xE2\x82")),
                    {"error 1007"});
  // The same bytes as binary are fine.
  expect_everywhere("binary", raw_frame(kFin | kRsv1 | kBinary, compress("ok \xff\xfe")),
                    {binary_event("ok \xff\xfe")});
}

TEST(ProtocolDeflate, RFC6455_7_4_1_InflatedSizeAtTheLimitPassesAndOneByteMoreIs1009) {
  Limits limits;
  limits.max_message_bytes = 1000;
  const std::string at(1000, 'a'), over(1001, 'a');
  expect_everywhere("at limit", raw_frame(kFin | kRsv1 | kBinary, compress(at)), {binary_event(at)},
                    ZSetup{.limits = limits});
  expect_everywhere("over limit", raw_frame(kFin | kRsv1 | kBinary, compress(over)), {"error 1009"},
                    ZSetup{.limits = limits});
}

TEST(ProtocolDeflate, DecompressionBombIs1009WithoutAllocatingPastTheLimit) {
  const std::string zeros(64u << 20, '\0');  // 64 MiB of zeros deflate to ~64 KiB
  const std::string bomb = compress(zeros);
  ASSERT_LT(bomb.size(), 128u << 10);
  Limits limits;
  limits.max_message_bytes = 1u << 20;
  Protocol proto(Role::Server, limits);
  proto.accept_compressed();
  ZRecorder rec;
  std::string wire = raw_frame(kFin | kRsv1 | kBinary, bomb);
  proto.receive(wire.data(), wire.size(), rec);
  EXPECT_EQ(rec.log, std::vector<std::string>{"error 1009"});

  Inflater inf(15, false, 0);
  EXPECT_EQ(inf.inflate(bomb, 1u << 20), Inflater::Result::TooBig);
  EXPECT_LE(inf.output_capacity(), (1u << 20) + 1);
  EXPECT_GT(inf.output_capacity(), 1u << 20) << "it stopped when passing the limit, not before";
}

TEST(ProtocolDeflate, CompressedBytesMayPassTheLimitOnlyByDeflatesWorstCaseGrowth) {
  Limits limits;
  limits.max_message_bytes = 100;
  // Incompressible bytes come out a few bytes longer; at the limit inflated, they pass.
  const std::string at_limit = bytes_pattern(100, 3);
  std::string z = compress(at_limit);
  ASSERT_GT(z.size(), 100u);
  expect_everywhere("incompressible at the limit", raw_frame(kFin | kRsv1 | kBinary, z),
                    {binary_event(at_limit)}, ZSetup{.limits = limits});
  // Past limit + limit/16 + 64 compressed bytes, the header alone fails it.
  std::string big = compress(bytes_pattern(200, 3));
  ASSERT_GT(big.size(), 170u);
  std::string wire = raw_frame(kFin | kRsv1 | kBinary, big);
  std::string header_only = wire.substr(0, 8);  // 126-form length + mask key
  EXPECT_EQ(run(header_only, whole(header_only.size()), ZSetup{.limits = limits}),
            std::vector<std::string>{"error 1009"});
  // The same announced length uncompressed is refused too, with no allowance.
  std::string plain = raw_frame(kFin | kBinary, bytes_pattern(101, 1));
  EXPECT_EQ(run(plain, whole(plain.size()), ZSetup{.limits = limits}),
            std::vector<std::string>{"error 1009"});
}

TEST(ProtocolDeflate, DataAfterOurCloseIsDiscardedUninflated) {
  Protocol proto(Role::Server);
  proto.accept_compressed();
  ZRecorder rec;
  proto.close_sent();
  std::string wire = raw_frame(kFin | kRsv1 | kText, "\xff\xff") +
                     raw_frame(kFin | 0x8, std::string("\x03\xe8", 2));
  proto.receive(wire.data(), wire.size(), rec);
  EXPECT_EQ(rec.log, std::vector<std::string>{close_event(1000, "")});
}

// ---- send side ----------------------------------------------------------------------------

std::string ref_inflate(std::string_view payload, int bits = 15) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, -bits), Z_OK);
  std::string in(payload);
  in.append("\0\0\xff\xff", 4);
  std::string out(1 << 20, '\0');
  z.next_in = reinterpret_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int r = inflate(&z, Z_SYNC_FLUSH);
  EXPECT_TRUE(r == Z_OK || r == Z_STREAM_END) << r;
  out.resize(out.size() - z.avail_out);
  inflateEnd(&z);
  return out;
}

TEST(Deflater, RFC7692_7_2_1_OutputHasNoTailAndInflatesBack) {
  Deflater d(1, 15, 8, /*takeover=*/false);
  std::string z;
  for (const std::string& m :
       {std::string(), std::string("a"), utf8_text(1000), bytes_pattern(100000, 2)}) {
    d.compress(m, z);
    ASSERT_FALSE(z.size() >= 4 && z.substr(z.size() - 4) == std::string("\0\0\xff\xff", 4));
    EXPECT_EQ(ref_inflate(z), m);  // each independently: no takeover
  }
}

TEST(Deflater, RoundTripWithTakeoverThroughInflaterAtEveryWindow) {
  for (int bits = 9; bits <= 15; ++bits) {
    Deflater d(6, bits, 4, /*takeover=*/true);
    Inflater inf(bits, /*takeover=*/true, 0);
    std::string z;
    std::size_t total_z = 0, total = 0;
    for (int i = 0; i < 20; ++i) {
      std::string m =
          "{\"order\":" + std::to_string(i) + ",\"side\":\"buy\",\"symbol\":\"ACME\",\"qty\":100}";
      d.compress(m, z);
      total_z += z.size();
      total += m.size();
      ASSERT_EQ(inf.inflate(z, 1 << 20), Inflater::Result::Ok) << bits;
      ASSERT_EQ(inf.output(), m) << bits;
      inf.done();
    }
    EXPECT_LT(total_z * 3, total) << "context takeover must make repeated messages small (bits "
                                  << bits << ")";
  }
}

TEST(Inflater, AnInflaterThatKeepsNoOutputFreesItAfterEachMessage) {
  Inflater inf(15, true, 0);
  ASSERT_EQ(inf.inflate(compress(std::string(5000, 'q')), 1 << 20), Inflater::Result::Ok);
  EXPECT_GE(inf.output_capacity(), 5000u);
  inf.done();
  EXPECT_EQ(inf.output_capacity(), 0u);
}

}  // namespace
}  // namespace wirehub::ws
