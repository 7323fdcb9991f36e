// BlockPool: fixed-size blocks in 64 KiB slabs. Checked: blocks are distinct, aligned and
// writable; freed blocks are reused; an emptied slab goes back to the system except one
// kept in reserve; blocks freed on another thread than the allocating one; misuse of the
// size is refused. AddressSanitizer (asan-ubsan preset) checks the memory itself.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/block_pool.hpp"

namespace wirehub {
namespace {

TEST(BlockPool, BlocksAreDistinctAlignedAndHoldTheirBytes) {
  BlockPool pool(280);
  EXPECT_EQ(pool.block_size(), 288u);
  EXPECT_GE(pool.blocks_per_slab(), 200u);
  std::vector<void*> blocks;
  for (int i = 0; i < 1000; ++i) {
    void* p = pool.allocate();
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 16, 0u);
    std::memset(p, i & 0xFF, 280);
    blocks.push_back(p);
  }
  EXPECT_EQ(std::set<void*>(blocks.begin(), blocks.end()).size(), blocks.size());
  for (int i = 0; i < 1000; ++i) {
    const auto* b = static_cast<const unsigned char*>(blocks[static_cast<std::size_t>(i)]);
    ASSERT_TRUE(std::all_of(b, b + 280, [&](unsigned char c) { return c == (i & 0xFF); })) << "block " << i;
  }
  EXPECT_EQ(pool.blocks_in_use(), 1000u);
  std::size_t per = pool.blocks_per_slab();
  EXPECT_EQ(pool.slabs(), (1000 + per - 1) / per);
  for (void* p : blocks) pool.deallocate(p);
  EXPECT_EQ(pool.blocks_in_use(), 0u);
}

TEST(BlockPool, FreedBlocksAreReusedBeforeNewSlabsAreMapped) {
  BlockPool pool(100);
  std::vector<void*> first;
  for (std::size_t i = 0; i < pool.blocks_per_slab(); ++i) first.push_back(pool.allocate());
  EXPECT_EQ(pool.slabs(), 1u);
  void* freed = first[7];
  pool.deallocate(freed);
  EXPECT_EQ(pool.allocate(), freed);  // the slab's only free block
  EXPECT_EQ(pool.slabs(), 1u);
  void* next = pool.allocate();  // the slab is full: a second one
  EXPECT_EQ(pool.slabs(), 2u);
  pool.deallocate(next);
  for (void* p : first) pool.deallocate(p);
}

TEST(BlockPool, EmptySlabsGoBackToTheSystemButOneIsKept) {
  BlockPool pool(512);
  const std::size_t per = pool.blocks_per_slab();
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < 4 * per; ++i) blocks.push_back(pool.allocate());
  EXPECT_EQ(pool.slabs(), 4u);
  for (void* p : blocks) pool.deallocate(p);
  EXPECT_EQ(pool.blocks_in_use(), 0u);
  EXPECT_EQ(pool.slabs(), 1u);  // the reserve
  // Opening and closing one connection at a time maps nothing new.
  for (int i = 0; i < 100; ++i) pool.deallocate(pool.allocate());
  EXPECT_EQ(pool.slabs(), 1u);
}

TEST(BlockPool, BlocksMayBeFreedOnAnotherThread) {
  BlockPool pool(64);
  std::vector<void*> blocks;
  for (int round = 0; round < 20; ++round) {
    std::thread producer([&] {
      for (int i = 0; i < 2000; ++i) blocks.push_back(pool.allocate());
    });
    producer.join();
    std::thread consumer([&] {
      for (void* p : blocks) pool.deallocate(p);
      blocks.clear();
    });
    consumer.join();
  }
  EXPECT_EQ(pool.blocks_in_use(), 0u);
  EXPECT_EQ(pool.slabs(), 1u);
}

TEST(BlockPool, ABlockTooLargeForASlabIsRefused) {
  EXPECT_THROW(BlockPool(BlockPool::kSlabBytes / 4), std::invalid_argument);
}

}  // namespace
}  // namespace wirehub
