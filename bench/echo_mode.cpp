// echo: round trips. Each connection keeps `inflight` messages outstanding; every echo
// that comes back is checked (opcode, size, sequence header) and triggers the next send,
// so the rate is whatever the server sustains. Latency is measured per message from the
// read that sent it to the read that received its echo.

#include <algorithm>
#include <bit>
#include <cstdio>
#include <memory>

#include "modes.hpp"
#include "run.hpp"
#include "wire.hpp"
#include "ws_client.hpp"

namespace wirehub::bench {

namespace {

class EchoWorker final : public Worker {
 public:
  EchoWorker(WorkerConfig cfg, const Options& o)
      : Worker(std::move(cfg)),
        inflight_(o.inflight),
        size_(o.size),
        prefix_(o.size >= kSeqBytes ? kSeqBytes : 0),
        op_(o.binary ? ws::Opcode::Binary : ws::Opcode::Text) {
    // The fixed part of every payload: printable ASCII, valid as text.
    body_.resize(size_ - prefix_);
    for (std::size_t i = 0; i < body_.size(); ++i) body_[i] = static_cast<char>('a' + i % 26);
  }

  std::size_t inflight() const noexcept { return inflight_; }
  std::size_t size() const noexcept { return size_; }
  std::size_t prefix() const noexcept { return prefix_; }
  ws::Opcode opcode() const noexcept { return op_; }
  std::string_view body() const noexcept { return body_; }

 protected:
  WsClient* make_client(int fd, std::size_t, std::uint64_t dial_start_ns) override;

 private:
  std::size_t inflight_, size_, prefix_;
  ws::Opcode op_;
  std::string body_;
};

class EchoClient final : public WsClient {
 public:
  EchoClient(EchoWorker& w, int fd, std::uint64_t dial_start_ns)
      : WsClient(w, fd, dial_start_ns),
        ew_(w),
        mask_(std::bit_ceil(w.inflight()) - 1),
        sent_at_(new std::uint64_t[mask_ + 1]) {}

 private:
  void on_ws_open() override {
    while (ew_.sending() && next_send_ - next_recv_ < ew_.inflight()) send_one();
  }

  bool on_ws_message(ws::Opcode op, std::string_view payload) override {
    WorkerStats& s = ew_.stats();
    if (next_recv_ == next_send_) {
      fail(s.mismatches, "echo: a message arrived that was never sent");
      return false;
    }
    if (op != ew_.opcode() || payload.size() != ew_.size()) {
      fail(s.mismatches, "echo: wrong opcode or size (got " + std::to_string(payload.size()) + " bytes)");
      return false;
    }
    if (ew_.prefix()) {
      const auto seq = decode_seq(payload.data());
      if (!seq || *seq != (next_recv_ & kMaxSeq)) {
        fail(s.mismatches, "echo: sequence header does not match the oldest outstanding message");
        return false;
      }
    }
    const std::uint64_t now = ew_.now_ns();
    const std::uint64_t sent = sent_at_[next_recv_ & mask_];
    ++next_recv_;
    s.received.add();
    if (ew_.in_window(now)) {
      s.window_received.add();
      ew_.latency().record(now - sent);
    }
    if (ew_.sending()) send_one();
    return true;
  }

  // Echoes that can no longer come: the drain stops waiting for them.
  void on_ws_closed() override { ew_.stats().abandoned.add(next_send_ - next_recv_); }

  void send_one() {
    char seq[kSeqBytes];
    encode_seq(seq, next_send_);
    sent_at_[next_send_ & mask_] = ew_.now_ns();
    ++next_send_;
    send_data(ew_.opcode(), std::string_view(seq, ew_.prefix()), ew_.body());
    ew_.stats().sent.add();
  }

  EchoWorker& ew_;
  std::size_t mask_;  // ring size - 1; the ring holds the send time of each outstanding message
  std::unique_ptr<std::uint64_t[]> sent_at_;
  std::uint64_t next_send_ = 0, next_recv_ = 0;
};

WsClient* EchoWorker::make_client(int fd, std::size_t, std::uint64_t dial_start_ns) {
  return new EchoClient(*this, fd, dial_start_ns);
}

}  // namespace

int run_echo(const Options& o) {
  Run run(o);
  const std::size_t max_frame = ws::kMaxFrameHeader + o.size;
  for (unsigned i = 0; i < o.threads; ++i)
    run.add(std::make_unique<EchoWorker>(run.worker_config(i, o.connections, max_frame), o));
  run.start();

  // Connection setup is not measured: the warm-up starts once every connection is settled.
  constexpr std::uint64_t kSetupTimeoutNs = 60'000'000'000;
  run.wait_until(run.started_ns() + kSetupTimeoutNs, "connect",
                 [&](const Totals& t) { return t.settled() >= o.connections; });
  // Without a single working connection there is nothing to measure: skip to the end.
  const bool load = run.totals().opened > 0;
  const std::uint64_t start = mono_ns() + (load ? static_cast<std::uint64_t>(o.warmup * 1e9) : 0);
  const std::uint64_t end = start + (load ? static_cast<std::uint64_t>(o.duration * 1e9) : 0);
  run.post_all([=](Worker& w) { w.set_window(start, end); });
  run.wait_until(start, "warmup");
  run.mark_window_start();
  run.wait_until(end, "measure");
  run.mark_window_end();
  const double window_s = std::max(static_cast<double>(end - start) / 1e9, 1e-9);
  run.finish(3.0, [](const Totals& t) { return t.received + t.abandoned >= t.sent; });

  const Totals t = run.totals();
  const Histogram lat = run.merged_latency();
  const std::uint64_t lost = t.sent - t.received;
  const std::uint64_t errors = t.errors() + lost;
  const double rate = static_cast<double>(t.window_received) / window_s;

  char line[512];
  std::FILE* out = o.json ? stderr : stdout;
  std::snprintf(line, sizeof line,
                "echo %s: %zu connections x %zu in flight x %zu B %s, %.1f s measured after %.1f s warm-up\n",
                o.url.c_str(), o.connections, o.inflight, o.size, o.binary ? "binary" : "text", window_s, o.warmup);
  std::fputs(line, out);
  std::fprintf(out, "  messages/s   %.0f  (%.1f MB/s each way)\n", rate, rate * static_cast<double>(o.size) / 1e6);
  std::fprintf(out, "  latency      %s\n", latency_line(lat).c_str());
  std::fprintf(out, "  connections  %llu opened, %llu closed cleanly\n", static_cast<unsigned long long>(t.opened),
               static_cast<unsigned long long>(t.closed_clean));
  std::fprintf(out, "  cpu          %s\n", run.cpu_line(t.window_received, "msg").c_str());
  std::fprintf(out, "  errors       %llu", static_cast<unsigned long long>(errors));
  if (errors) std::fprintf(out, "  (lost %llu; first: %s)", static_cast<unsigned long long>(lost), run.first_error().c_str());
  std::fputc('\n', out);

  if (o.json) {
    nlohmann::json j = {{"mode", "echo"},
                        {"url", o.url},
                        {"connections", o.connections},
                        {"inflight", o.inflight},
                        {"size", o.size},
                        {"binary", o.binary},
                        {"threads", o.threads},
                        {"warmup_s", o.warmup},
                        {"duration_s", rounded(window_s)},
                        {"messages", t.window_received},
                        {"messages_per_s", rounded(rate, 1)},
                        {"bytes_per_s", rounded(rate * static_cast<double>(o.size), 0)},
                        {"latency", latency_json(lat)},
                        {"opened", t.opened},
                        {"closed_clean", t.closed_clean},
                        {"sent", t.sent},
                        {"received", t.received},
                        {"lost", lost},
                        {"cpu", run.cpu_json(t.window_received)}};
    j["errors"] = t.error_json();
    j["errors"]["lost"] = lost;
    j["errors"]["total"] = errors;
    if (!run.first_error().empty()) j["first_error"] = run.first_error();
    std::printf("%s\n", j.dump().c_str());
  }
  return errors ? kExitErrors : kExitOk;
}

}  // namespace wirehub::bench
