#pragma once
// The monotonic clock in nanoseconds, for measuring durations across threads (a publish
// call on one thread, its delivery on a loop).

#include <chrono>
#include <cstdint>

namespace wirehub {

inline std::uint64_t steady_now_ns() noexcept {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

}  // namespace wirehub
