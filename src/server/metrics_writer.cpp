#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <string>

#include "wirehub/metrics.hpp"

namespace wirehub {

namespace {

bool name_char(char c, bool first, bool colon_ok) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
  if (c == ':') return colon_ok;
  return !first && c >= '0' && c <= '9';
}

void check_name(std::string_view name, bool metric) {
  bool ok = !name.empty();
  for (std::size_t i = 0; ok && i < name.size(); ++i) ok = name_char(name[i], i == 0, metric);
  if (!ok) {
    throw std::invalid_argument(std::string(metric ? "invalid metric name: \"" : "invalid label name: \"") +
                                std::string(name) + "\"");
  }
}

// Label values escape \, " and newline; HELP texts escape \ and newline only.
void append_escaped(std::string& out, std::string_view s, bool quote) {
  for (char c : s) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '"':
        out += quote ? "\\\"" : "\"";
        break;
      default:
        out += c;
    }
  }
}

void append_double(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    // The shortest digits that read back as v, written as Prometheus' own clients do:
    // positional for exponents -4..15 ("0.0005", "100"), else scientific ("1e-05"). Bucket
    // bounds become `le` label values, which queries match as strings.
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
    const char* e = std::find(buf, r.ptr, 'e');
    int exponent = 0;
    std::from_chars(e + (e[1] == '+' ? 2 : 1), r.ptr, exponent);
    if (exponent >= -4 && exponent < 16) r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
    out.append(buf, r.ptr);
  }
}

template <class T>
void append_int(std::string& out, T v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

}  // namespace

void MetricsWriter::family(std::string_view name, MetricType type, std::string_view help) {
  check_name(name, true);
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  append_escaped(out_, help, false);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += type == MetricType::Counter ? " counter\n" : type == MetricType::Gauge ? " gauge\n" : " histogram\n";
}

void MetricsWriter::begin_sample(std::string_view name, std::string_view suffix, MetricLabels labels,
                                 std::string_view le) {
  check_name(name, true);
  out_ += name;
  out_ += suffix;
  const auto list = labels.span();
  if (!list.empty() || !le.empty()) {
    out_ += '{';
    bool first = true;
    for (const MetricLabel& l : list) {
      check_name(l.name, false);
      if (!first) out_ += ',';
      first = false;
      out_ += l.name;
      out_ += "=\"";
      append_escaped(out_, l.value, true);
      out_ += '"';
    }
    if (!le.empty()) {
      if (!first) out_ += ',';
      out_ += "le=\"";
      out_ += le;
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
}

void MetricsWriter::sample(std::string_view name, MetricLabels labels, double value) {
  begin_sample(name, {}, labels);
  append_double(out_, value);
  out_ += '\n';
}

void MetricsWriter::sample_signed(std::string_view name, MetricLabels labels, std::int64_t value) {
  begin_sample(name, {}, labels);
  append_int(out_, value);
  out_ += '\n';
}

void MetricsWriter::sample_unsigned(std::string_view name, MetricLabels labels, std::uint64_t value) {
  begin_sample(name, {}, labels);
  append_int(out_, value);
  out_ += '\n';
}

void MetricsWriter::histogram(std::string_view name, MetricLabels labels, std::span<const double> upper_bounds,
                              std::span<const std::uint64_t> bucket_counts, double sum) {
  if (bucket_counts.size() != upper_bounds.size() + 1)
    throw std::invalid_argument("histogram: one count per upper bound, and one above the last");
  std::uint64_t cumulative = 0;
  std::string le;
  for (std::size_t i = 0; i <= upper_bounds.size(); ++i) {
    cumulative += bucket_counts[i];
    le.clear();
    if (i < upper_bounds.size()) {
      append_double(le, upper_bounds[i]);
    } else {
      le = "+Inf";
    }
    begin_sample(name, "_bucket", labels, le);
    append_int(out_, cumulative);
    out_ += '\n';
  }
  begin_sample(name, "_sum", labels);
  append_double(out_, sum);
  out_ += '\n';
  begin_sample(name, "_count", labels);
  append_int(out_, cumulative);
  out_ += '\n';
}

}  // namespace wirehub
