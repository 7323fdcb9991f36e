#pragma once
// Histogram: a distribution of integer values (durations in nanoseconds, sizes in bytes)
// written by one thread and read by any, like Counter.
//
// Each bucket is a Counter (a plain add for the writer, no locked instruction); a
// server keeps one per loop and sums them when it renders metrics. observe() finds the
// bucket by a linear scan: the bound lists are short (about a dozen), and a scan over
// one cache line beats a binary search there.

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <vector>

#include "core/counter.hpp"

namespace wirehub {

// Bucket counts (not cumulative) and the sum of the values, of one or more histograms
// with the same bounds.
struct HistogramCounts {
  std::vector<std::uint64_t> buckets;  // one per upper bound, then one above the last
  std::uint64_t sum = 0;
  std::uint64_t count() const noexcept;
};

// Bounds for delivery latencies in nanoseconds: 50 us to 1 s, roughly 1-2.5-5 per decade.
inline constexpr std::uint64_t kLatencyBoundsNs[] = {50'000,      100'000,     250'000,     500'000,   1'000'000,
                                                     2'500'000,   5'000'000,   10'000'000,  25'000'000, 50'000'000,
                                                     100'000'000, 250'000'000, 500'000'000, 1'000'000'000};

class Histogram {
 public:
  // upper_bounds: strictly ascending; a value v falls in the first bucket with v <= bound
  // (Prometheus' "le"), or in the one after the last bound. Throws std::invalid_argument
  // when they are not ascending.
  explicit Histogram(std::initializer_list<std::uint64_t> upper_bounds);
  explicit Histogram(std::span<const std::uint64_t> upper_bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // Writer thread only.
  void observe(std::uint64_t value) noexcept {
    std::size_t i = 0;
    while (i < bounds_.size() && value > bounds_[i]) ++i;
    buckets_[i].add();
    sum_.add(value);
  }

  std::span<const std::uint64_t> upper_bounds() const noexcept { return bounds_; }
  // Adds this histogram's counts to into (sized here when empty; else it must come from
  // histograms with the same bounds: std::logic_error otherwise). Any thread; concurrent
  // observations may be half seen (a bucket counted, its value not yet in the sum).
  void add_to(HistogramCounts& into) const;

 private:
  std::vector<std::uint64_t> bounds_;
  std::unique_ptr<Counter[]> buckets_;  // bounds_.size() + 1
  Counter sum_;
};

}  // namespace wirehub
