// TimerWheel on synthetic time: the wheel takes now_ms as a parameter, so every test
// drives it millisecond by millisecond (or in jumps) without sleeping.
//
// The contract under test: a timer armed at `now` with `delay` fires in the first
// advance(t) with t >= now + delay, and no later than one tick after that deadline;
// cancel, re-arm and callbacks that touch other timers of the same tick behave; timers
// further out than one revolution fire on their own revolution, not an earlier one.

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <vector>

#include "loop/timer_wheel.hpp"

namespace wirehub::loop {
namespace {

constexpr std::uint64_t kTick = TimerWheel::kTickMs;
constexpr std::uint64_t kRevolution = TimerWheel::kSlots * TimerWheel::kTickMs;

// The time the test is currently advancing to, so callbacks can record when they ran,
// and the time of the advance() before it.
std::uint64_t g_now = 0;
std::uint64_t g_prev = 0;

class TestTimer final : public Timer {
 public:
  int fired = 0;
  std::optional<std::uint64_t> first_fired_at;
  std::optional<std::uint64_t> last_fired_at;
  std::function<void()> action;  // runs inside on_timer, after recording

 private:
  void on_timer() override {
    ++fired;
    if (!first_fired_at) first_fired_at = g_now;
    last_fired_at = g_now;
    if (action) action();
  }
};

void advance_to(TimerWheel& w, std::uint64_t t) {
  g_prev = g_now;
  g_now = t;
  w.advance(t);
}

// Advances the wheel one millisecond at a time through (from, to].
void step(TimerWheel& w, std::uint64_t from, std::uint64_t to) {
  for (std::uint64_t t = from + 1; t <= to; ++t) advance_to(w, t);
}

TEST(TimerWheel, FiresNoEarlierThanTheDeadlineAndWithinOneTickAfterIt) {
  // Start times on and off tick boundaries, delays around tick boundaries.
  for (std::uint64_t start : {std::uint64_t{0}, std::uint64_t{1}, kTick - 1, kTick, std::uint64_t{1'000'003}}) {
    for (std::uint64_t delay = 0; delay <= 5 * kTick + 1; ++delay) {
      TimerWheel w(start);
      TestTimer t;
      g_now = start;
      w.arm(t, start, delay);
      ASSERT_TRUE(t.armed());
      const std::uint64_t deadline = start + delay;
      step(w, start, deadline + 2 * kTick);
      ASSERT_EQ(t.fired, 1) << "start " << start << " delay " << delay;
      EXPECT_GE(*t.first_fired_at, deadline) << "start " << start << " delay " << delay;
      EXPECT_LE(*t.first_fired_at, deadline + kTick) << "start " << start << " delay " << delay;
      if (delay > 0) {
        // A non-zero delay is never rounded past the tick holding its deadline.
        EXPECT_LT(*t.first_fired_at, deadline + kTick) << "start " << start << " delay " << delay;
      }
      EXPECT_FALSE(t.armed());
      EXPECT_EQ(w.armed_count(), 0u);
    }
  }
}

TEST(TimerWheel, FiresOnceWhenTimeJumpsFarPastTheDeadline) {
  TimerWheel w(100);
  TestTimer t;
  w.arm(t, 100, 50);
  advance_to(w, 149);
  EXPECT_EQ(t.fired, 0);
  advance_to(w, 100 + 10 * kRevolution);
  EXPECT_EQ(t.fired, 1);
  EXPECT_EQ(w.armed_count(), 0u);
}

TEST(TimerWheel, CancelledTimerNeverFires) {
  TimerWheel w(0);
  TestTimer a, b;
  w.arm(a, 0, 40);
  w.arm(b, 0, 40);
  EXPECT_EQ(w.armed_count(), 2u);
  w.cancel(a);
  EXPECT_FALSE(a.armed());
  EXPECT_EQ(w.armed_count(), 1u);
  w.cancel(a);  // cancelling twice is harmless
  EXPECT_EQ(w.armed_count(), 1u);
  step(w, 0, 200);
  EXPECT_EQ(a.fired, 0);
  EXPECT_EQ(b.fired, 1);
  EXPECT_EQ(w.armed_count(), 0u);

  TestTimer never_armed;
  w.cancel(never_armed);  // cancelling an unarmed timer is harmless
  EXPECT_EQ(w.armed_count(), 0u);
}

TEST(TimerWheel, ArmingAgainMovesTheDeadline) {
  TimerWheel w(0);
  TestTimer t;
  w.arm(t, 0, 10);
  w.arm(t, 0, 100);  // re-arm replaces, it does not add
  EXPECT_EQ(w.armed_count(), 1u);
  step(w, 0, 99);
  EXPECT_EQ(t.fired, 0);
  step(w, 99, 300);
  EXPECT_EQ(t.fired, 1);
  EXPECT_GE(*t.first_fired_at, 100u);
}

TEST(TimerWheel, CallbackReArmsItselfIntoTheSameSlotOneRevolutionLater) {
  TimerWheel w(0);
  TestTimer t;
  int rearms = 0;
  t.action = [&] {
    if (rearms++ < 2) w.arm(t, g_now, kRevolution);  // lands in the slot being fired
  };
  w.arm(t, 0, 16);
  step(w, 0, 16);
  ASSERT_EQ(t.fired, 1);  // the re-armed timer is not picked up again by the same tick
  EXPECT_TRUE(t.armed());
  const std::uint64_t first = *t.first_fired_at;
  step(w, 16, first + kRevolution - 1);
  EXPECT_EQ(t.fired, 1);
  step(w, first + kRevolution - 1, first + kRevolution + kTick);
  EXPECT_EQ(t.fired, 2);
  EXPECT_GE(*t.last_fired_at, first + kRevolution);
  EXPECT_LE(*t.last_fired_at, first + kRevolution + kTick);
  step(w, first + kRevolution + kTick, first + 2 * kRevolution + kTick);
  EXPECT_EQ(t.fired, 3);
  EXPECT_FALSE(t.armed());
  EXPECT_EQ(w.armed_count(), 0u);
}

TEST(TimerWheel, CallbackReArmsItselfIntoAnotherSlot) {
  TimerWheel w(0);
  TestTimer t;
  std::vector<std::uint64_t> fired_at;
  t.action = [&] {
    fired_at.push_back(g_now);
    if (fired_at.size() < 5) w.arm(t, g_now, 20);
  };
  w.arm(t, 0, 20);
  step(w, 0, 500);
  ASSERT_EQ(fired_at.size(), 5u);
  for (std::size_t i = 1; i < fired_at.size(); ++i) {
    EXPECT_GE(fired_at[i], fired_at[i - 1] + 20);
    EXPECT_LE(fired_at[i], fired_at[i - 1] + 20 + kTick);
  }
  EXPECT_EQ(w.armed_count(), 0u);
}

TEST(TimerWheel, CallbackReArmingWithZeroDelayFiresOnALaterTickNotInALoop) {
  TimerWheel w(0);
  TestTimer t;
  t.action = [&] {
    if (t.fired < 3) w.arm(t, g_now, 0);
  };
  w.arm(t, 0, 8);
  advance_to(w, 8);
  EXPECT_EQ(t.fired, 1);  // re-armed for the next tick, not fired again now
  advance_to(w, 16);
  EXPECT_EQ(t.fired, 2);
  advance_to(w, 1000);
  EXPECT_EQ(t.fired, 3);
  EXPECT_EQ(w.armed_count(), 0u);
}

TEST(TimerWheel, CallbackCancellingAnotherDueTimerOfTheSameTickStopsIt) {
  // Both are due in the same tick; whichever fires first cancels the other, which must
  // then not fire although it was already collected for this tick.
  TimerWheel w(0);
  TestTimer a, b;
  a.action = [&] { w.cancel(b); };
  b.action = [&] { w.cancel(a); };
  w.arm(a, 0, 24);
  w.arm(b, 0, 24);
  advance_to(w, 24);
  EXPECT_EQ(a.fired + b.fired, 1);
  EXPECT_FALSE(a.armed());
  EXPECT_FALSE(b.armed());
  EXPECT_EQ(w.armed_count(), 0u);
  step(w, 24, 24 + 2 * kRevolution);
  EXPECT_EQ(a.fired + b.fired, 1);
}

TEST(TimerWheel, CallbackReArmingAnotherDueTimerOfTheSameTickDefersIt) {
  TimerWheel w(0);
  TestTimer a, b;
  a.action = [&] {
    if (b.fired == 0) w.arm(b, g_now, 100);
  };
  b.action = [&] {
    if (a.fired == 0) w.arm(a, g_now, 100);
  };
  w.arm(a, 0, 24);
  w.arm(b, 0, 24);
  advance_to(w, 24);
  ASSERT_EQ(a.fired + b.fired, 1);
  TestTimer& moved = a.fired ? b : a;
  EXPECT_TRUE(moved.armed());
  EXPECT_EQ(w.armed_count(), 1u);
  step(w, 24, 123);
  EXPECT_EQ(moved.fired, 0);
  step(w, 123, 124 + kTick);
  EXPECT_EQ(moved.fired, 1);
  EXPECT_GE(*moved.first_fired_at, 124u);
  EXPECT_EQ(w.armed_count(), 0u);
}

TEST(TimerWheel, TimerArmedByACallbackForATickWithinTheSameAdvanceFiresInIt) {
  // The loop passes the time it is advancing to as "now" to callbacks; a zero delay then
  // means "due now", and the same advance() call must still fire it.
  TimerWheel w(0);
  TestTimer a, b;
  a.action = [&] { w.arm(b, g_now, 0); };
  w.arm(a, 0, 8);
  advance_to(w, 200);  // one call, from tick 0 to tick 25
  EXPECT_EQ(a.fired, 1);
  EXPECT_EQ(b.fired, 1);
  EXPECT_EQ(w.armed_count(), 0u);
}

TEST(TimerWheel, TimersPastOneRevolutionFireOnTheirOwnRevolution) {
  for (std::uint64_t delay : {kRevolution, kRevolution + 1, kRevolution + 100, 3 * kRevolution + 5}) {
    TimerWheel w(7);
    TestTimer far, near;
    w.arm(far, 7, delay);
    w.arm(near, 7, 100);
    const std::uint64_t deadline = 7 + delay;
    step(w, 7, deadline - 1);
    EXPECT_EQ(near.fired, 1);
    EXPECT_EQ(far.fired, 0) << "delay " << delay << " fired a revolution early";
    EXPECT_TRUE(far.armed());
    step(w, deadline - 1, deadline + kTick);
    EXPECT_EQ(far.fired, 1) << "delay " << delay;
    EXPECT_GE(*far.first_fired_at, deadline);
    EXPECT_LE(*far.first_fired_at, deadline + kTick);
    EXPECT_EQ(w.armed_count(), 0u);
  }
}

TEST(TimerWheel, TimerPastOneRevolutionSurvivesJumpsOverItsSlot) {
  TimerWheel w(0);
  TestTimer t;
  const std::uint64_t delay = 2 * kRevolution + 40;
  w.arm(t, 0, delay);
  advance_to(w, 40);  // its slot, first revolution
  advance_to(w, kRevolution + 40);  // its slot, second revolution
  EXPECT_EQ(t.fired, 0);
  advance_to(w, delay - 1);
  EXPECT_EQ(t.fired, 0);
  advance_to(w, delay + kTick);
  EXPECT_EQ(t.fired, 1);
}

TEST(TimerWheel, NextTimeoutIsMinusOneWithNothingArmed) {
  TimerWheel w(0);
  EXPECT_EQ(w.next_timeout_ms(0, 1000), -1);
  TestTimer t;
  w.arm(t, 0, 10);
  w.cancel(t);
  EXPECT_EQ(w.next_timeout_ms(0, 1000), -1);
}

TEST(TimerWheel, NextTimeoutIsExactlyWhenTheTimerBecomesDue) {
  for (std::uint64_t start : {std::uint64_t{0}, std::uint64_t{3}, std::uint64_t{5000}}) {
    for (std::uint64_t delay : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{9}, std::uint64_t{100},
                                std::uint64_t{999}, std::uint64_t{4000}}) {
      TimerWheel w(start);
      TestTimer t;
      w.arm(t, start, delay);
      const int timeout = w.next_timeout_ms(start, 10'000);
      ASSERT_GE(timeout, 0);
      // Sleeping `timeout` is enough and not too much: due then, not due a ms before.
      EXPECT_GE(static_cast<std::uint64_t>(timeout), delay) << "start " << start << " delay " << delay;
      if (timeout > 0) {
        advance_to(w, start + static_cast<std::uint64_t>(timeout) - 1);
        EXPECT_EQ(t.fired, 0) << "start " << start << " delay " << delay;
      }
      advance_to(w, start + static_cast<std::uint64_t>(timeout));
      EXPECT_EQ(t.fired, 1) << "start " << start << " delay " << delay;
    }
  }
}

TEST(TimerWheel, NextTimeoutIsCappedAtMax) {
  TimerWheel w(0);
  TestTimer t;
  w.arm(t, 0, 5000);
  EXPECT_EQ(w.next_timeout_ms(0, 1000), 1000);
  EXPECT_EQ(w.next_timeout_ms(0, 1), 1);
  w.cancel(t);
}

TEST(TimerWheel, NextTimeoutIgnoresTimersOfLaterRevolutions) {
  // Shares its slot with the tick 16 ms away, but is due a revolution later: waking
  // for it after 16 ms would be a spurious wake-up on every revolution.
  TimerWheel w(0);
  TestTimer t;
  w.arm(t, 0, kRevolution + 16);
  EXPECT_EQ(w.next_timeout_ms(0, 1000), 1000);
  w.cancel(t);
}

TEST(TimerWheel, NextTimeoutIsZeroForOverdueWork) {
  TimerWheel w(0);
  TestTimer t;
  w.arm(t, 0, 100);
  EXPECT_EQ(w.next_timeout_ms(6000, 10'000), 0);  // time passed without advance()
  w.cancel(t);
}

TEST(TimerWheel, SleepingForNextTimeoutNeverOversleeps) {
  // The loop's view of the wheel: sleep next_timeout_ms(), advance, repeat, while timers
  // are armed, cancelled and re-armed (also from callbacks). Every timer must fire on
  // the tick holding its deadline, which it can only do if no sleep ran past it.
  constexpr int kTimers = 32;
  std::mt19937 rng(7);
  std::uint64_t now = 1'000'000;
  g_now = now;
  TimerWheel w(now);
  std::vector<std::unique_ptr<TestTimer>> timers;
  std::vector<std::optional<std::uint64_t>> deadline(kTimers);
  std::uniform_int_distribution<std::uint64_t> delay(0, 3000);
  int late = 0, early = 0, fired = 0;
  for (int i = 0; i < kTimers; ++i) {
    timers.push_back(std::make_unique<TestTimer>());
    auto* d = &deadline[static_cast<std::size_t>(i)];
    TestTimer* t = timers.back().get();
    t->action = [&, d, t] {
      ++fired;
      if (!*d || g_now < **d) ++early;
      if (*d && g_now > **d + kTick) ++late;
      d->reset();
      if (rng() % 3 == 0) {  // re-arm from the callback
        std::uint64_t dl = delay(rng);
        w.arm(*t, g_now, dl);
        *d = g_now + dl;
      }
    };
  }
  std::uniform_int_distribution<int> pick(0, kTimers - 1);
  std::uniform_int_distribution<int> max_wait(1, 2000);
  for (int round = 0; round < 5000; ++round) {
    std::size_t i = static_cast<std::size_t>(pick(rng));
    switch (rng() % 4) {
      case 0:
      case 1: {
        std::uint64_t dl = rng() % 10 == 0 ? kRevolution + delay(rng) : delay(rng);
        w.arm(*timers[i], now, dl);
        deadline[i] = now + dl;
        break;
      }
      case 2:
        w.cancel(*timers[i]);
        deadline[i].reset();
        break;
      default:
        break;
    }
    int timeout = w.next_timeout_ms(now, max_wait(rng));
    now += timeout < 0 ? 50 : static_cast<std::uint64_t>(timeout);
    advance_to(w, now);
  }
  EXPECT_GT(fired, 1000);
  EXPECT_EQ(early, 0);
  EXPECT_EQ(late, 0);
  for (auto& t : timers) w.cancel(*t);
}

TEST(TimerWheel, RandomArmsCancelsAndReArmsKeepTheContract) {
  // Property check: many timers, random operations between millisecond steps; every
  // firing is within [deadline, deadline + tick], nothing fires after a cancel, and the
  // armed count always matches the model.
  struct Model {
    std::optional<std::uint64_t> deadline;
  };
  constexpr int kTimers = 64;
  std::mt19937 rng(20240611);
  TimerWheel w(12345);
  g_now = 12345;
  std::vector<std::unique_ptr<TestTimer>> timers;
  std::vector<Model> model(kTimers);
  int violations = 0;
  for (int i = 0; i < kTimers; ++i) {
    timers.push_back(std::make_unique<TestTimer>());
    Model* m = &model[static_cast<std::size_t>(i)];
    // Time moves in jumps here, so "late" means: it was already a tick overdue at the
    // previous advance() and did not fire then.
    timers.back()->action = [m, &violations] {
      if (!m->deadline || g_now < *m->deadline || g_prev >= *m->deadline + kTick) ++violations;
      m->deadline.reset();
    };
  }
  std::uniform_int_distribution<int> pick(0, kTimers - 1);
  std::uniform_int_distribution<int> op(0, 9);
  std::uniform_int_distribution<std::uint64_t> delay(0, 3 * kRevolution / 2);
  std::uint64_t now = 12345;
  for (int round = 0; round < 20'000; ++round) {
    int n = op(rng);
    std::size_t i = static_cast<std::size_t>(pick(rng));
    if (n < 5) {
      std::uint64_t d = n == 0 ? delay(rng) : delay(rng) % 200;
      w.arm(*timers[i], now, d);
      model[i].deadline = now + d;
    } else if (n < 7) {
      w.cancel(*timers[i]);
      model[i].deadline.reset();
    }
    now += static_cast<std::uint64_t>(op(rng));
    advance_to(w, now);
    std::size_t expected = 0;
    for (const Model& m : model) expected += m.deadline.has_value();
    ASSERT_EQ(w.armed_count(), expected) << "round " << round;
  }
  // Let everything still armed come due.
  for (std::uint64_t end = now + 2 * kRevolution; now < end; now += 3) advance_to(w, now);
  EXPECT_EQ(violations, 0);
  EXPECT_EQ(w.armed_count(), 0u);
  for (const Model& m : model) EXPECT_FALSE(m.deadline.has_value());
}

}  // namespace
}  // namespace wirehub::loop
