#include "ws/utf8.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace wirehub::ws {
namespace {

constexpr std::size_t kValid = std::string::npos;          // the whole input is valid UTF-8
constexpr std::size_t kTruncated = std::string::npos - 1;  // valid so far, ends inside a character

struct Utf8Case {
  const char* name;
  std::string bytes;
  std::size_t fail_at;  // index of the first byte that makes the input invalid, or kValid/kTruncated
};

std::string ascii(std::size_t n) { return std::string(n, 'a'); }

// The categories of Autobahn section 6 (after Markus Kuhn's UTF-8 stress test).
const std::vector<Utf8Case>& cases() {
  static const std::vector<Utf8Case> k = {
      {"empty", "", kValid},
      {"ascii", "Hello-\xC2\xB5@\xC3\x9F\xC3\xB6\xC3\xA4\xC3\xBC\xC3\xA0\xC3\xA1-UTF-8!!", kValid},
      {"kosme", "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5", kValid},
      {"nul", std::string(1, '\0'), kValid},
      // Boundaries of each sequence length.
      {"U+007F", "\x7F", kValid},
      {"U+0080", "\xC2\x80", kValid},
      {"U+07FF", "\xDF\xBF", kValid},
      {"U+0800", "\xE0\xA0\x80", kValid},
      {"U+D7FF", "\xED\x9F\xBF", kValid},
      {"U+E000", "\xEE\x80\x80", kValid},
      {"U+FFFD", "\xEF\xBF\xBD", kValid},
      {"U+FFFE noncharacter", "\xEF\xBF\xBE", kValid},
      {"U+FFFF", "\xEF\xBF\xBF", kValid},
      {"U+10000", "\xF0\x90\x80\x80", kValid},
      {"U+10FFFF", "\xF4\x8F\xBF\xBF", kValid},
      {"U+110000", "\xF4\x90\x80\x80", 1},
      {"U+13FFFF", "\xF4\xBF\xBF\xBF", 1},
      {"F5 lead", "\xF5\x80\x80\x80", 0},
      {"F7 lead", "\xF7\xBF\xBF\xBF", 0},
      {"5-byte sequence", "\xF8\x88\x80\x80\x80", 0},
      {"6-byte sequence", "\xFC\x84\x80\x80\x80\x80", 0},
      {"FE", "\xFE", 0},
      {"FF", "\xFF", 0},
      {"FE FE FF FF", "\xFE\xFE\xFF\xFF", 0},
      // Unexpected continuation bytes.
      {"lone 80", "\x80", 0},
      {"lone BF", "\xBF", 0},
      {"continuation after ascii", "a\x80" "b", 1},
      {"extra continuation", "\xC2\x80\x80", 2},
      {"continuation after 3-byte", "\xE2\x82\xAC\xBF", 3},
      // Overlong encodings.
      {"overlong / in 2 bytes", "\xC0\xAF", 0},
      {"overlong NUL in 2 bytes", "\xC0\x80", 0},
      {"overlong U+007F", "\xC1\xBF", 0},
      {"overlong / in 3 bytes", "\xE0\x80\xAF", 1},
      {"overlong U+07FF", "\xE0\x9F\xBF", 1},
      {"overlong / in 4 bytes", "\xF0\x80\x80\xAF", 1},
      {"overlong U+FFFF", "\xF0\x8F\xBF\xBF", 1},
      // UTF-16 surrogates.
      {"U+D800", "\xED\xA0\x80", 1},
      {"U+DB7F", "\xED\xAD\xBF", 1},
      {"U+DB80", "\xED\xAE\x80", 1},
      {"U+DBFF", "\xED\xAF\xBF", 1},
      {"U+DC00", "\xED\xB0\x80", 1},
      {"U+DF80", "\xED\xBE\x80", 1},
      {"U+DFFF", "\xED\xBF\xBF", 1},
      {"surrogate pair", "\xED\xA0\x80\xED\xB0\x80", 1},
      {"kosme then surrogate (Autobahn 6.3.1)",
       "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5\xED\xA0\x80" "edited", 12},
      // Truncated sequences: at the end, or interrupted by the next character.
      {"C2 at end", "\xC2", kTruncated},
      {"E1 at end", "\xE1", kTruncated},
      {"E0 A0 at end", "\xE0\xA0", kTruncated},
      {"F0 90 80 at end", "\xF0\x90\x80", kTruncated},
      {"F4 8F BF at end", "\xF4\x8F\xBF", kTruncated},
      {"ascii then C2 at end", "abc\xC2", kTruncated},
      {"C2 then ascii", "\xC2" "A", 1},
      {"E0 A0 then ascii", "\xE0\xA0" "A", 2},
      {"F0 90 80 then ascii", "\xF0\x90\x80" "A", 3},
      {"C2 then lead", "\xC2\xC2\x80", 1},
      {"concatenated truncations", "\xC0\xE0\x80\xF0\x80\x80", 0},
      // Errors after a long ASCII run, where the vectorised skip is in charge.
      {"80 after 40 ascii", ascii(40) + "\x80", 40},
      {"surrogate after 40 ascii", ascii(40) + "\xED\xA0\x80", 41},
      {"valid after 40 ascii", ascii(40) + "\xF0\x9F\x98\x80" + ascii(17), kValid},
      {"truncated after 33 ascii", ascii(33) + "\xE2\x82", kTruncated},
  };
  return k;
}

TEST(Utf8, TableFedWhole) {
  for (const auto& c : cases()) {
    Utf8Validator v;
    bool ok = v.feed(c.bytes.data(), c.bytes.size());
    EXPECT_EQ(ok, c.fail_at == kValid || c.fail_at == kTruncated) << c.name;
    EXPECT_EQ(v.complete(), c.fail_at == kValid) << c.name;
    EXPECT_EQ(is_valid_utf8(c.bytes), c.fail_at == kValid) << c.name;
  }
}

TEST(Utf8, TableFedByteByByteFailsAtTheFirstBadByte) {
  for (const auto& c : cases()) {
    Utf8Validator v;
    std::size_t failed_at = kValid;
    for (std::size_t i = 0; i < c.bytes.size(); ++i) {
      if (!v.feed(&c.bytes[i], 1)) {
        failed_at = i;
        break;
      }
    }
    if (c.fail_at == kValid || c.fail_at == kTruncated) {
      EXPECT_EQ(failed_at, kValid) << c.name;
      EXPECT_EQ(v.complete(), c.fail_at == kValid) << c.name;
    } else {
      EXPECT_EQ(failed_at, c.fail_at) << c.name;
    }
  }
}

TEST(Utf8, TableFedInTwoPiecesAtEverySplit) {
  for (const auto& c : cases()) {
    for (std::size_t cut = 0; cut <= c.bytes.size(); ++cut) {
      Utf8Validator v;
      bool first = v.feed(c.bytes.data(), cut);
      bool second = v.feed(c.bytes.data() + cut, c.bytes.size() - cut);
      bool bad = c.fail_at != kValid && c.fail_at != kTruncated;
      EXPECT_EQ(first, !bad || c.fail_at >= cut) << c.name << " cut " << cut;
      EXPECT_EQ(second, !bad) << c.name << " cut " << cut;
      EXPECT_EQ(v.complete(), c.fail_at == kValid) << c.name << " cut " << cut;
    }
  }
}

TEST(Utf8, FailureIsStickyUntilReset) {
  Utf8Validator v;
  EXPECT_FALSE(v.feed("\xFF", 1));
  EXPECT_TRUE(v.failed());
  EXPECT_FALSE(v.feed("abc", 3));
  EXPECT_FALSE(v.feed("", 0));
  EXPECT_FALSE(v.complete());
  v.reset();
  EXPECT_TRUE(v.feed("abc", 3));
  EXPECT_TRUE(v.complete());
}

// A straightforward decoder: the reference the DFA is checked against.
bool reference_valid(const std::string& s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    std::uint32_t cp;
    if ((b >> 5) == 0x6) {
      len = 2;
      cp = b & 0x1Fu;
    } else if ((b >> 4) == 0xE) {
      len = 3;
      cp = b & 0x0Fu;
    } else if ((b >> 3) == 0x1E) {
      len = 4;
      cp = b & 0x07u;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c >> 6) != 0x2) return false;
      cp = cp << 6 | (c & 0x3Fu);
    }
    static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

TEST(Utf8, MatchesReferenceOnAllOneAndTwoByteInputs) {
  for (int a = 0; a < 256; ++a) {
    std::string s1(1, static_cast<char>(a));
    ASSERT_EQ(is_valid_utf8(s1), reference_valid(s1)) << a;
    for (int b = 0; b < 256; ++b) {
      std::string s2 = s1 + static_cast<char>(b);
      ASSERT_EQ(is_valid_utf8(s2), reference_valid(s2)) << a << " " << b;
    }
  }
}

TEST(Utf8, MatchesReferenceOnAllThreeByteInputsWithAThreeByteLead) {
  std::string s(3, '\0');
  for (int a = 0xE0; a <= 0xEF; ++a)
    for (int b = 0; b < 256; ++b)
      for (int c = 0; c < 256; ++c) {
        s[0] = static_cast<char>(a);
        s[1] = static_cast<char>(b);
        s[2] = static_cast<char>(c);
        ASSERT_EQ(is_valid_utf8(s), reference_valid(s)) << a << " " << b << " " << c;
      }
}

TEST(Utf8, MatchesReferenceOnFourByteInputsAtRangeEdges) {
  const int edges[] = {0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF};
  std::string s(4, '\0');
  for (int a = 0xF0; a <= 0xFF; ++a)
    for (int b = 0; b < 256; ++b)
      for (int c : edges)
        for (int d : edges) {
          s[0] = static_cast<char>(a);
          s[1] = static_cast<char>(b);
          s[2] = static_cast<char>(c);
          s[3] = static_cast<char>(d);
          ASSERT_EQ(is_valid_utf8(s), reference_valid(s)) << a << " " << b << " " << c << " " << d;
        }
}

// Fail fast: feed() must reject a prefix exactly when no continuation can make it valid.
TEST(Utf8, RejectsAPrefixExactlyWhenItCannotBeCompleted) {
  std::vector<std::string> completions = {""};
  for (int len = 1; len <= 3; ++len) {
    std::vector<std::string> next;
    for (const auto& c : completions)
      if (c.size() == static_cast<std::size_t>(len - 1))
        for (char b : {'\x80', '\x8F', '\x90', '\x9F', '\xA0', '\xBF'}) next.push_back(c + b);
    completions.insert(completions.end(), next.begin(), next.end());
  }
  for (int a = 0; a < 256; ++a)
    for (int b = 0; b < 256; ++b) {
      std::string p{static_cast<char>(a), static_cast<char>(b)};
      bool completable = false;
      for (const auto& c : completions)
        if (reference_valid(p + c)) {
          completable = true;
          break;
        }
      Utf8Validator v;
      ASSERT_EQ(v.feed(p.data(), p.size()), completable) << a << " " << b;
    }
}

// Every alignment and position of the vectorised ASCII skip.
TEST(Utf8, AsciiFastPathFindsTheFirstNonAsciiByteAtEveryPosition) {
  alignas(64) char buf[160];
  for (std::size_t offset = 0; offset < 16; ++offset) {
    for (std::size_t len = 0; len + offset <= 96; ++len) {
      char* p = buf + offset;
      std::memset(p, 'x', len);
      EXPECT_TRUE(is_valid_utf8({p, len}));
      for (std::size_t at = 0; at < len; ++at) {
        p[at] = '\x80';
        Utf8Validator v;
        ASSERT_FALSE(v.feed(p, len)) << offset << " " << len << " " << at;
        p[at] = 'x';
        if (at + 2 <= len) {  // a valid 2-byte character in the run
          p[at] = '\xC3';
          p[at + 1] = '\xA9';
          ASSERT_TRUE(is_valid_utf8({p, len})) << offset << " " << len << " " << at;
          p[at] = p[at + 1] = 'x';
        }
      }
    }
  }
}

}  // namespace
}  // namespace wirehub::ws
