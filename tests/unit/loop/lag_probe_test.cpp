// LagProbe on a real loop: an idle loop's timer fires close to its deadline, and a task
// that holds the loop thread shows up as one late firing of about its length.

#include "loop/lag_probe.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "loop/event_loop.hpp"
#include "test_support.hpp"

namespace wirehub::loop {
namespace {

using namespace std::chrono_literals;

HistogramCounts counts(const LagProbe& p) {
  HistogramCounts c;
  p.lag_ns().add_to(c);
  return c;
}

// Samples above bound_ns (which must be one of the probe's bounds).
std::uint64_t above(const LagProbe& p, std::uint64_t bound_ns) {
  const HistogramCounts c = counts(p);
  const auto bounds = p.lag_ns().upper_bounds();
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < c.buckets.size(); ++i) {
    if (i == bounds.size() || bounds[i] > bound_ns) n += c.buckets[i];
  }
  return n;
}

TEST(LagProbe, RecordsHowLateTheLoopRunsItsTimer) {
  const int before = test::open_fd_count();
  {
    EventLoop loop;
    LagProbe probe(loop);
    std::thread t([&] { loop.run(); });
    loop.post([&] { probe.start(); });
    ASSERT_TRUE(test::wait_until([&] { return counts(probe).count() >= 1; }));
    // Idle: late by the loop clock's millisecond at most, give or take a busy machine.
    EXPECT_EQ(above(probe, 100'000'000), 0u);

    // Hold the loop thread for 400 ms (the workload under measurement, not a wait): the
    // firing due during it comes at least ~300 ms late.
    const std::uint64_t before_block = counts(probe).count();
    loop.post([] { std::this_thread::sleep_for(400ms); });
    ASSERT_TRUE(test::wait_until([&] { return counts(probe).count() >= before_block + 2; }));
    EXPECT_EQ(above(probe, 250'000'000), 1u);
    EXPECT_EQ(above(probe, 500'000'000), 0u);
    EXPECT_GE(counts(probe).sum, 250'000'000u);

    loop.post([&] { loop.stop(); });
    t.join();
  }
  EXPECT_EQ(test::open_fd_count(), before);
}

}  // namespace
}  // namespace wirehub::loop
