#include "core/histogram.hpp"

#include <stdexcept>

namespace wirehub {

std::uint64_t HistogramCounts::count() const noexcept {
  std::uint64_t n = 0;
  for (std::uint64_t b : buckets) n += b;
  return n;
}

Histogram::Histogram(std::initializer_list<std::uint64_t> upper_bounds)
    : Histogram(std::span<const std::uint64_t>(upper_bounds.begin(), upper_bounds.size())) {}

Histogram::Histogram(std::span<const std::uint64_t> upper_bounds)
    : bounds_(upper_bounds.begin(), upper_bounds.end()), buckets_(std::make_unique<Counter[]>(bounds_.size() + 1)) {
  for (std::size_t i = 1; i < bounds_.size(); ++i) {
    if (bounds_[i] <= bounds_[i - 1]) throw std::invalid_argument("histogram bounds must be strictly ascending");
  }
}

void Histogram::add_to(HistogramCounts& into) const {
  if (into.buckets.empty()) into.buckets.resize(bounds_.size() + 1);
  if (into.buckets.size() != bounds_.size() + 1) throw std::logic_error("histograms with different bounds");
  for (std::size_t i = 0; i <= bounds_.size(); ++i) into.buckets[i] += buckets_[i].get();
  into.sum += sum_.get();
}

}  // namespace wirehub
