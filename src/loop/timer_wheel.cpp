#include "loop/timer_wheel.hpp"

namespace wirehub::loop {

TimerWheel::TimerWheel(std::uint64_t now_ms) : slots_(kSlots, nullptr), current_tick_(tick_of(now_ms)) {}

TimerWheel::~TimerWheel() = default;

void TimerWheel::link(Timer*& head, Timer& t) noexcept {
  t.next_ = head;
  t.pprev_ = &head;
  if (head) head->pprev_ = &t.next_;
  head = &t;
}

void TimerWheel::unlink(Timer& t) noexcept {
  *t.pprev_ = t.next_;
  if (t.next_) t.next_->pprev_ = t.pprev_;
  t.next_ = nullptr;
  t.pprev_ = nullptr;
}

void TimerWheel::arm(Timer& t, std::uint64_t now_ms, std::uint64_t delay_ms) noexcept {
  cancel(t);
  // Round up so a timer never fires early; a deadline in the current tick fires next tick.
  std::uint64_t tick = tick_of(now_ms + delay_ms + kTickMs - 1);
  if (tick <= current_tick_) tick = current_tick_ + 1;
  t.expiry_tick_ = tick;
  if (tick < hint_tick_) hint_tick_ = tick;
  link(slots_[tick % kSlots], t);
  ++count_;
}

void TimerWheel::cancel(Timer& t) noexcept {
  if (!t.pprev_) return;
  unlink(t);
  if (t.due_) {
    t.due_ = false;  // was waiting to fire this tick; count_ already excludes it
  } else {
    --count_;
  }
}

void TimerWheel::advance(std::uint64_t now_ms) {
  std::uint64_t target = tick_of(now_ms);
  while (current_tick_ < target && count_ > 0) {
    ++current_tick_;
    // Move due timers to the due list first: callbacks may arm, cancel or re-arm any
    // timer, including ones of this slot and ones already moved.
    for (Timer* t = slots_[current_tick_ % kSlots]; t;) {
      Timer* next = t->next_;
      if (t->expiry_tick_ <= current_tick_) {
        unlink(*t);
        --count_;
        t->due_ = true;
        link(due_, *t);
      }
      t = next;
    }
    while (due_) {
      Timer* t = due_;
      unlink(*t);
      t->due_ = false;
      t->on_timer();
    }
  }
  if (count_ == 0) current_tick_ = target;
}

int TimerWheel::next_timeout_ms(std::uint64_t now_ms, int max_ms) const noexcept {
  if (count_ == 0) return -1;
  // hint_tick_ is a lower bound of the next due tick: arm() lowers it, and it is only
  // recomputed (a bounded scan) once the wheel has moved past it, so a busy loop does not
  // rescan the wheel on every iteration.
  if (hint_tick_ <= current_tick_) {
    std::uint64_t limit = static_cast<std::uint64_t>(max_ms) / kTickMs + 1;
    if (limit >= kSlots) limit = kSlots - 1;
    hint_tick_ = current_tick_ + limit + 1;
    for (std::uint64_t i = 1; i <= limit; ++i) {
      std::uint64_t tick = current_tick_ + i;
      bool due = false;
      for (const Timer* t = slots_[tick % kSlots]; t && !due; t = t->next_) due = t->expiry_tick_ <= tick;
      if (due) {
        hint_tick_ = tick;
        break;
      }
    }
  }
  std::uint64_t at = hint_tick_ * kTickMs;
  if (at <= now_ms) return 0;
  std::uint64_t wait = at - now_ms;
  return wait > static_cast<std::uint64_t>(max_ms) ? max_ms : static_cast<int>(wait);
}

}  // namespace wirehub::loop
