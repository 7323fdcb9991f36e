#include "histogram.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>

namespace wirehub::bench {
namespace {

TEST(Histogram, EmptyReportsZeros) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.percentile(50), 0u);
  EXPECT_EQ(h.mean(), 0.0);
}

TEST(Histogram, SmallValuesAreExact) {
  for (std::uint64_t v = 0; v < 2 * Histogram::kSubBuckets; ++v) {
    EXPECT_EQ(Histogram::index_of(v), v);
    EXPECT_EQ(Histogram::lowest_in(v), v);
    EXPECT_EQ(Histogram::highest_in(v), v);
  }
}

TEST(Histogram, BucketsTileTheRangeWithoutGapsOrOverlap) {
  for (std::size_t i = 0; i + 1 < Histogram::kBuckets; ++i) {
    ASSERT_EQ(Histogram::highest_in(i) + 1, Histogram::lowest_in(i + 1)) << "bucket " << i;
    ASSERT_EQ(Histogram::index_of(Histogram::lowest_in(i)), i);
    ASSERT_EQ(Histogram::index_of(Histogram::highest_in(i)), i);
  }
  EXPECT_EQ(Histogram::index_of(std::numeric_limits<std::uint64_t>::max()), Histogram::kBuckets - 1);
  EXPECT_EQ(Histogram::highest_in(Histogram::kBuckets - 1), std::numeric_limits<std::uint64_t>::max());
}

TEST(Histogram, BucketWidthStaysWithinRelativePrecision) {
  for (std::size_t i = 2 * Histogram::kSubBuckets; i < Histogram::kBuckets; ++i) {
    const std::uint64_t lo = Histogram::lowest_in(i);
    const std::uint64_t width = Histogram::highest_in(i) - lo + 1;
    ASSERT_LE(width * Histogram::kSubBuckets, lo) << "bucket " << i;
  }
}

TEST(Histogram, PercentilesOfAUniformRun) {
  Histogram h;
  for (std::uint64_t v = 1; v <= 100'000; ++v) h.record(v * 1000);  // 1 us .. 100 ms in ns
  EXPECT_EQ(h.count(), 100'000u);
  EXPECT_EQ(h.min(), 1000u);
  EXPECT_EQ(h.max(), 100'000'000u);
  const double tolerance = 1.0 / Histogram::kSubBuckets;
  for (double p : {1.0, 50.0, 90.0, 99.0, 99.9}) {
    const double want = p / 100.0 * 100'000'000.0;
    EXPECT_NEAR(static_cast<double>(h.percentile(p)), want, want * tolerance) << "p" << p;
  }
  EXPECT_EQ(h.percentile(100), 100'000'000u);
  EXPECT_EQ(h.percentile(0), 1000u);
  EXPECT_NEAR(h.mean(), 50'000'500.0, 1.0);
}

TEST(Histogram, PercentileIsClampedToRecordedRange) {
  Histogram h;
  h.record(1'000'003);
  EXPECT_EQ(h.percentile(50), 1'000'003u);
  EXPECT_EQ(h.percentile(99.9), 1'000'003u);
}

TEST(Histogram, MergeEqualsRecordingEverythingInOne) {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> dist(11.0, 1.5);
  Histogram a, b, all;
  for (int i = 0; i < 50'000; ++i) {
    const auto v = static_cast<std::uint64_t>(dist(rng));
    (i % 3 ? a : b).record(v);
    all.record(v);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  EXPECT_DOUBLE_EQ(a.mean(), all.mean());
  for (double p : {50.0, 90.0, 99.0, 99.9}) EXPECT_EQ(a.percentile(p), all.percentile(p));
}

TEST(Histogram, MergeIntoEmptyAndReset) {
  Histogram a, b;
  b.record(7);
  b.record(70'000);
  a.merge(b);
  EXPECT_EQ(a.min(), 7u);
  EXPECT_EQ(a.max(), 70'000u);
  a.reset();
  EXPECT_EQ(a.count(), 0u);
  EXPECT_EQ(a.percentile(50), 0u);
}

}  // namespace
}  // namespace wirehub::bench
