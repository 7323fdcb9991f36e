// broadcast: fan-out. One publisher and N subscribers on the same endpoint; the server
// relays every message to every client. The publisher keeps at most `window` messages
// that have not yet reached every subscriber; a ring of per-sequence countdowns (shared
// by the worker threads, lock-free) says when one has, and the subscriber that brings a
// countdown to zero lets the publisher send the next.
//
// With --hub, every subscriber first calls the hub method Join(group); the publisher calls
// Publish(group, payload) with the message's number as its invocation id, and the hub
// sends each member an Invocation of "receive" with the payload as its one argument. The
// publisher checks its Completions (in order, no error) as the raw publisher checks its
// own messages coming back.

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <algorithm>
#include <bit>
#include <charconv>
#include <cstdio>
#include <memory>
#include <stdexcept>

#include "hub_wire.hpp"
#include "modes.hpp"
#include "run.hpp"
#include "wire.hpp"
#include "ws_client.hpp"

namespace wirehub::bench {

namespace {

constexpr std::string_view kGroup = "bench";
constexpr std::string_view kJoinMethod = "Join";
constexpr std::string_view kPublishMethod = "Publish";
constexpr std::string_view kDeliveryMethod = "receive";

// Reads a decimal invocation id; nullopt unless the whole text is one.
std::optional<std::uint64_t> parse_id(std::string_view text) noexcept {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

// One in-flight message: when it was published and how many subscribers still await it.
// A slot is reused only after its countdown reached zero, so no reader is left behind.
struct alignas(64) Slot {
  std::atomic<std::uint64_t> sent_ns{0};
  std::atomic<std::uint32_t> remaining{0};
};

// What the workers share: the ring, and the eventfd through which a subscriber thread
// tells the publisher's thread that a message is complete.
struct Shared {
  explicit Shared(std::size_t window)
      : mask(std::bit_ceil(window) - 1), slots(new Slot[mask + 1]), wake_fd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (wake_fd < 0) throw std::runtime_error("eventfd failed");
  }
  ~Shared() { ::close(wake_fd); }
  Shared(const Shared&) = delete;
  Shared& operator=(const Shared&) = delete;
  Slot& slot(std::uint64_t seq) noexcept { return slots[seq & mask]; }

  std::size_t mask;
  std::unique_ptr<Slot[]> slots;
  int wake_fd;
  std::atomic<bool> publisher_open{false};   // and, with a hub, its handshake answered
  std::atomic<std::uint64_t> joined{0};      // subscribers ready to receive (hub: Join completed)
  std::atomic<std::uint64_t> completed{0};  // messages that reached every subscriber
};

class Publisher;

class BroadcastWorker final : public Worker, private loop::Watcher {
 public:
  BroadcastWorker(WorkerConfig cfg, const Options& o, Shared& shared)
      : Worker(std::move(cfg)),
        shared_(shared),
        window_(o.window),
        size_(o.size),
        op_(o.binary_frames() ? ws::Opcode::Binary : ws::Opcode::Text),
        hub_(o.hub),
        reader_(o.hub.value_or(HubProtocol::Json)) {
    body_.resize(size_ - kSeqBytes);
    for (std::size_t i = 0; i < body_.size(); ++i) body_[i] = static_cast<char>('A' + i % 26);
    if (hub_) {
      handshake_ = hub_handshake_request(*hub_);
      append_invocation(join_, *hub_, 0, kJoinMethod, {kGroup});
      argument_.assign(kSeqBytes, '@');
      argument_ += body_;
    }
    if (config().index == 0) loop().add(shared_.wake_fd, EPOLLIN, this);
  }
  ~BroadcastWorker() override {
    if (config().index == 0) loop().remove(shared_.wake_fd);
  }

  Shared& shared() noexcept { return shared_; }
  std::size_t window() const noexcept { return window_; }
  std::size_t size() const noexcept { return size_; }
  // The opcode of every data message, both ways (with a hub: the protocol's).
  ws::Opcode opcode() const noexcept { return op_; }
  std::string_view body() const noexcept { return body_; }
  const std::optional<HubProtocol>& hub() const noexcept { return hub_; }
  std::string_view handshake() const noexcept { return handshake_; }
  std::string_view join_invocation() const noexcept { return join_; }
  HubReader& reader() noexcept { return reader_; }

  // The framed Invocation of Publish for message seq, in a buffer of the worker.
  std::string_view publish_invocation(std::uint64_t seq) {
    encode_seq(argument_.data(), seq);
    invocation_.clear();
    append_invocation(invocation_, *hub_, seq, kPublishMethod, {kGroup, argument_});
    return invocation_;
  }
  // A subscriber's message: the right size, its body intact (the header is the caller's).
  bool payload_intact(std::string_view payload) const noexcept {
    return payload.size() == size_ && payload.substr(kSeqBytes) == body_;
  }

  // Publisher's worker only: begin publishing to `subscribers` connections.
  void start_publishing(std::uint32_t subscribers);
  // A message reached its last subscriber; the publisher may send another.
  void message_completed();
  void publisher_gone() noexcept { publisher_ = nullptr; }

 protected:
  WsClient* make_client(int fd, std::size_t global_index, std::uint64_t dial_start_ns) override;

 private:
  void on_events(std::uint32_t) override;

  Shared& shared_;
  std::size_t window_, size_;
  ws::Opcode op_;
  std::string body_;
  std::optional<HubProtocol> hub_;
  HubReader reader_;
  std::string handshake_, join_;
  std::string argument_;    // hub: the sequence header and the body
  std::string invocation_;  // hub: the last framed Publish
  Publisher* publisher_ = nullptr;
};

class Publisher final : public WsClient {
 public:
  Publisher(BroadcastWorker& w, int fd, std::uint64_t dial_start_ns) : WsClient(w, fd, dial_start_ns), bw_(w) {}
  ~Publisher() override { bw_.publisher_gone(); }

  void start(std::uint32_t subscribers) {
    subscribers_ = subscribers;
    pump();
  }

  // Retires completed messages from the front of the window, then fills it again.
  void pump() {
    Shared& sh = bw_.shared();
    while (oldest_ < next_ && sh.slot(oldest_).remaining.load(std::memory_order_acquire) == 0) ++oldest_;
    sh.completed.store(oldest_, std::memory_order_relaxed);
    if (subscribers_ == 0 || stage() != Stage::Open) return;
    while (bw_.sending() && next_ - oldest_ < bw_.window()) {
      Slot& s = sh.slot(next_);
      s.remaining.store(subscribers_, std::memory_order_relaxed);
      s.sent_ns.store(bw_.now_ns(), std::memory_order_release);
      if (bw_.hub()) {
        send_data(bw_.opcode(), {}, bw_.publish_invocation(next_));
      } else {
        char seq[kSeqBytes];
        encode_seq(seq, next_);
        send_data(bw_.opcode(), std::string_view(seq, kSeqBytes), bw_.body());
      }
      ++next_;
      bw_.stats().sent.add();
    }
  }

 private:
  void on_ws_open() override {
    if (bw_.hub()) {
      send_data(ws::Opcode::Text, {}, bw_.handshake());
      return;
    }
    bw_.shared().publisher_open.store(true, std::memory_order_release);
  }

  bool on_ws_message(ws::Opcode op, std::string_view payload) override {
    if (bw_.hub()) return on_hub_payload(op, payload);
    // Our own messages come back too: check they are intact and in order, count nothing.
    const auto seq = payload.size() == bw_.size() && op == bw_.opcode() ? decode_seq(payload.data()) : std::nullopt;
    if (!seq || *seq != (echoed_ & kMaxSeq)) {
      fail(bw_.stats().mismatches, "broadcast: the publisher's own message came back altered or out of order");
      return false;
    }
    ++echoed_;
    return true;
  }

  // The handshake's answer, then the Completion of each Publish, in order.
  bool on_hub_payload(ws::Opcode op, std::string_view payload) {
    WorkerStats& s = bw_.stats();
    if (!hub_open_) {
      std::string why;
      const std::size_t used = check_handshake_response(payload, &why);
      if (!used) {
        fail(s.handshake_errors, "hub handshake: " + why);
        return false;
      }
      hub_open_ = true;
      payload.remove_prefix(used);
      bw_.shared().publisher_open.store(true, std::memory_order_release);
    } else if (op != bw_.opcode()) {
      fail(s.mismatches, "hub broadcast: a message in the wrong frame type for the protocol");
      return false;
    }
    HubReader& r = bw_.reader();
    HubMessage m;
    const HubWalk walk = walk_hub_messages(r, payload, m, [&](const HubMessage&) {
        if (m.type != kHubCompletion || parse_id(m.invocation_id) != echoed_ ||
            m.outcome == HubMessage::Outcome::Error) {
          fail(s.mismatches, "hub broadcast: not the successful Completion of the oldest Publish (" +
                                 std::string(m.text.substr(0, 80)) + ")");
          return false;
        }
        ++echoed_;
        return true;
      });
    switch (walk) {
      case HubWalk::End:
        return true;
      case HubWalk::Error:
        fail(s.protocol_errors, std::string("hub broadcast: ") + r.error());
        return false;
      case HubWalk::Closed:
        fail(s.dropped, "hub broadcast: the hub closed the publisher: " + std::string(m.text));
        return false;
      case HubWalk::Stopped:
        return false;
    }
    return false;
  }

  BroadcastWorker& bw_;
  bool hub_open_ = false;  // hub: the handshake was answered
  std::uint32_t subscribers_ = 0;
  std::uint64_t next_ = 0;    // sequence of the next message
  std::uint64_t oldest_ = 0;  // oldest message not yet at every subscriber
  std::uint64_t echoed_ = 0;  // own messages seen back
};

class Subscriber final : public WsClient {
 public:
  Subscriber(BroadcastWorker& w, int fd, std::uint64_t dial_start_ns) : WsClient(w, fd, dial_start_ns), bw_(w) {}

 private:
  void on_ws_open() override {
    if (bw_.hub()) {
      send_data(ws::Opcode::Text, {}, bw_.handshake());
      return;
    }
    bw_.shared().joined.fetch_add(1, std::memory_order_relaxed);
  }

  bool on_ws_message(ws::Opcode op, std::string_view payload) override {
    if (bw_.hub()) return on_hub_payload(op, payload);
    if (op != bw_.opcode() || payload.size() != bw_.size()) {
      fail(bw_.stats().mismatches, "broadcast: a message of the wrong opcode or size");
      return false;
    }
    return delivered(payload);
  }

  // The handshake's answer (then Join is called), Join's Completion, then deliveries.
  bool on_hub_payload(ws::Opcode op, std::string_view payload) {
    WorkerStats& st = bw_.stats();
    if (!hub_open_) {
      std::string why;
      const std::size_t used = check_handshake_response(payload, &why);
      if (!used) {
        fail(st.handshake_errors, "hub handshake: " + why);
        return false;
      }
      hub_open_ = true;
      payload.remove_prefix(used);
      send_data(bw_.opcode(), {}, bw_.join_invocation());
    } else if (op != bw_.opcode()) {
      fail(st.mismatches, "hub broadcast: a message in the wrong frame type for the protocol");
      return false;
    }
    HubReader& r = bw_.reader();
    HubMessage m;
    const HubWalk walk = walk_hub_messages(r, payload, m, [&](const HubMessage&) {
        if (!joined_) {
          if (m.type != kHubCompletion || parse_id(m.invocation_id) != 0u || m.outcome == HubMessage::Outcome::Error) {
            fail(st.mismatches, "hub broadcast: Join did not complete (" + std::string(m.text.substr(0, 80)) + ")");
            return false;
          }
          joined_ = true;
          bw_.shared().joined.fetch_add(1, std::memory_order_relaxed);
          return true;
        }
        if (m.type != kHubInvocation || m.target != kDeliveryMethod || m.arguments != 1 ||
            !m.first_argument_is_string || !m.invocation_id.empty() || !bw_.payload_intact(m.first_argument)) {
          fail(st.mismatches, "hub broadcast: a message that is not receive(payload) with the payload published");
          return false;
        }
        if (!delivered(m.first_argument)) return false;
        return true;
      });
    switch (walk) {
      case HubWalk::End:
        return true;
      case HubWalk::Error:
        fail(st.protocol_errors, std::string("hub broadcast: ") + r.error());
        return false;
      case HubWalk::Closed:
        fail(st.dropped, "hub broadcast: the hub closed a subscriber: " + std::string(m.text));
        return false;
      case HubWalk::Stopped:
        return false;
    }
    return false;
  }

  // A message of the right type and size reached this subscriber: checks its order and
  // counts it, completing the message when this was its last subscriber.
  bool delivered(std::string_view payload) {
    WorkerStats& st = bw_.stats();
    const auto seq = decode_seq(payload.data());
    if (!seq || *seq != (expected_ & kMaxSeq)) {
      fail(st.mismatches, "broadcast: a subscriber missed a message or got one out of order");
      return false;
    }
    ++expected_;
    Slot& s = bw_.shared().slot(*seq);
    const std::uint64_t now = bw_.now_ns();
    const std::uint64_t sent = s.sent_ns.load(std::memory_order_acquire);
    const bool measured = bw_.in_window(now);
    st.received.add();
    if (measured) {
      st.window_received.add();
      bw_.latency().record(now - sent);
    }
    if (s.remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      if (measured) {
        st.window_completed.add();
        bw_.completion().record(now - sent);
      }
      bw_.message_completed();
    }
    return true;
  }

  BroadcastWorker& bw_;
  std::uint64_t expected_ = 0;
  bool hub_open_ = false;  // hub: the handshake was answered
  bool joined_ = false;    // hub: Join completed
};

WsClient* BroadcastWorker::make_client(int fd, std::size_t global_index, std::uint64_t dial_start_ns) {
  if (global_index == 0) return publisher_ = new Publisher(*this, fd, dial_start_ns);
  return new Subscriber(*this, fd, dial_start_ns);
}

void BroadcastWorker::start_publishing(std::uint32_t subscribers) {
  refresh_clock();
  if (publisher_) publisher_->start(subscribers);
}

void BroadcastWorker::message_completed() {
  if (config().index == 0) {
    if (publisher_) publisher_->pump();
    return;
  }
  // Another thread's publisher: one eventfd write per completed message, not per delivery.
  const std::uint64_t one = 1;
  [[maybe_unused]] ssize_t r = ::write(shared_.wake_fd, &one, sizeof one);
}

void BroadcastWorker::on_events(std::uint32_t) {
  std::uint64_t n;
  [[maybe_unused]] ssize_t r = ::read(shared_.wake_fd, &n, sizeof n);
  refresh_clock();
  if (publisher_) publisher_->pump();
}

}  // namespace

int run_broadcast(const Options& o) {
  Shared shared(o.window);
  Run run(o);
  const std::size_t total = o.subscribers + 1;
  const std::size_t max_frame =
      ws::kMaxFrameHeader +
      (o.hub ? invocation_bound(kPublishMethod.size(), kGroup.size() + o.size, 2) : o.size);
  for (unsigned i = 0; i < o.threads; ++i)
    run.add(std::make_unique<BroadcastWorker>(run.worker_config(i, total, max_frame), o, shared));
  run.start();

  // Publishing starts once every connection is settled and every subscriber that opened
  // is ready (with a hub: has joined the group) or has failed.
  constexpr std::uint64_t kSetupTimeoutNs = 60'000'000'000;
  run.wait_until(run.started_ns() + kSetupTimeoutNs, "connect", [&](const Totals& t) {
    const std::uint64_t ready = shared.joined.load(std::memory_order_relaxed) +
                                (shared.publisher_open.load(std::memory_order_relaxed) ? 1 : 0);
    return t.settled() >= total && ready + t.errors() >= t.opened;
  });
  const bool have_publisher = shared.publisher_open.load(std::memory_order_acquire);
  const auto subscribers = static_cast<std::uint32_t>(shared.joined.load(std::memory_order_relaxed));
  if (have_publisher && subscribers > 0) {
    BroadcastWorker& w0 = static_cast<BroadcastWorker&>(*run.workers()[0]);
    w0.loop().post([&w0, subscribers] { w0.start_publishing(subscribers); });
  }
  // Without a single working connection there is nothing to measure: skip to the end.
  const bool load = have_publisher && subscribers > 0;
  const std::uint64_t start = mono_ns() + (load ? static_cast<std::uint64_t>(o.warmup * 1e9) : 0);
  const std::uint64_t end = start + (load ? static_cast<std::uint64_t>(o.duration * 1e9) : 0);
  run.post_all([=](Worker& w) { w.set_window(start, end); });
  run.wait_until(start, "warmup");
  run.mark_window_start();
  run.wait_until(end, "measure");
  run.mark_window_end();
  const double window_s = std::max(static_cast<double>(end - start) / 1e9, 1e-9);
  run.finish(3.0, [&](const Totals& t) { return shared.completed.load(std::memory_order_relaxed) >= t.sent; });

  const Totals t = run.totals();
  const Histogram lat = run.merged_latency();
  const Histogram all = run.merged_completion();
  const std::uint64_t lost = t.sent - shared.completed.load();
  const std::uint64_t errors = t.errors() + lost + (have_publisher ? 0 : 1);
  const double deliveries = static_cast<double>(t.window_received) / window_s;
  const double messages = static_cast<double>(t.window_completed) / window_s;

  std::FILE* out = o.json ? stderr : stdout;
  std::fprintf(out,
               "broadcast %s%s%s: 1 publisher, %zu subscribers, %zu B %s, window %zu, %.1f s measured after %.1f s "
               "warm-up\n",
               o.hub ? "(hub " : "", o.hub ? std::string(hub_protocol_name(*o.hub)).append(" group) ").c_str() : "",
               o.url.c_str(), o.subscribers, o.size, o.binary_frames() ? "binary" : "text", o.window, window_s,
               o.warmup);
  for (const std::string& u : o.also_urls) std::fprintf(out, "  also %s (subscribers round-robin)\n", u.c_str());
  std::fprintf(out, "  deliveries/s %.0f  (%.1f MB/s out of the server)\n", deliveries,
               deliveries * static_cast<double>(o.size) / 1e6);
  std::fprintf(out, "  messages/s   %.0f  delivered to all %u subscribers\n", messages, subscribers);
  std::fprintf(out, "  latency      %s  publish -> each delivery\n", latency_line(lat).c_str());
  std::fprintf(out, "  all-latency  %s  publish -> last delivery\n", latency_line(all).c_str());
  std::fprintf(out, "  connections  %llu opened, %llu closed cleanly\n", static_cast<unsigned long long>(t.opened),
               static_cast<unsigned long long>(t.closed_clean));
  std::fprintf(out, "  cpu          %s\n", run.cpu_line(t.window_received, "delivery").c_str());
  std::fprintf(out, "  errors       %llu", static_cast<unsigned long long>(errors));
  if (errors) {
    std::fprintf(out, "  (undelivered %llu; first: %s)", static_cast<unsigned long long>(lost),
                 have_publisher ? run.first_error().c_str() : "the publisher did not connect");
  }
  std::fputc('\n', out);

  if (o.json) {
    nlohmann::json j = {{"mode", "broadcast"},
                        {"url", o.url},
                        {"also_urls", o.also_urls},
                        {"subscribers", o.subscribers},
                        {"subscribers_open", subscribers},
                        {"size", o.size},
                        {"window", o.window},
                        {"binary", o.binary},
                        {"hub", o.hub ? nlohmann::json(hub_protocol_name(*o.hub)) : nlohmann::json()},
                        {"threads", o.threads},
                        {"warmup_s", o.warmup},
                        {"duration_s", rounded(window_s)},
                        {"deliveries", t.window_received},
                        {"deliveries_per_s", rounded(deliveries, 1)},
                        {"messages", t.window_completed},
                        {"messages_per_s", rounded(messages, 1)},
                        {"latency", latency_json(lat)},
                        {"all_delivered_latency", latency_json(all)},
                        {"published", t.sent},
                        {"undelivered", lost},
                        {"opened", t.opened},
                        {"closed_clean", t.closed_clean},
                        {"cpu", run.cpu_json(t.window_received)}};
    j["errors"] = t.error_json();
    j["errors"]["undelivered"] = lost;
    j["errors"]["total"] = errors;
    if (!run.first_error().empty()) j["first_error"] = run.first_error();
    std::printf("%s\n", j.dump().c_str());
  }
  return errors ? kExitErrors : kExitOk;
}

}  // namespace wirehub::bench
