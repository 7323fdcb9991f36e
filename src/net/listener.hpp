#pragma once
// Listener: accepts connections on one loop's SO_REUSEPORT socket.
//
// When the process runs out of descriptors (EMFILE/ENFILE) a level-triggered listener
// would spin: the pending connection stays in the backlog and epoll keeps reporting it.
// So on those errors the listener stops watching its socket for a short pause, counts the
// event and logs it at most once per pause, then tries again.

#include <atomic>
#include <cstdint>
#include <functional>

#include "loop/event_loop.hpp"

namespace wirehub::net {

struct ListenerStats {
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> fd_exhausted{0};  // EMFILE/ENFILE/ENOBUFS/ENOMEM on accept
};

class Listener final : public loop::Watcher, public loop::Timer {
 public:
  using OnAccept = std::function<void(int fd)>;

  // Takes ownership of the listening socket fd.
  Listener(loop::EventLoop& loop, int fd, OnAccept on_accept, ListenerStats& stats);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Stops accepting and closes the socket (loop thread).
  void close() noexcept;
  int fd() const noexcept { return fd_; }

  static constexpr std::uint64_t kPauseMs = 100;

 private:
  void on_events(std::uint32_t events) override;
  void on_timer() override;

  loop::EventLoop& loop_;
  int fd_;
  OnAccept on_accept_;
  ListenerStats& stats_;
  bool paused_ = false;
};

}  // namespace wirehub::net
