// MessageBuffer: one pointer to a block holding its size and capacity before the bytes.
// Checked: appends across growth keep every byte, truncate/erase_front/clear, release
// frees, moves transfer the block, and the empty state owns nothing.

#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "ws/message_buffer.hpp"

namespace wirehub::ws {
namespace {

TEST(MessageBuffer, EmptyOwnsNothingAndIsOnePointer) {
  MessageBuffer b;
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_EQ(b.data(), nullptr);
  EXPECT_EQ(b.view(), "");
  EXPECT_EQ(sizeof(MessageBuffer), sizeof(void*));
  b.clear();
  b.truncate(0);
  b.release();
  EXPECT_TRUE(b.empty());
}

TEST(MessageBuffer, AppendsAcrossGrowthKeepEveryByte) {
  MessageBuffer b;
  std::string want;
  for (int i = 0; i < 2000; ++i) {
    std::string piece(static_cast<std::size_t>(i % 97 + 1), static_cast<char>('a' + i % 26));
    b.append(piece.data(), piece.size());
    want += piece;
    ASSERT_EQ(b.size(), want.size());
    ASSERT_GE(b.capacity(), b.size());
  }
  EXPECT_EQ(b.view(), want);
}

TEST(MessageBuffer, TruncateEraseFrontClearAndRelease) {
  MessageBuffer b;
  b.append("0123456789", 10);
  b.truncate(20);  // longer than the content: nothing happens
  EXPECT_EQ(b.view(), "0123456789");
  b.truncate(8);
  EXPECT_EQ(b.view(), "01234567");
  b.erase_front(3);
  EXPECT_EQ(b.view(), "34567");
  const std::size_t cap = b.capacity();
  b.clear();
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.capacity(), cap);  // kept for the next message
  b.append("x", 1);
  EXPECT_EQ(b.view(), "x");
  b.release();
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_TRUE(b.empty());
}

TEST(MessageBuffer, MovesTransferTheBlock) {
  MessageBuffer a;
  a.append("hello", 5);
  MessageBuffer b(std::move(a));
  EXPECT_EQ(b.view(), "hello");
  EXPECT_EQ(a.capacity(), 0u);  // NOLINT(bugprone-use-after-move): moved-from is empty
  MessageBuffer c;
  c.append("old", 3);
  c = std::move(b);
  EXPECT_EQ(c.view(), "hello");
}

}  // namespace
}  // namespace wirehub::ws
