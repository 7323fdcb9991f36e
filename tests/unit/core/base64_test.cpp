#include "core/base64.hpp"

#include <gtest/gtest.h>

#include <string>

namespace wirehub {
namespace {

// RFC 4648 section 10's vectors, both alphabets, with and without padding; and every
// value decodes back through base64_value.
TEST(Base64, EncodesTheRfcVectorsInBothAlphabets) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"}};
  for (const auto& [in, out] : vectors) {
    EXPECT_EQ(base64_encode(in, Base64Alphabet::Standard, true), out) << in;
    std::string unpadded = out;
    unpadded.erase(unpadded.find_last_not_of('=') + 1);
    EXPECT_EQ(base64_encode(in, Base64Alphabet::Url, false), unpadded) << in;
  }
  const std::string high("\xfb\xff\xfe", 3);
  EXPECT_EQ(base64_encode(high, Base64Alphabet::Standard, true), "+//+");
  EXPECT_EQ(base64_encode(high, Base64Alphabet::Url, true), "-__-");
  for (char c : base64_encode(std::string(256, '\x5a'), Base64Alphabet::Url, false)) {
    EXPECT_GE(base64_value(c, Base64Alphabet::Url), 0);
  }
}

}  // namespace
}  // namespace wirehub
