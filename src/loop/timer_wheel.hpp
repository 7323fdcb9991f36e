#pragma once
// TimerWheel: a hashed timing wheel of intrusive timers.
//
// Every connection owns one Timer and re-arms it for whatever its state needs next
// (handshake deadline, keep-alive ping, idle timeout, close timeout), so arming and
// cancelling are O(1) pointer swaps and an idle connection costs no allocation. Timers
// further out than one revolution stay in their slot and are skipped until their tick.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace wirehub::loop {

class TimerWheel;

class Timer {
 public:
  Timer() noexcept = default;
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  bool armed() const noexcept { return pprev_ != nullptr && !due_; }

 protected:
  virtual ~Timer() = default;  // owners cancel before destruction
  // Runs on the loop thread when the deadline passes; the timer is already disarmed.
  virtual void on_timer() = 0;

 private:
  friend class TimerWheel;
  // Intrusive list links: pprev_ points at whatever points at us (a slot head or the
  // previous timer's next_), so unlinking needs no knowledge of which list we are in.
  Timer* next_ = nullptr;
  Timer** pprev_ = nullptr;
  std::uint64_t expiry_tick_ = 0;
  bool due_ = false;  // linked in the wheel's due list, about to fire
};

class TimerWheel {
 public:
  static constexpr std::uint64_t kTickMs = 8;
  static constexpr std::size_t kSlots = 4096;  // one revolution ~ 32.8 s

  explicit TimerWheel(std::uint64_t now_ms);
  ~TimerWheel();

  // Arms (or re-arms) t to fire no earlier than now_ms + delay_ms.
  void arm(Timer& t, std::uint64_t now_ms, std::uint64_t delay_ms) noexcept;
  void cancel(Timer& t) noexcept;
  // Fires every timer whose deadline is <= now_ms. Callbacks may arm or cancel any timer.
  void advance(std::uint64_t now_ms);
  // Milliseconds until the next tick that has work, capped at max_ms; -1 when nothing is armed.
  int next_timeout_ms(std::uint64_t now_ms, int max_ms) const noexcept;
  std::size_t armed_count() const noexcept { return count_; }

 private:
  static std::uint64_t tick_of(std::uint64_t ms) noexcept { return ms / kTickMs; }
  static void link(Timer*& head, Timer& t) noexcept;
  static void unlink(Timer& t) noexcept;
  std::vector<Timer*> slots_;
  Timer* due_ = nullptr;  // timers of the tick being fired
  std::uint64_t current_tick_;
  mutable std::uint64_t hint_tick_ = 0;  // no timer is due before this tick (see next_timeout_ms)
  std::size_t count_ = 0;
};

}  // namespace wirehub::loop
