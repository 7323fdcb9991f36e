#include "histogram.hpp"

#include <algorithm>
#include <cmath>

namespace wirehub::bench {

void Histogram::merge(const Histogram& other) noexcept {
  for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void Histogram::reset() noexcept { *this = Histogram{}; }

std::uint64_t Histogram::lowest_in(std::size_t i) noexcept {
  if (i < 2 * kSubBuckets) return i;
  const std::size_t shift = (i >> kSubBits) - 1;
  const std::uint64_t sub = (i & (kSubBuckets - 1)) + kSubBuckets;
  return sub << shift;
}

std::uint64_t Histogram::highest_in(std::size_t i) noexcept {
  if (i < 2 * kSubBuckets) return i;
  const std::size_t shift = (i >> kSubBits) - 1;
  return lowest_in(i) + ((std::uint64_t{1} << shift) - 1);
}

std::uint64_t Histogram::percentile(double p) const noexcept {
  if (count_ == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  // The rank of the sample asked for, 1-based; p = 0 means the first one.
  auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
  rank = std::clamp<std::uint64_t>(rank, 1, count_);
  // The extremes are known exactly.
  if (rank == 1) return min_;
  if (rank == count_) return max_;
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const std::uint64_t lo = lowest_in(i), hi = highest_in(i);
      const std::uint64_t mid = lo + (hi - lo) / 2;
      return std::clamp(mid, min_, max_);
    }
  }
  return max_;
}

}  // namespace wirehub::bench
