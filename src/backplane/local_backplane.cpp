// The in-process backplane: one node, so a publish is a delivery.
#include <mutex>
#include <string>
#include <unordered_map>

#include "backplane/backplane.hpp"

namespace wirehub::backplane {
namespace {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

class LocalBackplane final : public Backplane {
 public:
  void set_handlers(MessageHandler on_message, StateHandler on_state) override {
    on_message_ = std::move(on_message);
    on_state_ = std::move(on_state);
  }
  void start() override {
    if (on_state_) on_state_(State::Up);
  }
  void stop() override {}

  // The lock is held across the handler so that two threads' publishes of one channel
  // reach the handler one after the other, each thread's in its own order; the handler
  // must not call back into the backplane (see backplane.hpp).
  PublishResult publish(std::string_view channel, std::string_view payload) override {
    std::lock_guard lock(mu_);
    ++published_;
    if (channels_.find(channel) == channels_.end()) return PublishResult::Sent;
    ++delivered_;
    if (on_message_) on_message_(channel, payload);
    return PublishResult::Sent;
  }
  void subscribe(std::string_view channel, std::function<void()> on_active) override {
    {
      std::lock_guard lock(mu_);
      auto it = channels_.find(channel);
      if (it == channels_.end()) it = channels_.emplace(std::string(channel), 0).first;
      ++it->second;
    }
    if (on_active) on_active();
  }
  void unsubscribe(std::string_view channel) override {
    std::lock_guard lock(mu_);
    auto it = channels_.find(channel);
    if (it != channels_.end() && --it->second == 0) channels_.erase(it);
  }
  Stats stats() const override {
    std::lock_guard lock(mu_);
    Stats s;
    s.published = published_;
    s.delivered = delivered_;
    s.channels = channels_.size();
    return s;
  }
  std::string_view kind() const noexcept override { return "local"; }

 private:
  MessageHandler on_message_;
  StateHandler on_state_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::size_t, StringHash, std::equal_to<>> channels_;  // guarded by mu_
  std::uint64_t published_ = 0;  // guarded by mu_
  std::uint64_t delivered_ = 0;  // guarded by mu_
};

}  // namespace

std::unique_ptr<Backplane> make_local_backplane() { return std::make_unique<LocalBackplane>(); }

}  // namespace wirehub::backplane
