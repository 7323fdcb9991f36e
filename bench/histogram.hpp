#pragma once
// Histogram: latency samples in log-linear buckets (the HDR histogram layout), so a run of
// any length costs fixed memory, recording is a few instructions, and per-thread
// histograms merge by adding counts.
//
// Values below 2^(kSubBits+1) get a bucket each. Above that every power-of-two range
// [2^m, 2^(m+1)) is cut into 2^kSubBits equal buckets, so a reported percentile is within
// 1/2^kSubBits (0.8%) of the true sample. Values are unitless; wirehub-bench records ns.

#include <array>
#include <cstddef>
#include <cstdint>

namespace wirehub::bench {

class Histogram {
 public:
  static constexpr int kSubBits = 7;
  static constexpr std::size_t kSubBuckets = std::size_t{1} << kSubBits;
  // Bucket of the largest uint64_t, plus one: shifts 1..(63 - kSubBits) each add a block
  // of kSubBuckets after the first two blocks of exact values.
  static constexpr std::size_t kBuckets = (65 - kSubBits) * kSubBuckets;

  // Adds one sample.
  void record(std::uint64_t v) noexcept {
    ++counts_[index_of(v)];
    ++count_;
    sum_ += v;
    if (v < min_) min_ = v;
    if (v > max_) max_ = v;
  }
  // Adds every sample of other.
  void merge(const Histogram& other) noexcept;
  void reset() noexcept;

  std::uint64_t count() const noexcept { return count_; }
  std::uint64_t min() const noexcept { return count_ ? min_ : 0; }
  std::uint64_t max() const noexcept { return max_; }
  double mean() const noexcept { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0; }
  // The value at percentile p (0..100): the midpoint of the bucket that holds the sample
  // of rank ceil(p% of count), clamped to [min, max]; the first and last samples are
  // reported exactly (min, max). 0 when empty.
  std::uint64_t percentile(double p) const noexcept;

  static std::size_t index_of(std::uint64_t v) noexcept {
    if (v < 2 * kSubBuckets) return static_cast<std::size_t>(v);
    const int msb = 63 - __builtin_clzll(v);
    const int shift = msb - kSubBits;
    return (static_cast<std::size_t>(shift) << kSubBits) + static_cast<std::size_t>(v >> shift);
  }
  // The smallest and largest value that land in bucket i.
  static std::uint64_t lowest_in(std::size_t i) noexcept;
  static std::uint64_t highest_in(std::size_t i) noexcept;

 private:
  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t min_ = ~std::uint64_t{0};
  std::uint64_t max_ = 0;
};

}  // namespace wirehub::bench
