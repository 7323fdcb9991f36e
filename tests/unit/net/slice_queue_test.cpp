// SliceQueue: the output queue of a connection, tested as a pure data structure.
//
// A "write" is simulated by gather() + consume(n) for any n, which is exactly what a
// partial writev() does. Buffer lifetimes (push_shared) are checked by content here and
// by AddressSanitizer/LeakSanitizer in the asan-ubsan preset: a buffer freed while a
// queue still refers to it is a use-after-free, one never freed is a leak.

#include <sys/uio.h>

#include <gtest/gtest.h>

#include <algorithm>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/shared_buffer.hpp"
#include "net/slice_queue.hpp"

namespace wirehub::net {
namespace {

constexpr std::uint8_t kData = kFrameStart;
constexpr std::uint8_t kMore = 0;  // continuation of the frame before

// Everything gather() returns, concatenated (without consuming).
std::string peek(const SliceQueue& q, int max_iov = 1024) {
  std::vector<iovec> iov(static_cast<std::size_t>(max_iov));
  int n = q.gather(iov.data(), max_iov);
  std::string s;
  for (int i = 0; i < n; ++i) {
    s.append(static_cast<const char*>(iov[static_cast<std::size_t>(i)].iov_base),
             iov[static_cast<std::size_t>(i)].iov_len);
  }
  return s;
}

int iov_count(const SliceQueue& q) {
  iovec iov[1024];
  return q.gather(iov, 1024);
}

// Writes everything out, in writes of at most `chunk` bytes; returns what was written.
std::string drain(SliceQueue& q, std::size_t chunk = ~std::size_t{0}) {
  std::string out;
  while (!q.empty()) {
    iovec iov[8];
    int n = q.gather(iov, 8);
    std::size_t budget = chunk;
    std::size_t written = 0;
    for (int i = 0; i < n && budget > 0; ++i) {
      std::size_t take = std::min(budget, iov[i].iov_len);
      out.append(static_cast<const char*>(iov[i].iov_base), take);
      written += take;
      budget -= take;
    }
    q.consume(written);
  }
  return out;
}

TEST(SliceQueue, StartsEmpty) {
  SliceQueue q;
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
  EXPECT_EQ(iov_count(q), 0);
  q.push_copy("", kData);  // empty pushes are ignored
  EXPECT_TRUE(q.empty());
}

TEST(SliceQueue, SmallCopiesShareOneBlockAndContinuationsMerge) {
  SliceQueue q;
  q.push_copy("ab", kData);
  q.push_copy("cd", kMore);  // continuation: merges into the same slice
  EXPECT_EQ(iov_count(q), 1);
  q.push_copy("ef", kData);  // a frame start keeps a slice of its own, in the same block
  iovec iov[4];
  ASSERT_EQ(q.gather(iov, 4), 2);
  EXPECT_EQ(iov[0].iov_len, 4u);
  EXPECT_EQ(iov[1].iov_len, 2u);
  EXPECT_EQ(static_cast<char*>(iov[1].iov_base), static_cast<char*>(iov[0].iov_base) + 4);
  EXPECT_EQ(q.bytes(), 6u);
  EXPECT_EQ(peek(q), "abcdef");
  // Frame boundaries survive the merge: exactly two frames can be dropped.
  EXPECT_EQ(q.drop_oldest_frames(0), 2u);
  EXPECT_TRUE(q.empty());
}

// The first owned block is small (most queues hold one frame, e.g. a Close to every
// connection at shutdown); later blocks double, so many small frames still share blocks.
TEST(SliceQueue, OwnedBlocksStartSmallAndDouble) {
  SliceQueue q;
  std::vector<const char*> blocks;  // the distinct blocks, in order
  std::vector<std::size_t> frames_in;
  std::string frame(100, 'f');
  for (int i = 0; i < 400; ++i) q.push_copy(frame, kData);
  std::vector<iovec> iov(400);
  ASSERT_EQ(q.gather(iov.data(), 400), 400);
  for (int i = 0; i < 400; ++i) {
    auto* p = static_cast<const char*>(iov[static_cast<std::size_t>(i)].iov_base);
    if (i == 0 || p != static_cast<const char*>(iov[static_cast<std::size_t>(i - 1)].iov_base) + 100) {
      blocks.push_back(p);
      frames_in.push_back(0);
    }
    ++frames_in.back();
  }
  // Blocks of 480, 960, 1920, 3840, 7680, 15360 bytes, then 16 KiB ones (163 frames).
  EXPECT_EQ(frames_in, (std::vector<std::size_t>{4, 9, 19, 38, 76, 153, 101}));
  EXPECT_EQ(q.drop_oldest_frames(0), 400u);
}

TEST(SliceQueue, CopyLargerThanABlockGetsItsOwnBlock) {
  SliceQueue q;
  std::string big(40'000, 'x');
  q.push_copy("h", kData);
  q.push_copy(big, kMore);  // larger than any tail block
  q.push_copy("t", kMore);
  EXPECT_EQ(q.bytes(), big.size() + 2);
  EXPECT_EQ(peek(q), "h" + big + "t");
  EXPECT_EQ(q.drop_oldest_frames(0), 1u);  // one frame, however many blocks
  EXPECT_TRUE(q.empty());
}

TEST(SliceQueue, SharedBufferOutlivesEveryQueueThatHoldsIt) {
  SliceQueue a, b;
  {
    BufferRef buf = BufferRef::copy_of("0123456789");
    a.push_shared(buf, 2, 5, kData);  // "23456"
    b.push_shared(buf, 0, 10, kData);
    a.push_shared(buf, 0, 0, kData);  // empty: ignored, takes no reference
  }  // our reference is gone; the two queues keep the buffer alive
  EXPECT_EQ(peek(a), "23456");
  EXPECT_EQ(drain(a, 3), "23456");  // a's references released
  EXPECT_TRUE(a.empty());
  // b still reads valid bytes (a premature free is a use-after-free under ASan).
  EXPECT_EQ(peek(b), "0123456789");
  EXPECT_EQ(drain(b, 1), "0123456789");  // last reference: freed (a leak otherwise)
}

TEST(SliceQueue, SharedBufferReleasedByClearAndByDestruction) {
  BufferRef buf = BufferRef::copy_of("payload");
  {
    SliceQueue a;
    a.push_shared(buf, 0, 7, kData);
    a.push_shared(buf, 0, 7, kData);
    SliceQueue b;
    b.push_shared(buf, 0, 7, kData);
    b.clear();
    EXPECT_TRUE(b.empty());
  }  // a destroyed with two references queued
  // Only our reference is left: once it goes, the block is freed (LeakSanitizer checks).
  EXPECT_EQ(buf->view(), "payload");
}

// A queue holding every kind of slice: merged copies, a multi-slice frame, a shared
// payload, a large copy and a control frame.
void fill_mixed(SliceQueue& q, const BufferRef& shared) {
  q.push_copy("H1", kData);
  q.push_copy("payload-one", kMore);
  q.push_copy("H2", kData);
  q.push_shared(shared, 3, 20, kMore);
  q.push_copy(std::string(17'000, 'L'), kData);
  q.push_copy("H4", kData);
  q.push_shared(shared, 0, 1, kMore);
  q.push_control("PING");
}

TEST(SliceQueue, PartialWritesAtEveryByteOffsetKeepTheStreamIntact) {
  BufferRef shared = BufferRef::copy_of("abcdefghijklmnopqrstuvwxyz0123456789");
  SliceQueue reference;
  fill_mixed(reference, shared);
  const std::string all = drain(reference);
  ASSERT_EQ(all.size(), 2 + 11 + 2 + 20 + 17'000 + 2 + 1 + 4u);

  // Split points near every slice boundary, plus a sweep of the whole stream.
  for (std::size_t split = 0; split <= all.size(); split += (split < 64 || split > all.size() - 64) ? 1 : 97) {
    SliceQueue q;
    fill_mixed(q, shared);
    ASSERT_EQ(q.bytes(), all.size());
    q.consume(split);  // the first writev took `split` bytes
    ASSERT_EQ(q.bytes(), all.size() - split) << "split " << split;
    ASSERT_EQ(peek(q), all.substr(split)) << "split " << split;
    // And a max-2 gather returns a prefix of the same stream.
    std::string two = peek(q, 2);
    ASSERT_EQ(all.substr(split, two.size()), two) << "split " << split;
    EXPECT_EQ(q.empty(), split == all.size());
    // The rest, in writes of 7 bytes.
    ASSERT_EQ(drain(q, 7), all.substr(split)) << "split " << split;
    EXPECT_EQ(q.bytes(), 0u);
  }
}

TEST(SliceQueue, ByteByByteWritesDeliverEverything) {
  BufferRef shared = BufferRef::copy_of("abcdefghijklmnopqrstuvwxyz0123456789");
  SliceQueue reference, q;
  fill_mixed(reference, shared);
  fill_mixed(q, shared);
  EXPECT_EQ(drain(q, 1), drain(reference));
}

TEST(SliceQueue, ControlGoesAheadOfUnstartedData) {
  SliceQueue q;
  q.push_copy("D1", kData);
  q.push_copy("D2", kData);
  q.push_control("C");
  EXPECT_EQ(peek(q), "CD1D2");
}

TEST(SliceQueue, ControlGoesIntoAnEmptyQueue) {
  SliceQueue q;
  q.push_control("C");
  EXPECT_EQ(peek(q), "C");
  q.push_copy("D", kData);  // data after a control frame stays after it
  EXPECT_EQ(peek(q), "CD");
}

TEST(SliceQueue, ControlGoesAfterAPartiallyWrittenFrameAndItsContinuations) {
  BufferRef shared = BufferRef::copy_of("SHAREDPAYLOAD");
  SliceQueue q;
  q.push_copy("H1", kData);
  q.push_shared(shared, 0, 13, kMore);  // frame 1 = "H1SHAREDPAYLOAD", two slices
  q.push_copy("H2", kData);
  q.push_copy("p2", kMore);
  q.consume(1);  // frame 1 has started
  q.push_control("C");
  EXPECT_EQ(peek(q), "1SHAREDPAYLOADCH2p2");
}

TEST(SliceQueue, ControlGoesAfterAFrameWhoseFirstSliceIsFullyWritten) {
  // The front slice is a continuation that has not been touched yet (head offset 0),
  // but its frame has started: the control frame must not split it.
  BufferRef shared = BufferRef::copy_of("SHAREDPAYLOAD");
  SliceQueue q;
  q.push_copy("H1", kData);
  q.push_shared(shared, 0, 13, kMore);
  q.push_copy("H2", kData);
  q.consume(2);
  q.push_control("C");
  EXPECT_EQ(peek(q), "SHAREDPAYLOADCH2");
}

TEST(SliceQueue, ControlFramesKeepTheirOrder) {
  SliceQueue q;
  q.push_copy("D1", kData);
  q.push_control("C1");
  q.push_control("C2");
  q.push_copy("D2", kData);
  q.push_control("C3");
  EXPECT_EQ(peek(q), "C1C2C3D1D2");
}

TEST(SliceQueue, ControlAfterAFullyWrittenFrameGoesFirst) {
  SliceQueue q;
  q.push_copy("D1", kData);
  q.push_copy("D2", kData);
  q.consume(2);  // D1 gone, D2 untouched
  q.push_control("C");
  EXPECT_EQ(peek(q), "CD2");
}

TEST(SliceQueue, DropOldestNeverDropsAStartedOrControlFrameAndCountsExactly) {
  BufferRef shared = BufferRef::copy_of(std::string(100, 's'));
  SliceQueue q;
  q.push_copy("F1", kData);
  q.push_copy("-payload", kMore);  // F1 (merged into one slice)
  q.push_copy("F2", kData);
  q.push_shared(shared, 0, 100, kMore);  // F2: two slices
  q.push_copy("F3", kData);              // F3
  q.push_copy("F4", kData);
  q.push_shared(shared, 0, 10, kMore);
  q.push_shared(shared, 0, 10, kMore);  // F4: three slices
  q.consume(3);                         // F1 started
  q.push_control("CTRL");               // lands between F1 and F2
  ASSERT_EQ(peek(q), "payload" + std::string("CTRL") + "F2" + std::string(100, 's') + "F3" + "F4" +
                         std::string(20, 's'));

  // Only F2 has to go to get to <= 7 + 4 + 2 + 22 bytes.
  EXPECT_EQ(q.drop_oldest_frames(7 + 4 + 2 + 22), 1u);
  EXPECT_EQ(peek(q), "payloadCTRLF3F4" + std::string(20, 's'));
  // Everything droppable: F3 and F4; the started F1 and the control frame stay.
  EXPECT_EQ(q.drop_oldest_frames(0), 2u);
  EXPECT_EQ(peek(q), "payloadCTRL");
  EXPECT_EQ(q.bytes(), 11u);
  EXPECT_EQ(q.drop_oldest_frames(0), 0u);
  EXPECT_EQ(drain(q), "payloadCTRL");
}

TEST(SliceQueue, DropOldestDoesNotDropAFrameWhoseFirstSliceIsFullyWritten) {
  BufferRef shared = BufferRef::copy_of("CONTINUATION");
  SliceQueue q;
  q.push_copy("H1", kData);
  q.push_shared(shared, 0, 12, kMore);
  q.push_copy("H2", kData);
  q.consume(2);  // the front slice is now F1's untouched continuation
  EXPECT_EQ(q.drop_oldest_frames(0), 1u);  // F2 only
  EXPECT_EQ(peek(q), "CONTINUATION");
}

TEST(SliceQueue, DropOldestStopsAtTheTarget) {
  SliceQueue q;
  for (int i = 0; i < 10; ++i) q.push_copy(std::string(10, static_cast<char>('0' + i)), kData);
  EXPECT_EQ(q.drop_oldest_frames(100), 0u);  // already at the target
  EXPECT_EQ(q.drop_oldest_frames(75), 3u);   // 100 -> 70
  EXPECT_EQ(q.bytes(), 70u);
  EXPECT_EQ(peek(q).substr(0, 10), std::string(10, '3'));  // the oldest went first
}

TEST(SliceQueue, ManySlicesWrapAroundTheRingAndGrowIt) {
  BufferRef shared = BufferRef::copy_of("0123456789");
  SliceQueue q;
  std::string expected;
  // Shared slices: one ring entry each, never merged.
  for (int i = 0; i < 6; ++i) {
    q.push_shared(shared, static_cast<std::size_t>(i), 1, kData);
    expected += static_cast<char>('0' + i);
  }
  q.consume(5);  // head moves to the middle of the ring
  expected.erase(0, 5);
  for (int i = 0; i < 30; ++i) {  // wraps, then grows with a wrapped head
    q.push_shared(shared, static_cast<std::size_t>(i % 10), 1, kData);
    expected += static_cast<char>('0' + i % 10);
  }
  EXPECT_EQ(peek(q), expected);
  q.push_control("C");  // rotated into place across the wrap
  EXPECT_EQ(peek(q), "C" + expected);
  q.consume(1);
  EXPECT_EQ(q.drop_oldest_frames(10), 31u - 10u);
  EXPECT_EQ(peek(q), expected.substr(expected.size() - 10));
  EXPECT_EQ(drain(q, 3), expected.substr(expected.size() - 10));
}

TEST(SliceQueue, ShrinkFreesAnEmptyQueueWhichStaysUsable) {
  SliceQueue q;
  q.push_copy("abc", kData);
  q.shrink();  // not empty: no effect
  EXPECT_EQ(peek(q), "abc");
  drain(q);
  q.shrink();
  EXPECT_TRUE(q.empty());
  q.shrink();  // twice is fine
  q.push_copy("def", kData);
  q.push_control("C");
  EXPECT_EQ(drain(q), "Cdef");
}

TEST(SliceQueue, MoveTransfersTheContent) {
  BufferRef shared = BufferRef::copy_of("xyz");
  SliceQueue a;
  a.push_copy("ab", kData);
  a.push_shared(shared, 0, 3, kData);
  a.consume(1);
  SliceQueue b(std::move(a));
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_EQ(b.bytes(), 4u);
  EXPECT_EQ(peek(b), "bxyz");
  SliceQueue c;
  c.push_copy("old", kData);
  c = std::move(b);
  EXPECT_EQ(peek(c), "bxyz");
  EXPECT_EQ(drain(c), "bxyz");
  a.push_copy("reuse", kData);
  EXPECT_EQ(drain(a), "reuse");
}

}  // namespace
}  // namespace wirehub::net

namespace wirehub::net {
namespace {

// KeepLatest conflation: drop_tagged removes exactly the unstarted frames of one tag,
// whole (start and continuation slices), never a started, control or untagged one.
TEST(SliceQueueTags, DropTaggedRemovesOnlyUnstartedFramesOfThatTag) {
  SliceQueue q;
  q.push_copy("A1", kFrameStart, 7);
  q.push_copy("+", 0);
  q.push_copy("B1", kFrameStart, 9);
  q.consume(1);      // "A1" has started: it must stay
  q.push_control("P");  // goes before B1, the first unstarted data frame
  q.push_copy("A2", kFrameStart, 7);
  q.push_copy("U", kFrameStart, 0);
  EXPECT_EQ(q.drop_tagged(7), 1u);  // only A2
  EXPECT_EQ(q.drop_tagged(0), 0u);  // 0 means untagged and never matches
  std::string rest;
  iovec iov[16];
  int n = q.gather(iov, 16);
  for (int i = 0; i < n; ++i) rest.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
  EXPECT_EQ(rest, "1+PB1U");
  EXPECT_EQ(q.bytes(), rest.size());
}

}  // namespace
}  // namespace wirehub::net


// Merging: broadcast frames packed back to back in one arena leave as one iovec.
namespace wirehub::net {
namespace {

BufferRef arena_of(std::string_view bytes) {
  BufferRef b = BufferRef::allocate(64);
  std::memcpy(b->data(), bytes.data(), bytes.size());
  b->set_size(bytes.size());
  return b;
}

TEST(SliceQueueMerge, AdjacentFramesOfOneBufferBecomeOneSliceAndCountAsTheirFrames) {
  BufferRef a = arena_of("AAABBBCCC");
  SliceQueue q;
  q.push_shared(a, 0, 3, kFrameStart, 7, true);
  q.push_shared(a, 3, 3, kFrameStart, 7, true);
  q.push_shared(a, 6, 3, kFrameStart, 7, true);
  EXPECT_EQ(iov_count(q), 1);
  EXPECT_EQ(q.bytes(), 9u);
  EXPECT_EQ(peek(q), "AAABBBCCC");
  EXPECT_EQ(q.drop_oldest_frames(0), 3u);  // every frame of the merged slice is counted
  EXPECT_TRUE(q.empty());
}

TEST(SliceQueueMerge, NoMergeWithoutConsentAcrossGapsTagsBuffersOrControlFrames) {
  BufferRef a = arena_of("AAABBBCCCDDD");
  BufferRef b = arena_of("XXX");
  SliceQueue q;
  q.push_shared(a, 0, 3, kFrameStart, 0, true);
  q.push_shared(a, 3, 3, kFrameStart, 0, false);  // caller forbids merging
  q.push_shared(a, 9, 3, kFrameStart, 0, true);   // gap: bytes 6..8 are not queued
  q.push_shared(a, 12, 0, kFrameStart, 0, true);  // empty: nothing queued
  q.push_shared(b, 0, 3, kFrameStart, 0, true);   // another buffer
  q.push_control("P");
  EXPECT_EQ(iov_count(q), 5);
  EXPECT_EQ(peek(q), "PAAABBBDDDXXX");
  SliceQueue t;
  t.push_shared(a, 0, 3, kFrameStart, 1, true);
  t.push_shared(a, 3, 3, kFrameStart, 3, true);  // another tag
  EXPECT_EQ(iov_count(t), 2);
  EXPECT_EQ(t.drop_tagged(3), 1u);
  EXPECT_EQ(peek(t), "AAA");
}

TEST(SliceQueueMerge, AFrameMergedIntoAPartlyWrittenSliceIsWrittenButNeverDropped) {
  BufferRef a = arena_of("AAABBB");
  SliceQueue q;
  q.push_shared(a, 0, 3, kFrameStart, 0, true);
  q.consume(2);  // "AA" written
  q.push_shared(a, 3, 3, kFrameStart, 0, true);
  EXPECT_EQ(iov_count(q), 1);
  EXPECT_EQ(q.drop_oldest_frames(0), 0u);  // the slice has started: it goes out whole
  EXPECT_EQ(drain(q, 1), "ABBB");
}

TEST(SliceQueueMerge, DropTaggedCountsEveryMergedFrame) {
  BufferRef a = arena_of("AAABBBCCC");
  SliceQueue q;
  q.push_shared(a, 0, 3, kFrameStart, 5, true);
  q.push_shared(a, 3, 3, kFrameStart, 5, true);
  q.push_copy("zz", kFrameStart);
  q.push_shared(a, 6, 3, kFrameStart, 5, true);
  EXPECT_EQ(q.drop_tagged(5), 3u);
  EXPECT_EQ(peek(q), "zz");
}

}  // namespace
}  // namespace wirehub::net
