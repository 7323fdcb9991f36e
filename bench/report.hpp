#pragma once
// What a run reports: process CPU and memory samples (ours from getrusage, the server's
// from /proc), and histograms as text and as JSON.

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "histogram.hpp"

namespace wirehub::bench {

// CPU time a process has used, and when that was read.
struct CpuSample {
  double cpu_s = 0;         // user + system seconds
  double user_s = 0;        // of which in user space (the rest ran in the kernel)
  std::uint64_t wall_ns = 0;
};

// This process, all threads (getrusage RUSAGE_SELF).
CpuSample self_cpu() noexcept;
// Another process, from /proc/PID/stat (clock-tick resolution); nullopt if unreadable.
std::optional<CpuSample> process_cpu(int pid) noexcept;
// CPU used between a and b, as a percentage of one core.
double cpu_percent(const CpuSample& a, const CpuSample& b) noexcept;
// VmRSS of a process (0 = this one) in bytes; nullopt if unreadable.
std::optional<std::uint64_t> process_rss(int pid) noexcept;

// "p50 12.3 us  p90 ...  max ..." with values in microseconds.
std::string latency_line(const Histogram& h);
// {"count","min_us","mean_us","p50_us","p90_us","p99_us","p999_us","max_us"}.
nlohmann::json latency_json(const Histogram& h);

// Rounds to `digits` decimals, so the JSON line stays short.
double rounded(double v, int digits = 3) noexcept;

}  // namespace wirehub::bench
