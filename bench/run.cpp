#include "run.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace wirehub::bench {

namespace {
constexpr std::uint64_t kSecond = 1'000'000'000;
constexpr std::uint64_t kPollNs = 10'000'000;         // how often wait_until looks at the counters
constexpr std::uint64_t kCloseGraceNs = 10 * kSecond;  // close handshakes, then a forced stop
}  // namespace

nlohmann::json Totals::error_json() const {
  return {{"total", errors()},
          {"connect", connect_errors},
          {"handshake", handshake_errors},
          {"protocol", protocol_errors},
          {"dropped", dropped},
          {"mismatch", mismatches},
          {"close", close_errors}};
}

Run::Run(const Options& o) : opts_(o) {}

Run::~Run() {
  if (!threads_.empty()) {
    for (auto& w : workers_) w->loop().stop();
    join();
  }
}

WorkerConfig Run::worker_config(unsigned i, std::size_t n, std::size_t max_frame) const {
  WorkerConfig c;
  c.target = opts_.target;
  c.more_targets = opts_.more_targets;
  c.index = i;
  c.workers = opts_.threads;
  c.connections = n / opts_.threads + (i < n % opts_.threads ? 1 : 0);
  c.source_ips = opts_.source_ips;
  c.dial_rate = opts_.rate / opts_.threads;
  c.max_frame = max_frame;
  return c;
}

void Run::start() {
  started_ns_ = mono_ns();
  run_cpu0_ = self_cpu();
  next_progress_ns_ = started_ns_ + kSecond;
  last_progress_ns_ = started_ns_;
  for (auto& w : workers_) threads_.emplace_back([p = w.get()] { p->run(); });
}

Totals Run::totals() const {
  Totals t;
  for (const auto& w : workers_) {
    const WorkerStats& s = w->stats();
    t.dials += s.dials.get();
    t.opened += s.opened.get();
    t.open += s.open.get();
    t.connect_errors += s.connect_errors.get();
    t.handshake_errors += s.handshake_errors.get();
    t.protocol_errors += s.protocol_errors.get();
    t.dropped += s.dropped.get();
    t.mismatches += s.mismatches.get();
    t.close_errors += s.close_errors.get();
    t.closed_clean += s.closed_clean.get();
    t.sent += s.sent.get();
    t.received += s.received.get();
    t.window_received += s.window_received.get();
    t.window_completed += s.window_completed.get();
    t.pings += s.pings.get();
    t.abandoned += s.abandoned.get();
  }
  return t;
}

void Run::post_all(const std::function<void(Worker&)>& fn) {
  for (auto& w : workers_) w->loop().post([fn, p = w.get()] { fn(*p); });
}

void Run::print_progress(const char* phase) {
  const std::uint64_t now = mono_ns();
  const Totals t = totals();
  // Connect mode moves handshakes; the others move messages.
  const bool connecting = opts_.mode == Mode::Connect;
  const std::uint64_t count = connecting ? t.opened : t.received;
  const double dt = static_cast<double>(now - last_progress_ns_) / 1e9;
  const double rate = dt > 0 ? static_cast<double>(count - last_count_) / dt : 0;
  last_count_ = count;
  last_progress_ns_ = now;
  if (!opts_.progress) return;
  const char* what = connecting ? "handshakes/s" : opts_.mode == Mode::Broadcast ? "deliveries/s" : "msgs/s";
  std::fprintf(stderr, "[%6.1fs] %-8s %s %-10.0f open %-7llu errors %llu\n",
               static_cast<double>(now - started_ns_) / 1e9, phase, what, rate,
               static_cast<unsigned long long>(t.open), static_cast<unsigned long long>(t.errors()));
}

bool Run::wait_until(std::uint64_t deadline_ns, const char* phase, const std::function<bool(const Totals&)>& pred) {
  for (;;) {
    if (pred && pred(totals())) return true;
    std::uint64_t now = mono_ns();
    if (now >= next_progress_ns_) {
      print_progress(phase);
      while (next_progress_ns_ <= now) next_progress_ns_ += kSecond;
    }
    if (now >= deadline_ns) return false;
    std::uint64_t wake = std::min({deadline_ns, next_progress_ns_, pred ? now + kPollNs : deadline_ns});
    std::this_thread::sleep_for(std::chrono::nanoseconds(wake - now));
  }
}

bool Run::finish(double drain_s, const std::function<bool(const Totals&)>& drained) {
  post_all([](Worker& w) { w.stop_sending(); });
  const bool ok = wait_until(mono_ns() + static_cast<std::uint64_t>(drain_s * 1e9), "drain", drained);
  post_all([](Worker& w) { w.close_all(); });
  auto all_finished = [this](const Totals&) {
    for (const auto& w : workers_)
      if (!w->finished()) return false;
    return true;
  };
  if (!wait_until(mono_ns() + kCloseGraceNs, "close", all_finished)) {
    for (auto& w : workers_) w->loop().stop();
  }
  join();
  return ok;
}

void Run::join() {
  for (auto& t : threads_) t.join();
  threads_.clear();
}

Histogram Run::merged_latency() const {
  Histogram h;
  for (const auto& w : workers_) h.merge(w->latency());
  return h;
}

Histogram Run::merged_completion() const {
  Histogram h;
  for (const auto& w : workers_) h.merge(w->completion());
  return h;
}

Histogram Run::merged_handshake() const {
  Histogram h;
  for (const auto& w : workers_) h.merge(w->handshake());
  return h;
}

std::string Run::first_error() const {
  for (const auto& w : workers_)
    if (!w->first_error().empty()) return w->first_error();
  return {};
}

void Run::mark_window_start() {
  win_cpu0_ = self_cpu();
  if (opts_.server_pid) srv_cpu0_ = process_cpu(opts_.server_pid);
}

void Run::mark_window_end() {
  win_cpu1_ = self_cpu();
  if (opts_.server_pid) srv_cpu1_ = process_cpu(opts_.server_pid);
}

nlohmann::json Run::cpu_json(std::uint64_t units) const {
  nlohmann::json j;
  j["generator_cpu_pct"] = cpu_percent(win_cpu0_, win_cpu1_);
  if (units) j["generator_cpu_us_per_unit"] = rounded((win_cpu1_.cpu_s - win_cpu0_.cpu_s) * 1e6 / static_cast<double>(units), 3);
  j["generator_cpu_s_total"] = rounded(self_cpu().cpu_s - run_cpu0_.cpu_s, 2);
  j["generator_threads"] = opts_.threads;
  if (srv_cpu0_ && srv_cpu1_) {
    j["server_cpu_pct"] = cpu_percent(*srv_cpu0_, *srv_cpu1_);
    if (units) {
      const double per = 1e6 / static_cast<double>(units);
      const double user = srv_cpu1_->user_s - srv_cpu0_->user_s;
      const double all = srv_cpu1_->cpu_s - srv_cpu0_->cpu_s;
      j["server_cpu_us_per_unit"] = rounded(all * per, 3);
      // The split says what a server's own code costs next to the kernel work (system
      // calls, the TCP path) that every server pays alike for the same traffic.
      j["server_user_us_per_unit"] = rounded(user * per, 3);
      j["server_kernel_us_per_unit"] = rounded((all - user) * per, 3);
    }
  }
  return j;
}

std::string Run::cpu_line(std::uint64_t units, const char* unit) const {
  std::string line;
  char buf[160];
  auto add = [&](const char* who, const CpuSample& a, const CpuSample& b) {
    std::snprintf(buf, sizeof buf, "%s %.1f%% of a core", who, cpu_percent(a, b));
    line += buf;
    if (units) {
      const double per = 1e6 / static_cast<double>(units);
      std::snprintf(buf, sizeof buf, " (%.2f us/%s: %.2f user, %.2f kernel)", (b.cpu_s - a.cpu_s) * per, unit,
                    (b.user_s - a.user_s) * per, (b.cpu_s - a.cpu_s - (b.user_s - a.user_s)) * per);
      line += buf;
    }
  };
  add("generator", win_cpu0_, win_cpu1_);
  std::snprintf(buf, sizeof buf, " [%u thread%s]", opts_.threads, opts_.threads == 1 ? "" : "s");
  line += buf;
  if (srv_cpu0_ && srv_cpu1_) {
    line += ", ";
    add("server", *srv_cpu0_, *srv_cpu1_);
  }
  return line;
}

}  // namespace wirehub::bench
