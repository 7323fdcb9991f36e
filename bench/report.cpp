#include "report.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "worker.hpp"

namespace wirehub::bench {

namespace {
double tv_seconds(const timeval& tv) noexcept {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}
double us(std::uint64_t ns) noexcept { return rounded(static_cast<double>(ns) / 1000.0, 1); }
}  // namespace

double rounded(double v, int digits) noexcept {
  const double scale = std::pow(10.0, digits);
  return std::round(v * scale) / scale;
}

CpuSample self_cpu() noexcept {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return {tv_seconds(ru.ru_utime) + tv_seconds(ru.ru_stime), tv_seconds(ru.ru_utime), mono_ns()};
}

std::optional<CpuSample> process_cpu(int pid) noexcept {
  std::FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (!f) return std::nullopt;
  char buf[1024];
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  // The command name (field 2) may hold spaces and parentheses: fields resume after the
  // last ')'. utime and stime are fields 14 and 15, i.e. the 12th and 13th after it.
  const char* p = std::strrchr(buf, ')');
  if (!p) return std::nullopt;
  unsigned long long utime = 0, stime = 0;
  if (std::sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
    return std::nullopt;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  return CpuSample{static_cast<double>(utime + stime) / tick, static_cast<double>(utime) / tick, mono_ns()};
}

double cpu_percent(const CpuSample& a, const CpuSample& b) noexcept {
  // Below a few clock ticks of wall time the figure would be noise.
  const double wall = static_cast<double>(b.wall_ns - a.wall_ns) / 1e9;
  return wall >= 0.05 ? rounded(100.0 * (b.cpu_s - a.cpu_s) / wall, 1) : 0.0;
}

std::optional<std::uint64_t> process_rss(int pid) noexcept {
  std::ifstream in(pid ? "/proc/" + std::to_string(pid) + "/status" : std::string("/proc/self/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::istringstream fields(line.substr(6));
      std::uint64_t kb = 0;
      if (fields >> kb) return kb * 1024;
    }
  }
  return std::nullopt;
}

std::string latency_line(const Histogram& h) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f us  (mean %.1f, %llu samples)",
                us(h.percentile(50)), us(h.percentile(90)), us(h.percentile(99)), us(h.percentile(99.9)),
                us(h.max()), rounded(h.mean() / 1000.0, 1), static_cast<unsigned long long>(h.count()));
  return buf;
}

nlohmann::json latency_json(const Histogram& h) {
  return {{"count", h.count()},          {"min_us", us(h.min())},
          {"mean_us", rounded(h.mean() / 1000.0, 1)},
          {"p50_us", us(h.percentile(50))}, {"p90_us", us(h.percentile(90))},
          {"p99_us", us(h.percentile(99))}, {"p999_us", us(h.percentile(99.9))},
          {"max_us", us(h.max())}};
}

}  // namespace wirehub::bench
