#include "ws/frame.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace wirehub::ws {
namespace {

std::string header(Opcode op, bool fin, std::uint64_t len, const std::uint8_t* mask = nullptr, bool rsv1 = false) {
  char out[kMaxFrameHeader + 8];
  std::memset(out, '\x55', sizeof out);
  std::size_t n = write_frame_header(out, op, fin, len, mask, rsv1);
  EXPECT_LE(n, kMaxFrameHeader);
  for (std::size_t i = n; i < sizeof out; ++i) EXPECT_EQ(out[i], '\x55') << "wrote past the header";
  return std::string(out, n);
}

// RFC 6455 5.2: the 7-bit, 16-bit and 64-bit length forms, each at its edges.
TEST(FrameHeader, RFC6455_5_2_LengthEncodings) {
  struct Case {
    std::uint64_t len;
    std::string expect;
  };
  const Case cases[] = {
      {0, std::string("\x82\x00", 2)},
      {1, "\x82\x01"},
      {125, "\x82\x7D"},
      {126, std::string("\x82\x7E\x00\x7E", 4)},
      {65535, "\x82\x7E\xFF\xFF"},
      {65536, std::string("\x82\x7F\x00\x00\x00\x00\x00\x01\x00\x00", 10)},
      {0x0123456789ABCDEFull, "\x82\x7F\x01\x23\x45\x67\x89\xAB\xCD\xEF"},
  };
  for (const auto& c : cases) EXPECT_EQ(header(Opcode::Binary, true, c.len), c.expect) << c.len;
}

TEST(FrameHeader, RFC6455_5_2_FinOpcodeRsv1) {
  EXPECT_EQ(header(Opcode::Text, true, 0), std::string("\x81\x00", 2));
  EXPECT_EQ(header(Opcode::Text, false, 0), std::string("\x01\x00", 2));
  EXPECT_EQ(header(Opcode::Continuation, true, 3), std::string("\x80\x03", 2));
  EXPECT_EQ(header(Opcode::Close, true, 2), std::string("\x88\x02", 2));
  EXPECT_EQ(header(Opcode::Ping, true, 0), std::string("\x89\x00", 2));
  EXPECT_EQ(header(Opcode::Pong, true, 0), std::string("\x8A\x00", 2));
  EXPECT_EQ(header(Opcode::Text, true, 5, nullptr, true), std::string("\xC1\x05", 2));
}

TEST(FrameHeader, RFC6455_5_3_MaskBitAndKeyFollowTheLength) {
  const std::uint8_t key[4] = {0x37, 0xFA, 0x21, 0x3D};
  EXPECT_EQ(header(Opcode::Text, true, 5, key), std::string("\x81\x85\x37\xFA\x21\x3D", 6));
  EXPECT_EQ(header(Opcode::Binary, true, 256, key), std::string("\x82\xFE\x01\x00\x37\xFA\x21\x3D", 8));
  EXPECT_EQ(header(Opcode::Binary, true, 65536, key),
            std::string("\x82\xFF\x00\x00\x00\x00\x00\x01\x00\x00\x37\xFA\x21\x3D", 14));
}

// RFC 6455 5.7: a masked "Hello" with key 37 fa 21 3d.
TEST(ApplyMask, RFC6455_5_7_Example) {
  const std::uint8_t key[4] = {0x37, 0xFA, 0x21, 0x3D};
  char data[] = "Hello";
  EXPECT_EQ(apply_mask(data, 5, key), 1u);
  EXPECT_EQ(std::string(data, 5), "\x7F\x9F\x4D\x51\x58");
  apply_mask(data, 5, key);
  EXPECT_EQ(std::string(data, 5), "Hello");
}

void naive_mask(unsigned char* d, std::size_t n, const std::uint8_t key[4], std::size_t phase) {
  for (std::size_t i = 0; i < n; ++i) d[i] ^= key[(phase + i) % 4];
}

// Every length 0..64 (and long ones around the SIMD paths' block sizes), every phase,
// every misalignment of the start.
TEST(ApplyMask, MatchesNaiveReferenceAtEveryLengthPhaseAndAlignment) {
  const std::uint8_t key[4] = {0x12, 0x9A, 0xC7, 0x05};
  std::vector<std::size_t> lengths;
  for (std::size_t n = 0; n <= 64; ++n) lengths.push_back(n);
  for (std::size_t n : {127, 128, 129, 255, 256, 257, 287, 300, 383, 1000, 4099, 65536 + 13}) lengths.push_back(n);
  for (std::size_t n : lengths) {
    for (std::size_t phase = 0; phase < 4; ++phase) {
      for (std::size_t align = 0; align < 8; ++align) {
        std::vector<unsigned char> got(n + 16), want(n + 16);
        for (std::size_t i = 0; i < got.size(); ++i) got[i] = want[i] = static_cast<unsigned char>(i * 7 + 3);
        std::size_t next = apply_mask(reinterpret_cast<char*>(got.data() + align), n, key, phase);
        naive_mask(want.data() + align, n, key, phase);
        ASSERT_EQ(got, want) << "n=" << n << " phase=" << phase << " align=" << align;
        ASSERT_EQ(next, (phase + n) % 4);
      }
    }
  }
}

// Unmasking a payload in pieces, carrying the phase, equals unmasking it at once.
TEST(ApplyMask, PhaseCarriesAcrossPieces) {
  const std::uint8_t key[4] = {0xDE, 0xAD, 0xBE, 0xEF};
  std::string whole(300, '\0');
  for (std::size_t i = 0; i < whole.size(); ++i) whole[i] = static_cast<char>(i);
  std::string once = whole;
  apply_mask(once.data(), once.size(), key);
  for (std::size_t a = 0; a <= 40; ++a) {
    for (std::size_t b = a; b <= 80; b += 3) {
      std::string pieces = whole;
      std::size_t phase = apply_mask(pieces.data(), a, key);
      phase = apply_mask(pieces.data() + a, b - a, key, phase);
      apply_mask(pieces.data() + b, pieces.size() - b, key, phase);
      ASSERT_EQ(pieces, once) << a << " " << b;
    }
  }
}

TEST(ApplyMask, PhaseIsTakenModuloFour) {
  const std::uint8_t key[4] = {1, 2, 3, 4};
  char a[3] = {0, 0, 0}, b[3] = {0, 0, 0};
  EXPECT_EQ(apply_mask(a, 3, key, 6), 1u);
  apply_mask(b, 3, key, 2);
  EXPECT_EQ(std::string(a, 3), std::string(b, 3));
}

}  // namespace
}  // namespace wirehub::ws
