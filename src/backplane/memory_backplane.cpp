// The in-process bus: the nodes are backplanes of this process that name the same bus.
#include <map>
#include <mutex>
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

// Every bus of the process, by name, with its started nodes. One mutex for all: it is held
// while a publish calls the other nodes' handlers, so publishes of one bus reach each node
// one after the other, each thread's in its own order.
struct Buses {
  std::mutex mu;
  std::map<std::string, std::vector<MemoryBackplane*>, std::less<>> nodes;  // guarded by mu
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
    if (it->second.empty()) buses().nodes.erase(it);
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

  const std::string bus_;
  MessageHandler on_message_;
  StateHandler on_state_;
  // All guarded by buses().mu.
  bool started_ = false;
  std::unordered_map<std::string, std::size_t, StringHash, std::equal_to<>> channels_;
  std::uint64_t published_ = 0;
  std::uint64_t delivered_ = 0;
};

}  // namespace

std::unique_ptr<Backplane> make_memory_backplane(std::string_view bus) { return std::make_unique<MemoryBackplane>(bus); }

}  // namespace wirehub::backplane
