// echo: round trips. Each connection keeps `inflight` messages outstanding; every echo
// that comes back is checked (opcode, size, sequence header) and triggers the next send,
// so the rate is whatever the server sustains. Latency is measured per message from the
// read that sent it to the read that received its echo.
//
// With --hub, each message is an Invocation of the hub method Echo(payload) with the
// message's number as its invocation id, and its echo is the Completion: the id must be
// the oldest outstanding one and the result the payload, byte for byte.

#include <algorithm>
#include <atomic>
#include <bit>
#include <charconv>
#include <cstdio>
#include <memory>

#include "hub_wire.hpp"
#include "modes.hpp"
#include "run.hpp"
#include "wire.hpp"
#include "ws_client.hpp"

namespace wirehub::bench {

namespace {

constexpr std::string_view kEchoMethod = "Echo";

class EchoWorker final : public Worker {
 public:
  EchoWorker(WorkerConfig cfg, const Options& o, std::atomic<std::uint64_t>& ready)
      : Worker(std::move(cfg)),
        inflight_(o.inflight),
        size_(o.size),
        prefix_(o.size >= kSeqBytes ? kSeqBytes : 0),
        op_(o.binary_frames() ? ws::Opcode::Binary : ws::Opcode::Text),
        hub_(o.hub),
        ready_(ready),
        reader_(o.hub.value_or(HubProtocol::Json)) {
    // The fixed part of every payload: printable ASCII, valid as text.
    body_.resize(size_ - prefix_);
    for (std::size_t i = 0; i < body_.size(); ++i) body_[i] = static_cast<char>('a' + i % 26);
    if (hub_) {
      handshake_ = hub_handshake_request(*hub_);
      argument_.assign(kSeqBytes, '@');
      argument_ += body_;
    }
  }

  std::size_t inflight() const noexcept { return inflight_; }
  std::size_t size() const noexcept { return size_; }
  std::size_t prefix() const noexcept { return prefix_; }
  // The opcode of every data message, both ways (with a hub: the protocol's).
  ws::Opcode opcode() const noexcept { return op_; }
  std::string_view body() const noexcept { return body_; }
  const std::optional<HubProtocol>& hub() const noexcept { return hub_; }
  std::string_view handshake() const noexcept { return handshake_; }
  HubReader& reader() noexcept { return reader_; }
  // A connection is ready to send (raw: open; hub: handshake answered).
  void ready() noexcept { ready_.fetch_add(1, std::memory_order_relaxed); }

  // The framed Invocation of Echo for message seq, in a buffer the worker's clients share.
  std::string_view echo_invocation(std::uint64_t seq) {
    encode_seq(argument_.data(), seq);
    invocation_.clear();
    append_invocation(invocation_, *hub_, seq, kEchoMethod, {std::string_view(argument_).substr(kSeqBytes - prefix_)});
    return invocation_;
  }

 protected:
  WsClient* make_client(int fd, std::size_t, std::uint64_t dial_start_ns) override;

 private:
  std::size_t inflight_, size_, prefix_;
  ws::Opcode op_;
  std::string body_;
  std::optional<HubProtocol> hub_;
  std::atomic<std::uint64_t>& ready_;
  HubReader reader_;
  std::string handshake_;
  std::string argument_;    // hub: a sequence header (sent only when prefix_ is not 0) and the body
  std::string invocation_;  // hub: the last framed Invocation
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
    if (ew_.hub()) {
      send_data(ws::Opcode::Text, {}, ew_.handshake());
      return;
    }
    start();
  }

  void start() {
    ew_.ready();
    while (ew_.sending() && next_send_ - next_recv_ < ew_.inflight()) send_one();
  }

  bool on_ws_message(ws::Opcode op, std::string_view payload) override {
    if (ew_.hub()) return on_hub_payload(op, payload);
    WorkerStats& s = ew_.stats();
    if (op != ew_.opcode() || payload.size() != ew_.size()) {
      fail(s.mismatches, "echo: wrong opcode or size (got " + std::to_string(payload.size()) + " bytes)");
      return false;
    }
    return echoed(payload);
  }

  bool on_hub_payload(ws::Opcode op, std::string_view payload) {
    WorkerStats& s = ew_.stats();
    if (!hub_open_) {
      // The answer may come in either frame type (PROTOCOL.md 6), messages after it in the same.
      std::string why;
      const std::size_t used = check_handshake_response(payload, &why);
      if (!used) {
        fail(s.handshake_errors, "hub handshake: " + why);
        return false;
      }
      hub_open_ = true;
      payload.remove_prefix(used);
      start();
    } else if (op != ew_.opcode()) {
      fail(s.mismatches, "hub echo: a message in the wrong frame type for the protocol");
      return false;
    }
    HubReader& r = ew_.reader();
    HubMessage m;
    const HubWalk walk = walk_hub_messages(r, payload, m, [&](const HubMessage&) {
        std::uint64_t id = 0;
        const auto [end, ec] = std::from_chars(m.invocation_id.data(), m.invocation_id.data() + m.invocation_id.size(), id);
        if (m.type != kHubCompletion || ec != std::errc() || end != m.invocation_id.data() + m.invocation_id.size() ||
            id != next_recv_) {
          fail(s.mismatches, "hub echo: a message that is not the Completion of the oldest outstanding Echo");
          return false;
        }
        if (m.outcome != HubMessage::Outcome::String || m.text.size() != ew_.size() ||
            m.text.substr(ew_.prefix()) != ew_.body()) {
          fail(s.mismatches, "hub echo: Echo's result is not the payload sent (" + std::string(m.text.substr(0, 80)) + ")");
          return false;
        }
        return echoed(m.text);
      });
    switch (walk) {
      case HubWalk::End:
        return true;
      case HubWalk::Error:
        fail(s.protocol_errors, std::string("hub echo: ") + r.error());
        return false;
      case HubWalk::Closed:
        fail(s.dropped, "hub echo: the hub closed the connection: " + std::string(m.text));
        return false;
      case HubWalk::Stopped:
        return false;
    }
    return false;
  }

  // A whole echo arrived, of the right type and size: checks its sequence header, counts
  // it, sends the next.
  bool echoed(std::string_view payload) {
    WorkerStats& s = ew_.stats();
    if (next_recv_ == next_send_) {
      fail(s.mismatches, "echo: a message arrived that was never sent");
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
    sent_at_[next_send_ & mask_] = ew_.now_ns();
    if (ew_.hub()) {
      send_data(ew_.opcode(), {}, ew_.echo_invocation(next_send_));
    } else {
      char seq[kSeqBytes];
      encode_seq(seq, next_send_);
      send_data(ew_.opcode(), std::string_view(seq, ew_.prefix()), ew_.body());
    }
    ++next_send_;
    ew_.stats().sent.add();
  }

  EchoWorker& ew_;
  std::size_t mask_;  // ring size - 1; the ring holds the send time of each outstanding message
  std::unique_ptr<std::uint64_t[]> sent_at_;
  std::uint64_t next_send_ = 0, next_recv_ = 0;
  bool hub_open_ = false;  // hub: the handshake was answered
};

WsClient* EchoWorker::make_client(int fd, std::size_t, std::uint64_t dial_start_ns) {
  return new EchoClient(*this, fd, dial_start_ns);
}

}  // namespace

int run_echo(const Options& o) {
  Run run(o);
  std::atomic<std::uint64_t> ready{0};
  const std::size_t max_frame =
      ws::kMaxFrameHeader + (o.hub ? invocation_bound(kEchoMethod.size(), o.size, 1) : o.size);
  for (unsigned i = 0; i < o.threads; ++i)
    run.add(std::make_unique<EchoWorker>(run.worker_config(i, o.connections, max_frame), o, ready));
  run.start();

  // Connection setup is not measured: the warm-up starts once every connection is settled
  // (and, with a hub, has had its handshake answered or failed).
  constexpr std::uint64_t kSetupTimeoutNs = 60'000'000'000;
  run.wait_until(run.started_ns() + kSetupTimeoutNs, "connect", [&](const Totals& t) {
    return t.settled() >= o.connections && ready.load(std::memory_order_relaxed) + t.errors() >= t.opened;
  });
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
                "echo %s%s%s: %zu connections x %zu in flight x %zu B %s, %.1f s measured after %.1f s warm-up\n",
                o.hub ? "(hub " : "", o.hub ? std::string(hub_protocol_name(*o.hub)).append(") ").c_str() : "",
                o.url.c_str(), o.connections, o.inflight, o.size, o.binary_frames() ? "binary" : "text", window_s, o.warmup);
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
                        {"hub", o.hub ? nlohmann::json(hub_protocol_name(*o.hub)) : nlohmann::json()},
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
