#pragma once
// LagProbe: how late a loop gets round to its timers — the event-loop lag an operator
// watches (a handler that blocks, a burst of work, a starved thread all show up here).
//
// Every kIntervalMs the probe's timer is due at a boundary of the timer wheel's 8 ms
// ticks, so the wheel's rounding adds nothing; what it records is the time from that
// deadline to the moment the timer callback runs. That includes what the loop's clock
// adds on its own: the loop computes its epoll timeout in whole milliseconds from a time
// truncated to the millisecond, so an idle loop already shows up to ~1 ms (plus the
// kernel's timer slack, ~50 us); anything well above that is lag.

#include <atomic>
#include <cstdint>

#include "core/histogram.hpp"
#include "loop/event_loop.hpp"
#include "loop/timer_wheel.hpp"

namespace wirehub::loop {

class LagProbe final : public Timer {
 public:
  static constexpr std::uint64_t kIntervalMs = 100;

  explicit LagProbe(EventLoop& loop);
  // Cancels the timer: destroy it on the loop thread or once the loop has stopped.
  ~LagProbe() override;
  LagProbe(const LagProbe&) = delete;
  LagProbe& operator=(const LagProbe&) = delete;

  // Arms the first measurement. On the loop thread, while it runs: the loop's time is
  // refreshed only when it wakes, and a stale one would delay the first firing.
  void start();
  // Lateness of each firing, in nanoseconds (readable from any thread).
  const Histogram& lag_ns() const noexcept { return lag_; }
  // When the probe last ran (EventLoop::clock_ms), or was started; 0 before start().
  // A loop that stops running its timers stops moving this (readable from any thread).
  std::uint64_t last_run_ms() const noexcept { return last_run_ms_.load(std::memory_order_relaxed); }

 private:
  void on_timer() override;
  void arm_next();

  EventLoop& loop_;
  std::uint64_t due_ms_ = 0;  // monotonic ms, a multiple of TimerWheel::kTickMs
  Histogram lag_;
  std::atomic<std::uint64_t> last_run_ms_{0};
};

}  // namespace wirehub::loop
