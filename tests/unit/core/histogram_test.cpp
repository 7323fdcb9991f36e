#include "core/histogram.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

namespace wirehub {
namespace {

TEST(Histogram, AValueFallsInTheFirstBucketWhoseBoundIsNotBelowIt) {
  Histogram h{10, 100, 1000};
  for (std::uint64_t v : {0, 10, 11, 100, 999, 1000, 1001, 5000}) h.observe(v);
  HistogramCounts c;
  h.add_to(c);
  EXPECT_EQ(c.buckets, (std::vector<std::uint64_t>{2, 2, 2, 2}));
  EXPECT_EQ(c.count(), 8u);
  EXPECT_EQ(c.sum, 0u + 10 + 11 + 100 + 999 + 1000 + 1001 + 5000);
}

TEST(Histogram, CountsOfSeveralHistogramsAddUp) {
  Histogram a{5}, b{5};
  a.observe(1);
  b.observe(7);
  b.observe(3);
  HistogramCounts c;
  a.add_to(c);
  b.add_to(c);
  EXPECT_EQ(c.buckets, (std::vector<std::uint64_t>{2, 1}));
  EXPECT_EQ(c.sum, 11u);
  Histogram other{5, 6};
  EXPECT_THROW(other.add_to(c), std::logic_error);
}

TEST(Histogram, BoundsMustAscend) {
  EXPECT_THROW((Histogram{10, 10}), std::invalid_argument);
  EXPECT_THROW((Histogram{10, 5}), std::invalid_argument);
  EXPECT_NO_THROW((Histogram{}));
}

}  // namespace
}  // namespace wirehub
