#include "hub/framing.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace wirehub::hub {
namespace {

std::vector<std::string> parts(const std::vector<std::string_view>& v) { return {v.begin(), v.end()}; }

TEST(HubFraming, JsonSplitsOnTheRecordSeparator) {
  std::vector<std::string_view> out;
  EXPECT_EQ(split_json("{\"type\":6}\x1e{\"type\":6}\x1e", 1024, out), FramingError::None);
  EXPECT_EQ(parts(out), (std::vector<std::string>{"{\"type\":6}", "{\"type\":6}"}));
  out.clear();
  EXPECT_EQ(split_json("", 1024, out), FramingError::None);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(split_json("\x1e", 1024, out), FramingError::None);  // an empty message: the JSON parser refuses it
  EXPECT_EQ(parts(out), std::vector<std::string>{""});
}

TEST(HubFraming, JsonWithoutATrailingSeparatorIsIncompleteAfterTheWholeOnes) {
  std::vector<std::string_view> out;
  EXPECT_EQ(split_json("{}\x1e{\"type\":", 1024, out), FramingError::Incomplete);
  EXPECT_EQ(parts(out), std::vector<std::string>{"{}"});
}

TEST(HubFraming, JsonMessagesOverTheLimitAreRefused) {
  std::vector<std::string_view> out;
  const std::string ten(10, 'x');
  EXPECT_EQ(split_json(ten + "\x1e", 10, out), FramingError::None);  // the limit is inclusive
  out.clear();
  EXPECT_EQ(split_json(ten + "x\x1e", 10, out), FramingError::TooLarge);
  EXPECT_EQ(split_json(ten + "x", 10, out), FramingError::TooLarge);  // even before its separator
}

std::string varint(std::uint32_t n) {
  char b[5];
  return std::string(b, write_varint(n, b));
}

// The boundaries where the prefix grows a byte, and the brief's example.
TEST(HubFraming, VarIntsHaveTheirDocumentedBytes) {
  EXPECT_EQ(varint(0), std::string("\x00", 1));
  EXPECT_EQ(varint(127), "\x7f");
  EXPECT_EQ(varint(128), "\x80\x01");
  EXPECT_EQ(varint(16383), "\xff\x7f");
  EXPECT_EQ(varint(16384), std::string("\x80\x80\x01"));
  EXPECT_EQ(varint(5248), "\x80\x29");
  EXPECT_EQ(varint(kMaxVarIntLength), "\xff\xff\xff\xff\x07");
}

TEST(HubFraming, MessagePackRoundTripsAtEveryPrefixBoundary) {
  for (std::size_t size : {0u, 1u, 127u, 128u, 16383u, 16384u, 70000u}) {
    std::string framed;
    const std::string a(size, 'a'), b = "\x92\x06\x80";
    append_messagepack(framed, a);
    append_messagepack(framed, b);
    std::vector<std::string_view> out;
    ASSERT_EQ(split_messagepack(framed, 1 << 20, out), FramingError::None) << size;
    ASSERT_EQ(out.size(), 2u) << size;
    EXPECT_EQ(out[0], a) << size;
    EXPECT_EQ(out[1], b) << size;
  }
}

TEST(HubFraming, MessagePackErrors) {
  std::vector<std::string_view> out;
  // The prefix ends inside the payload, or announces more than there is.
  EXPECT_EQ(split_messagepack("\x80", 1024, out), FramingError::Incomplete);
  EXPECT_EQ(split_messagepack("\x05" "abc", 1024, out), FramingError::Incomplete);
  // Six prefix bytes, or a fifth byte above 7 (over 2^31 - 1).
  EXPECT_EQ(split_messagepack("\x80\x80\x80\x80\x80\x01", 1024, out), FramingError::BadLength);
  EXPECT_EQ(split_messagepack("\xff\xff\xff\xff\x08", 1u << 31, out), FramingError::BadLength);
  // Over the limit: refused from the prefix, before the bytes arrive.
  EXPECT_EQ(split_messagepack(varint(11), 10, out), FramingError::TooLarge);
  EXPECT_TRUE(out.empty());
  // The messages before an error are kept.
  std::string framed;
  append_messagepack(framed, "ok");
  framed += "\x09";
  EXPECT_EQ(split_messagepack(framed, 1024, out), FramingError::Incomplete);
  EXPECT_EQ(parts(out), std::vector<std::string>{"ok"});
}

TEST(HubFraming, AppendJsonAddsTheSeparator) {
  std::string out;
  append_json(out, "{}");
  append_json(out, "{\"type\":6}");
  EXPECT_EQ(out, "{}\x1e{\"type\":6}\x1e");
}

}  // namespace
}  // namespace wirehub::hub
