#pragma once
// Run: the main thread's side of a load run — it owns the workers and their threads,
// sums their counters, prints the progress line, and walks every mode through the same
// ending: stop sending, let what is in flight arrive, close everything, join.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "options.hpp"
#include "report.hpp"
#include "worker.hpp"

namespace wirehub::bench {

// The sum of every worker's counters at one moment.
struct Totals {
  std::uint64_t dials = 0, opened = 0, open = 0, connect_errors = 0, handshake_errors = 0, protocol_errors = 0,
                dropped = 0, mismatches = 0, close_errors = 0, closed_clean = 0, sent = 0, received = 0,
                window_received = 0, window_completed = 0, pings = 0, abandoned = 0;
  std::uint64_t errors() const noexcept {
    return connect_errors + handshake_errors + protocol_errors + dropped + mismatches + close_errors;
  }
  // Connections whose setup has ended, one way or the other.
  std::uint64_t settled() const noexcept { return opened + connect_errors + handshake_errors; }
  nlohmann::json error_json() const;
};

class Run {
 public:
  explicit Run(const Options& o);
  ~Run();
  Run(const Run&) = delete;
  Run& operator=(const Run&) = delete;

  // The config of worker i: its share of n connections (round-robin) and of the dial rate.
  WorkerConfig worker_config(unsigned i, std::size_t n, std::size_t max_frame) const;
  void add(std::unique_ptr<Worker> w) { workers_.push_back(std::move(w)); }
  const std::vector<std::unique_ptr<Worker>>& workers() const noexcept { return workers_; }

  // Starts one thread per worker.
  void start();
  Totals totals() const;
  // Posts fn(worker) to each worker's loop.
  void post_all(const std::function<void(Worker&)>& fn);

  // Sleeps until pred(totals()) holds or the monotonic deadline passes, printing the
  // progress line (labelled phase) every second. Returns whether pred held.
  bool wait_until(std::uint64_t deadline_ns, const char* phase,
                  const std::function<bool(const Totals&)>& pred = nullptr);
  // The common ending: stop_sending, wait up to drain_s for drained(totals), close_all,
  // wait for the workers to finish (forcing their loops to stop after a grace period),
  // join. Returns whether drained held.
  bool finish(double drain_s, const std::function<bool(const Totals&)>& drained);

  std::uint64_t started_ns() const noexcept { return started_ns_; }
  // Merged histograms of all workers.
  Histogram merged_latency() const;
  Histogram merged_completion() const;
  Histogram merged_handshake() const;
  // The first error any worker noted ("" if none).
  std::string first_error() const;

  // Marks the measurement window's start and end: samples our CPU, and the server's when
  // --server-pid was given.
  void mark_window_start();
  void mark_window_end();
  // CPU use over the window: ours and (with --server-pid) the server's, as a share of one
  // core and as CPU microseconds per unit of work done in the window (units: messages,
  // deliveries or handshakes; 0 leaves the per-unit figures out). On a shared machine the
  // per-unit figures are the steadier ones.
  nlohmann::json cpu_json(std::uint64_t units) const;
  std::string cpu_line(std::uint64_t units, const char* unit) const;

 private:
  void print_progress(const char* phase);
  void join();

  const Options& opts_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  std::uint64_t started_ns_ = 0;
  CpuSample run_cpu0_{}, win_cpu0_{}, win_cpu1_{};
  std::optional<CpuSample> srv_cpu0_, srv_cpu1_;
  std::uint64_t next_progress_ns_ = 0;
  std::uint64_t last_progress_ns_ = 0;
  std::uint64_t last_count_ = 0;
};

}  // namespace wirehub::bench
