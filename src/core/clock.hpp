#pragma once
// The monotonic clock in nanoseconds, for measuring durations across threads (a publish
// call on one thread, its delivery on a loop). With libstdc++ on Linux steady_clock is
// CLOCK_MONOTONIC, the clock of loop::EventLoop::clock_ms, so the two can be compared.

#include <chrono>
#include <cstdint>

namespace wirehub {

inline std::uint64_t steady_now_ns() noexcept {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

}  // namespace wirehub
