#include "core/byte_buffer.hpp"

#include <gtest/gtest.h>

#include "core/shared_buffer.hpp"

namespace wirehub {
namespace {

TEST(ByteBuffer, EmptyOwnsNothing) {
  ByteBuffer b;
  EXPECT_EQ(b.capacity(), 0u);
  b.append("abc");
  b.consume(3);
  EXPECT_TRUE(b.empty());
  b.shrink();
  EXPECT_EQ(b.capacity(), 0u);
}

TEST(ByteBuffer, AppendConsumeKeepsOrderAcrossGrowth) {
  ByteBuffer b;
  std::string expect;
  for (int i = 0; i < 1000; ++i) {
    std::string piece = std::to_string(i) + ",";
    b.append(piece);
    expect += piece;
    if (i % 7 == 0 && b.size() >= 3) {
      b.consume(3);
      expect.erase(0, 3);
    }
  }
  EXPECT_EQ(b.view(), expect);
}

TEST(ByteBuffer, ShrinkKeepsData) {
  ByteBuffer b;
  b.append(std::string(5000, 'x'));
  b.consume(4990);
  b.shrink();
  EXPECT_EQ(b.view(), std::string(10, 'x'));
  EXPECT_EQ(b.capacity(), 10u);
}

TEST(SharedBuffer, LastReleaseFrees) {
  BufferRef a = BufferRef::copy_of("hello");
  BufferRef b = a;
  EXPECT_EQ(b->view(), "hello");
  a = BufferRef();
  EXPECT_EQ(b->view(), "hello");  // ASan would catch a premature free here
}

}  // namespace
}  // namespace wirehub
