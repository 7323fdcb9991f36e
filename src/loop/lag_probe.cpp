#include "loop/lag_probe.hpp"

#include "core/clock.hpp"

namespace wirehub::loop {

namespace {
constexpr std::uint64_t kMs = 1'000'000;
}  // namespace

LagProbe::LagProbe(EventLoop& loop)
    : loop_(loop),
      lag_{kMs / 2, kMs, 5 * kMs / 2, 5 * kMs, 10 * kMs, 25 * kMs, 50 * kMs, 100 * kMs, 250 * kMs, 500 * kMs,
           1000 * kMs, 2500 * kMs} {}

LagProbe::~LagProbe() { loop_.timers().cancel(*this); }

void LagProbe::start() {
  last_run_ms_.store(EventLoop::clock_ms(), std::memory_order_relaxed);
  arm_next();
}

void LagProbe::arm_next() {
  // The next tick boundary at least kIntervalMs from now. Armed with the delay that lands
  // exactly on it (the wheel rounds a deadline up to its tick), it fires as soon as the
  // loop's clock reaches due_ms_.
  constexpr std::uint64_t tick = TimerWheel::kTickMs;
  due_ms_ = (EventLoop::clock_ms() + kIntervalMs + tick - 1) / tick * tick;
  const std::uint64_t now = loop_.now_ms();  // the loop's time, at most the clock's
  loop_.timers().arm(*this, now, due_ms_ > now ? due_ms_ - now : 0);
}

void LagProbe::on_timer() {
  const std::uint64_t now = steady_now_ns(), due = due_ms_ * kMs;
  lag_.observe(now > due ? now - due : 0);
  last_run_ms_.store(EventLoop::clock_ms(), std::memory_order_relaxed);
  arm_next();
}

}  // namespace wirehub::loop
