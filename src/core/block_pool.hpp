#pragma once
// BlockPool: fixed-size blocks for objects that live long and come in large numbers (one
// per open WebSocket), packed in 64 KiB slabs of their own.
//
// Why not malloc: a connection's handshake objects (large, short-lived) and its session
// (small, long-lived) come from the same heap in alternation, so the sessions end up in
// the holes between freed handshake objects and the heap keeps ~100 B per connection of
// free fragments it can never give back. Slabs that hold only sessions stay dense, cost
// no per-block header, and go back to the system once empty (one empty slab is kept, so
// that a connection opening and closing at the edge of a slab does not map and unmap).
//
// Thread-safe (a mutex; it is taken once per connection opened or closed): a block may be
// freed on another thread than the one that allocated it.

#include <cstddef>
#include <cstdint>
#include <mutex>

namespace wirehub {

class BlockPool {
 public:
  static constexpr std::size_t kSlabBytes = 64 * 1024;

  // block_size is rounded up to 16; it must leave room for at least 8 blocks per slab.
  explicit BlockPool(std::size_t block_size);
  ~BlockPool();  // every block must have been freed
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  void* allocate();                   // throws std::bad_alloc
  void deallocate(void* p) noexcept;  // p from allocate() of this pool

  std::size_t block_size() const noexcept { return block_size_; }
  std::size_t blocks_per_slab() const noexcept { return per_slab_; }
  std::size_t slabs() const;           // mapped now
  std::size_t blocks_in_use() const;

 private:
  struct Slab;
  Slab* new_slab();
  static void link(Slab*& head, Slab* s) noexcept;
  static void unlink(Slab*& head, Slab* s) noexcept;

  const std::size_t block_size_;
  const std::size_t per_slab_;
  mutable std::mutex mu_;
  Slab* partial_ = nullptr;  // slabs with at least one free block
  Slab* full_ = nullptr;     // slabs with none
  std::size_t slabs_ = 0;
  std::size_t empty_slabs_ = 0;  // on the partial list with every block free
  std::size_t in_use_ = 0;
};

}  // namespace wirehub
