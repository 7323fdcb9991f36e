// The RFC 9110 5.6 helpers, and the word-at-a-time field-value scan against its byte-wise
// definition at every length, position and byte value.

#include "http/syntax.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace wirehub::http::syntax {
namespace {

constexpr std::size_t npos = std::string_view::npos;

std::size_t reference_find_invalid(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (!is_field_value_char(s[i])) return i;
  }
  return npos;
}

TEST(Syntax, Rfc9110_5_5_FieldValueBytes) {
  for (int c = 0; c < 256; ++c) {
    const bool expected = c == '\t' || (c >= 0x20 && c != 0x7f);
    EXPECT_EQ(is_field_value_char(static_cast<char>(c)), expected) << c;
  }
}

TEST(Syntax, FindInvalidFieldValueCharMatchesByteWiseScanEverywhere) {
  for (std::size_t len = 0; len <= 40; ++len) {
    const std::string clean(len, 'v');
    ASSERT_EQ(find_invalid_field_value_char(clean), npos) << len;
    for (std::size_t pos = 0; pos < len; ++pos) {
      for (int c = 0; c < 256; ++c) {
        std::string s = clean;
        s[pos] = static_cast<char>(c);
        ASSERT_EQ(find_invalid_field_value_char(s), reference_find_invalid(s))
            << "len " << len << " pos " << pos << " byte " << c;
      }
    }
  }
}

TEST(Syntax, FindInvalidFieldValueCharReportsTheFirstOfSeveral) {
  // A tab makes a word suspect without being invalid; the scan must go on past it.
  const std::string s = "abc\tdefghijk\x7flmnopq\rrs\0t";
  EXPECT_EQ(find_invalid_field_value_char(s), 12u);
  EXPECT_EQ(find_invalid_field_value_char("\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\x01"), 16u);
  EXPECT_EQ(find_invalid_field_value_char("caf\xc3\xa9 \xff\x80 obs-text is fine"), npos);
}

TEST(Syntax, Rfc9110_5_6_2_Tokens) {
  EXPECT_TRUE(is_token("Content-Length"));
  EXPECT_TRUE(is_token("!#$%&'*+-.^_`|~09azAZ"));
  EXPECT_FALSE(is_token(""));
  EXPECT_FALSE(is_token("a b"));
  EXPECT_FALSE(is_token("a:b"));
  EXPECT_FALSE(is_token("a\"b"));
  EXPECT_FALSE(is_token("caf\xc3\xa9"));
}

TEST(Syntax, CaseInsensitiveComparisonIsAsciiOnly) {
  EXPECT_TRUE(iequals("Content-Length", "content-LENGTH"));
  EXPECT_FALSE(iequals("a", "ab"));
  EXPECT_FALSE(iequals("[", "{"));  // differ only in bit 0x20, not letters
  EXPECT_TRUE(iequals_lower("UPGRADE", "upgrade"));
  EXPECT_FALSE(iequals_lower("upgrade", "UPGRADE"));
  EXPECT_FALSE(iequals_lower("\x0d", "-"));
}

TEST(Syntax, Rfc9110_5_6_1_ListElementsTrimmedAndEmptiesSkipped) {
  std::vector<std::string> seen;
  for_each_list_element(" a ,, b\t,\t,c ", [&](std::string_view e) {
    seen.emplace_back(e);
    return true;
  });
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b", "c"}));
  int calls = 0;
  EXPECT_FALSE(for_each_list_element("x, y, z", [&](std::string_view e) {
    ++calls;
    return e != "y";
  }));
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(trim_ows(" \t x y \t"), "x y");
  EXPECT_EQ(trim_ows("   "), "");
}

}  // namespace
}  // namespace wirehub::http::syntax
