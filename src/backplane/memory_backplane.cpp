// The in-process bus: the nodes are backplanes of this process that name the same bus.
#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "backplane/backplane.hpp"

namespace wirehub::backplane {
namespace {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

class MemoryBackplane;

// A sequenced channel of one bus: its counter and the entries kept.
struct History {
  struct Entry {
    std::uint64_t seq;
    std::uint64_t at_ms;  // steady clock
    std::string payload;
  };
  std::uint64_t epoch = 0;  // random, non-zero, taken when the channel's history starts
  std::uint64_t last = 0;
  std::deque<Entry> entries;  // ascending seq

  // Drops the entries past limits at now_ms: the oldest beyond max_messages, and those
  // older than max_age_ms.
  void trim(const HistoryLimits& limits, std::uint64_t now_ms) {
    const std::uint64_t keep = std::max<std::uint64_t>(1, limits.max_messages);
    while (entries.size() > keep) entries.pop_front();
    while (!entries.empty() && !young(entries.front(), limits, now_ms)) entries.pop_front();
  }
  static bool young(const Entry& e, const HistoryLimits& limits, std::uint64_t now_ms) {
    return limits.max_age_ms == 0 || e.at_ms + limits.max_age_ms >= now_ms;
  }
};

std::uint64_t steady_ms() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

// Every bus of the process, by name, with its started nodes and its sequenced channels.
// One mutex for all: it is held while a publish calls the nodes' handlers, so publishes
// of one bus reach each node one after the other, each thread's in its own order, and
// every node sees a channel's sequenced messages in number order.
struct Buses {
  std::mutex mu;
  // All guarded by mu. A bus, histories included, lasts while one of its nodes is started.
  std::map<std::string, std::vector<MemoryBackplane*>, std::less<>> nodes;
  std::map<std::string, std::map<std::string, History, std::less<>>, std::less<>> histories;
};
Buses& buses() {
  static Buses b;
  return b;
}

class MemoryBackplane final : public Backplane {
 public:
  explicit MemoryBackplane(std::string_view bus) : bus_(bus) {}
  ~MemoryBackplane() override { stop(); }

  void set_handlers(MessageHandler on_message, StateHandler on_state) override {
    on_message_ = std::move(on_message);
    on_state_ = std::move(on_state);
  }
  void set_sequenced_handler(SequencedHandler on_sequenced) override { on_sequenced_ = std::move(on_sequenced); }
  void start() override {
    {
      std::lock_guard lock(buses().mu);
      if (started_) return;
      started_ = true;
      buses().nodes[bus_].push_back(this);
    }
    if (on_state_) on_state_(State::Up);
  }
  void stop() override {
    std::lock_guard lock(buses().mu);
    if (!started_) return;
    started_ = false;
    auto it = buses().nodes.find(bus_);
    std::erase(it->second, this);
    if (it->second.empty()) {
      buses().nodes.erase(it);
      buses().histories.erase(bus_);
    }
  }

  PublishResult publish(std::string_view channel, std::string_view payload) override {
    std::lock_guard lock(buses().mu);
    ++published_;
    auto it = buses().nodes.find(bus_);
    if (it == buses().nodes.end()) return PublishResult::Sent;  // not started: no other node to reach
    for (MemoryBackplane* node : it->second) {
      if (node != this) node->take(channel, payload);
    }
    return PublishResult::Sent;
  }
  PublishResult publish_sequenced(std::string_view channel, std::string_view payload, HistoryLimits limits) override {
    std::lock_guard lock(buses().mu);
    ++published_;
    auto it = buses().nodes.find(bus_);
    if (it == buses().nodes.end()) return PublishResult::Sent;  // no node started: no bus to number it
    auto bus = buses().histories.find(bus_);
    if (bus == buses().histories.end()) bus = buses().histories.emplace(bus_, decltype(bus->second){}).first;
    auto ch = bus->second.find(channel);
    if (ch == bus->second.end()) {
      ch = bus->second.emplace(std::string(channel), History{}).first;
      static std::mt19937_64 epochs{std::random_device{}()};  // under buses().mu
      while (ch->second.epoch == 0) ch->second.epoch = epochs();
    }
    History& h = ch->second;
    const std::uint64_t seq = ++h.last;
    const std::uint64_t now = steady_ms();
    h.entries.push_back({seq, now, std::string(payload)});
    h.trim(limits, now);
    for (MemoryBackplane* node : it->second) node->take_sequenced(channel, h.epoch, seq, payload);
    return PublishResult::Sent;
  }
  void fetch_history(std::string_view channel, std::uint64_t after, std::size_t max, HistoryLimits limits,
                     std::function<void(HistoryRange)> done) override {
    HistoryRange r;
    {
      std::lock_guard lock(buses().mu);
      r.ok = started_;
      if (!started_) {
        r.error = "backplane not started";
      } else if (const History* h = find_history(channel)) {
        const std::uint64_t now = steady_ms();
        r.last = h->last;
        r.epoch = h->epoch;
        // Entries are in time order: the young ones are a suffix.
        auto young = std::find_if(h->entries.begin(), h->entries.end(),
                                  [&](const History::Entry& e) { return History::young(e, limits, now); });
        if (young != h->entries.end()) r.first = young->seq;
        auto e = std::partition_point(young, h->entries.end(), [&](const History::Entry& x) { return x.seq <= after; });
        for (; e != h->entries.end() && r.messages.size() < max; ++e) r.messages.emplace_back(e->seq, e->payload);
      }
    }
    done(std::move(r));  // without the lock: done may call into this bus
  }
  void subscribe(std::string_view channel, std::function<void()> on_active) override {
    {
      std::lock_guard lock(buses().mu);
      auto it = channels_.find(channel);
      if (it == channels_.end()) it = channels_.emplace(std::string(channel), 0).first;
      ++it->second;
    }
    if (on_active) on_active();
  }
  void unsubscribe(std::string_view channel) override {
    std::lock_guard lock(buses().mu);
    auto it = channels_.find(channel);
    if (it != channels_.end() && --it->second == 0) channels_.erase(it);
  }
  Stats stats() const override {
    std::lock_guard lock(buses().mu);
    Stats s;
    s.published = published_;
    s.delivered = delivered_;
    s.channels = channels_.size();
    return s;
  }
  std::string_view kind() const noexcept override { return "memory"; }

 private:
  // With buses().mu held.
  void take(std::string_view channel, std::string_view payload) {
    if (channels_.find(channel) == channels_.end()) return;
    ++delivered_;
    if (on_message_) on_message_(channel, payload);
  }
  // With buses().mu held.
  void take_sequenced(std::string_view channel, std::uint64_t epoch, std::uint64_t seq, std::string_view payload) {
    if (channels_.find(channel) == channels_.end()) return;
    ++delivered_;
    if (on_sequenced_) on_sequenced_(channel, epoch, seq, payload);
  }
  // With buses().mu held.
  const History* find_history(std::string_view channel) const {
    auto bus = buses().histories.find(bus_);
    if (bus == buses().histories.end()) return nullptr;
    auto ch = bus->second.find(channel);
    return ch == bus->second.end() ? nullptr : &ch->second;
  }

  const std::string bus_;
  MessageHandler on_message_;
  StateHandler on_state_;
  SequencedHandler on_sequenced_;
  // All guarded by buses().mu.
  bool started_ = false;
  std::unordered_map<std::string, std::size_t, StringHash, std::equal_to<>> channels_;
  std::uint64_t published_ = 0;
  std::uint64_t delivered_ = 0;
};

}  // namespace

std::unique_ptr<Backplane> make_memory_backplane(std::string_view bus) { return std::make_unique<MemoryBackplane>(bus); }

}  // namespace wirehub::backplane
