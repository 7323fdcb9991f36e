// MetricsWriter: the exact bytes of the Prometheus text format 0.0.4 for each kind of
// family, escaping, number forms, and the names it refuses.

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "wirehub/metrics.hpp"

namespace wirehub {
namespace {

TEST(MetricsWriter, Counter) {
  std::string out = "# earlier text is kept\n";
  MetricsWriter w(out);
  w.family("app_orders_total", MetricType::Counter, "Orders accepted.");
  w.sample("app_orders_total", {{"source", "api"}, {"kind", "limit"}}, std::uint64_t{18446744073709551615u});
  w.sample("app_orders_total", {}, 0);
  EXPECT_EQ(out,
            "# earlier text is kept\n"
            "# HELP app_orders_total Orders accepted.\n"
            "# TYPE app_orders_total counter\n"
            "app_orders_total{source=\"api\",kind=\"limit\"} 18446744073709551615\n"
            "app_orders_total 0\n");
}

TEST(MetricsWriter, GaugeWithNegativeAndFloatingValues) {
  std::string out;
  MetricsWriter w(out);
  w.family("app:temperature", MetricType::Gauge, "A gauge.");
  w.sample("app:temperature", {{"at", "a"}}, -3);
  w.sample("app:temperature", {{"at", "b"}}, 0.25);
  w.sample("app:temperature", {{"at", "c"}}, 1e-05);
  w.sample("app:temperature", {{"at", "d"}}, 2.0);
  w.sample("app:temperature", {{"at", "d2"}}, 0.0005);
  w.sample("app:temperature", {{"at", "d3"}}, 1234567.5);
  w.sample("app:temperature", {{"at", "d4"}}, 1e16);
  w.sample("app:temperature", {{"at", "d5"}}, -0.1);
  w.sample("app:temperature", {{"at", "e"}}, std::numeric_limits<double>::infinity());
  w.sample("app:temperature", {{"at", "f"}}, -std::numeric_limits<double>::infinity());
  w.sample("app:temperature", {{"at", "g"}}, std::nan(""));
  EXPECT_EQ(out,
            "# HELP app:temperature A gauge.\n"
            "# TYPE app:temperature gauge\n"
            "app:temperature{at=\"a\"} -3\n"
            "app:temperature{at=\"b\"} 0.25\n"
            "app:temperature{at=\"c\"} 1e-05\n"
            "app:temperature{at=\"d\"} 2\n"
            "app:temperature{at=\"d2\"} 0.0005\n"
            "app:temperature{at=\"d3\"} 1234567.5\n"
            "app:temperature{at=\"d4\"} 1e+16\n"
            "app:temperature{at=\"d5\"} -0.1\n"
            "app:temperature{at=\"e\"} +Inf\n"
            "app:temperature{at=\"f\"} -Inf\n"
            "app:temperature{at=\"g\"} NaN\n");
}

TEST(MetricsWriter, HistogramBucketsAreCumulativeAndEndWithInf) {
  std::string out;
  MetricsWriter w(out);
  w.family("app_latency_seconds", MetricType::Histogram, "Latency.");
  const double bounds[] = {0.005, 0.5, 1};
  const std::uint64_t counts[] = {2, 0, 3, 1};
  const std::array<MetricLabel, 1> labels{{{"route", "/api"}}};
  w.histogram("app_latency_seconds", std::span<const MetricLabel>(labels), bounds, counts, 2.75);
  w.histogram("app_latency_seconds", {}, bounds, std::vector<std::uint64_t>(4, 0), 0);
  EXPECT_EQ(out,
            "# HELP app_latency_seconds Latency.\n"
            "# TYPE app_latency_seconds histogram\n"
            "app_latency_seconds_bucket{route=\"/api\",le=\"0.005\"} 2\n"
            "app_latency_seconds_bucket{route=\"/api\",le=\"0.5\"} 2\n"
            "app_latency_seconds_bucket{route=\"/api\",le=\"1\"} 5\n"
            "app_latency_seconds_bucket{route=\"/api\",le=\"+Inf\"} 6\n"
            "app_latency_seconds_sum{route=\"/api\"} 2.75\n"
            "app_latency_seconds_count{route=\"/api\"} 6\n"
            "app_latency_seconds_bucket{le=\"0.005\"} 0\n"
            "app_latency_seconds_bucket{le=\"0.5\"} 0\n"
            "app_latency_seconds_bucket{le=\"1\"} 0\n"
            "app_latency_seconds_bucket{le=\"+Inf\"} 0\n"
            "app_latency_seconds_sum 0\n"
            "app_latency_seconds_count 0\n");
  EXPECT_THROW(w.histogram("app_latency_seconds", {}, bounds, std::vector<std::uint64_t>(3, 0), 0),
               std::invalid_argument);
}

TEST(MetricsWriter, EscapesLabelValuesAndHelp) {
  std::string out;
  MetricsWriter w(out);
  w.family("app_x", MetricType::Gauge, "Back\\slash, \"quotes\" and\nnewline.");
  w.sample("app_x", {{"v", "a\\b\"c\nd"}}, 1);
  EXPECT_EQ(out,
            "# HELP app_x Back\\\\slash, \"quotes\" and\\nnewline.\n"
            "# TYPE app_x gauge\n"
            "app_x{v=\"a\\\\b\\\"c\\nd\"} 1\n");
}

TEST(MetricsWriter, RefusesInvalidNames) {
  std::string out;
  MetricsWriter w(out);
  EXPECT_THROW(w.family("", MetricType::Gauge, "h"), std::invalid_argument);
  EXPECT_THROW(w.family("1abc", MetricType::Gauge, "h"), std::invalid_argument);
  EXPECT_THROW(w.family("a-b", MetricType::Gauge, "h"), std::invalid_argument);
  EXPECT_THROW(w.sample("a b", {}, 1), std::invalid_argument);
  EXPECT_THROW(w.sample("ab", {{"a:b", "v"}}, 1), std::invalid_argument);  // no colon in label names
  EXPECT_THROW(w.sample("ab", {{"", "v"}}, 1), std::invalid_argument);
  EXPECT_NO_THROW(w.sample("_a:b9", {{"_l9", ""}}, 1));
}

}  // namespace
}  // namespace wirehub
