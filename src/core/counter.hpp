#pragma once
// Counter: a statistic written by one thread (its loop) and read by any.
//
// add() is a relaxed load+store rather than fetch_add: with a single writer no increment
// is lost, and it compiles to a plain add instead of a locked one on the hot path, while
// staying a data-race-free atomic for readers (and for ThreadSanitizer).

#include <atomic>
#include <cstdint>

namespace wirehub {

class Counter {
 public:
  void add(std::uint64_t n = 1) noexcept { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void sub(std::uint64_t n = 1) noexcept { v_.store(v_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed); }
  std::uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

}  // namespace wirehub
