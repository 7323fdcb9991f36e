#pragma once
// wirehub public API: writing metrics in the Prometheus text exposition format 0.0.4.
//
// Server::metrics_text() renders the library's own metrics with this writer; an
// application that serves them (GET /metrics) appends its own families with it:
//
//   std::string text = server.metrics_text();
//   wirehub::MetricsWriter w(text);
//   w.family("orderflow_orders_total", wirehub::MetricType::Counter, "Orders accepted.");
//   w.sample("orderflow_orders_total", {{"source", "api"}}, orders_from_api);
//   res.content_type = wirehub::MetricsWriter::kContentType;
//   res.body = std::move(text);
//
// Every sample of a family must follow its family() call, before the next family (the
// format wants a family's lines together). Metric names must match
// [a-zA-Z_:][a-zA-Z0-9_:]* and label names [a-zA-Z_][a-zA-Z0-9_]*; any other name is a
// programming error and throws std::invalid_argument. Label values and help texts may
// hold any bytes: they are escaped as the format requires.

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace wirehub {

enum class MetricType : std::uint8_t { Counter, Gauge, Histogram };

struct MetricLabel {
  std::string_view name;
  std::string_view value;
};

// The labels of one sample: a braced list ({{"a", "x"}, {"b", "y"}}) or a span.
class MetricLabels {
 public:
  MetricLabels() = default;
  MetricLabels(std::initializer_list<MetricLabel> labels) : labels_(labels.begin(), labels.size()) {}
  MetricLabels(std::span<const MetricLabel> labels) : labels_(labels) {}
  std::span<const MetricLabel> span() const noexcept { return labels_; }

 private:
  std::span<const MetricLabel> labels_;
};

class MetricsWriter {
 public:
  // The Content-Type of a response carrying this text.
  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

  // Appends to out (which may already hold other families).
  explicit MetricsWriter(std::string& out) noexcept : out_(out) {}

  // Starts a family: its "# HELP" and "# TYPE" lines.
  void family(std::string_view name, MetricType type, std::string_view help);
  // One sample line: name{labels} value. An integer is written exactly; a double in the
  // shortest form that reads back the same ("+Inf", "-Inf", "NaN" for those).
  template <std::integral T>
  void sample(std::string_view name, MetricLabels labels, T value) {
    if constexpr (std::is_signed_v<T>) {
      sample_signed(name, labels, value);
    } else {
      sample_unsigned(name, labels, value);
    }
  }
  void sample(std::string_view name, MetricLabels labels, double value);
  // The samples of one histogram of the family `name`: name_bucket{labels, le="b"} for
  // every upper bound b, cumulative, then le="+Inf", name_sum and name_count.
  // bucket_counts holds one count per bucket, not cumulative: one per upper bound and a
  // last one for the values above the last bound (upper_bounds.size() + 1 in all; else
  // std::invalid_argument).
  void histogram(std::string_view name, MetricLabels labels, std::span<const double> upper_bounds,
                 std::span<const std::uint64_t> bucket_counts, double sum);

 private:
  void sample_signed(std::string_view name, MetricLabels labels, std::int64_t value);
  void sample_unsigned(std::string_view name, MetricLabels labels, std::uint64_t value);
  // name{labels[,le="..."]} and the space before the value.
  void begin_sample(std::string_view name, std::string_view suffix, MetricLabels labels, std::string_view le = {});
  std::string& out_;
};

}  // namespace wirehub
