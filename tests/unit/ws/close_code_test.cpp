#include "ws/close_code.hpp"

#include <gtest/gtest.h>

#include <cstdint>

namespace wirehub::ws {
namespace {

// RFC 6455 7.4.1/7.4.2 and the IANA registry: which codes a Close frame may carry.
TEST(CloseCode, RFC6455_7_4_ValidWireCodes) {
  for (std::uint16_t c : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
                          4000, 4999})
    EXPECT_TRUE(is_valid_wire_close_code(c)) << c;
}

TEST(CloseCode, RFC6455_7_4_InvalidWireCodes) {
  for (std::uint16_t c : {0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535})
    EXPECT_FALSE(is_valid_wire_close_code(c)) << c;
}

TEST(CloseCode, RFC6455_7_4_EveryCodeMatchesTheRanges) {
  for (std::uint32_t c = 0; c <= 0xFFFF; ++c) {
    bool expect = (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
    ASSERT_EQ(is_valid_wire_close_code(static_cast<std::uint16_t>(c)), expect) << c;
  }
}

TEST(CloseCode, EnumValuesAreTheRfcNumbers) {
  EXPECT_EQ(to_int(CloseCode::Normal), 1000);
  EXPECT_EQ(to_int(CloseCode::NoStatus), 1005);
  EXPECT_EQ(to_int(CloseCode::Abnormal), 1006);
  EXPECT_EQ(to_int(CloseCode::InvalidPayload), 1007);
  EXPECT_EQ(to_int(CloseCode::MessageTooBig), 1009);
  EXPECT_EQ(to_int(CloseCode::InternalError), 1011);
}

}  // namespace
}  // namespace wirehub::ws
