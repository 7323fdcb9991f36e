// connect: open many connections, hold them, close them all with a close handshake.
// Reports handshakes per second, handshake latency and, given --server-pid, how much
// resident memory each open connection costs the server.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>

#include "modes.hpp"
#include "run.hpp"
#include "ws_client.hpp"

namespace wirehub::bench {

namespace {

// Holds its connection open: answers pings (WsClient does) and counts whatever arrives.
class HoldClient final : public WsClient {
 public:
  using WsClient::WsClient;

 private:
  bool on_ws_message(ws::Opcode, std::string_view) override {
    worker().stats().received.add();
    return true;
  }
};

class HoldWorker final : public Worker {
 public:
  using Worker::Worker;

 protected:
  WsClient* make_client(int fd, std::size_t, std::uint64_t dial_start_ns) override {
    return new HoldClient(*this, fd, dial_start_ns);
  }
};

// Bytes to MiB with one decimal, for the summary.
double mib(std::uint64_t b) { return rounded(static_cast<double>(b) / (1024.0 * 1024.0), 1); }

// VmRSS of pid (0 = ourselves) in bytes, 0 when unknown or not asked for (pid < 0).
std::uint64_t rss(int pid) { return pid < 0 ? 0 : process_rss(pid).value_or(0); }

// (after - before) / n as a signed figure: memory can also shrink. 0 when unknown.
double per_connection(std::uint64_t before, std::uint64_t after, std::uint64_t n) {
  if (!before || !after || n == 0) return 0;
  return rounded((static_cast<double>(after) - static_cast<double>(before)) / static_cast<double>(n), 0);
}

}  // namespace

int run_connect(const Options& o) {
  const int pid = o.server_pid ? o.server_pid : -1;
  // Let the server's loop finish its work before and after sampling its memory.
  const auto settle = std::chrono::milliseconds(o.server_pid ? 500 : 0);
  if (pid > 0) {
    // One connection opened and closed before the idle sample: a server's first handshake
    // pages in code it never needed before (e.g. its SHA-1 library, ~2 MiB of libcrypto),
    // a one-time cost that would otherwise be divided among the connections.
    Options one = o;
    one.connections = 1;
    one.threads = 1;
    one.progress = false;
    Run warm(one);
    warm.add(std::make_unique<HoldWorker>(warm.worker_config(0, 1, ws::kMaxFrameHeader + 128)));
    warm.start();
    warm.wait_until(mono_ns() + 10'000'000'000ULL, "warm-up", [](const Totals& t) { return t.settled() >= 1; });
    if (warm.totals().opened != 1) {
      std::fprintf(stderr, "wirehub-bench: the warm-up connection failed: %s\n", warm.first_error().c_str());
      warm.finish(0, nullptr);
      return 1;
    }
    warm.finish(0, nullptr);
    std::this_thread::sleep_for(settle);
  }
  const std::uint64_t srv_rss0 = rss(pid);
  const std::uint64_t own_rss0 = rss(0);

  Run run(o);
  for (unsigned i = 0; i < o.threads; ++i)
    run.add(std::make_unique<HoldWorker>(run.worker_config(i, o.connections, ws::kMaxFrameHeader + 128)));
  run.mark_window_start();
  run.start();

  const double expected_s = o.rate > 0 ? static_cast<double>(o.connections) / o.rate : 0;
  const std::uint64_t setup_deadline = run.started_ns() + static_cast<std::uint64_t>((30 + expected_s) * 1e9);
  run.wait_until(setup_deadline, "connect", [&](const Totals& t) { return t.settled() >= o.connections; });
  run.mark_window_end();
  std::uint64_t first = ~std::uint64_t{0}, last = 0;
  for (const auto& w : run.workers()) {
    if (w->first_dial_ns()) first = std::min(first, w->first_dial_ns());
    last = std::max(last, w->last_open_ns());
  }
  const Totals opened = run.totals();
  const double connect_s = last > first ? static_cast<double>(last - first) / 1e9 : 0;
  const double hs_rate = connect_s > 0 ? static_cast<double>(opened.opened) / connect_s : 0;

  std::this_thread::sleep_for(settle);
  const std::uint64_t srv_rss1 = rss(pid);
  const std::uint64_t own_rss1 = rss(0);

  run.wait_until(mono_ns() + static_cast<std::uint64_t>(o.hold * 1e9), "hold");
  const Totals held = run.totals();
  const std::uint64_t close_start = mono_ns();
  run.finish(0, nullptr);
  const double close_s = static_cast<double>(mono_ns() - close_start) / 1e9;
  std::this_thread::sleep_for(settle);
  const std::uint64_t srv_rss2 = rss(pid);

  const Totals t = run.totals();
  const Histogram hs = run.merged_handshake();
  const std::uint64_t errors = t.errors();

  std::FILE* out = o.json ? stderr : stdout;
  std::fprintf(out, "connect %s: %zu connections, source IPs %u, rate %s, held %.1f s\n", o.url.c_str(),
               o.connections, o.source_ips, o.rate > 0 ? std::to_string(o.rate).c_str() : "unlimited", o.hold);
  std::fprintf(out, "  handshakes/s %.0f  (%llu opened in %.2f s)\n", hs_rate,
               static_cast<unsigned long long>(opened.opened), connect_s);
  std::fprintf(out, "  handshake    %s\n", latency_line(hs).c_str());
  std::fprintf(out, "  held         %llu open at the end of the hold, %llu pings answered\n",
               static_cast<unsigned long long>(held.open), static_cast<unsigned long long>(t.pings));
  std::fprintf(out, "  closed       %llu cleanly in %.2f s\n", static_cast<unsigned long long>(t.closed_clean), close_s);
  if (srv_rss0 && srv_rss1) {
    std::fprintf(out, "  server RSS   %.1f MiB idle, %.1f MiB with %llu open (%.0f B per connection), %.1f MiB after close\n",
                 mib(srv_rss0), mib(srv_rss1), static_cast<unsigned long long>(opened.open),
                 per_connection(srv_rss0, srv_rss1, opened.open), mib(srv_rss2));
  }
  std::fprintf(out, "  own RSS      %.0f B per connection\n", per_connection(own_rss0, own_rss1, opened.open));
  std::fprintf(out, "  cpu          %s (during the connect phase)\n", run.cpu_line(opened.opened, "handshake").c_str());
  std::fprintf(out, "  errors       %llu", static_cast<unsigned long long>(errors));
  if (errors) std::fprintf(out, "  (first: %s)", run.first_error().c_str());
  std::fputc('\n', out);

  if (o.json) {
    nlohmann::json j = {{"mode", "connect"},
                        {"url", o.url},
                        {"connections", o.connections},
                        {"source_ips", o.source_ips},
                        {"rate", o.rate},
                        {"threads", o.threads},
                        {"hold_s", o.hold},
                        {"opened", opened.opened},
                        {"open_after_hold", held.open},
                        {"connect_s", rounded(connect_s)},
                        {"handshakes_per_s", rounded(hs_rate, 1)},
                        {"handshake_latency", latency_json(hs)},
                        {"pings_answered", t.pings},
                        {"closed_clean", t.closed_clean},
                        {"close_s", rounded(close_s)},
                        {"generator_rss_bytes_per_connection", per_connection(own_rss0, own_rss1, opened.open)},
                        {"cpu", run.cpu_json(opened.opened)},
                        {"errors", t.error_json()}};
    if (srv_rss0 && srv_rss1) {
      j["server_rss_bytes_idle"] = srv_rss0;
      j["server_rss_bytes_open"] = srv_rss1;
      j["server_rss_bytes_per_connection"] = per_connection(srv_rss0, srv_rss1, opened.open);
      j["server_rss_bytes_after_close"] = srv_rss2;
    }
    if (!run.first_error().empty()) j["first_error"] = run.first_error();
    std::printf("%s\n", j.dump().c_str());
  }
  return errors ? kExitErrors : kExitOk;
}

}  // namespace wirehub::bench
