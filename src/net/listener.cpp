#include "net/listener.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/log.hpp"

namespace wirehub::net {

Listener::Listener(loop::EventLoop& loop, int fd, OnAccept on_accept, ListenerStats& stats)
    : loop_(loop), fd_(fd), on_accept_(std::move(on_accept)), stats_(stats) {
  loop_.add(fd_, EPOLLIN, this);
}

Listener::~Listener() { close(); }

void Listener::close() noexcept {
  loop_.timers().cancel(*this);
  if (fd_ < 0) return;
  if (!paused_) loop_.remove(fd_);
  ::close(fd_);
  fd_ = -1;
}

void Listener::on_events(std::uint32_t) {
  // Bounded batch per wake-up so one busy listener cannot starve the loop's connections.
  for (int i = 0; i < 128 && fd_ >= 0; ++i) {
    int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      stats_.accepted.fetch_add(1, std::memory_order_relaxed);
      on_accept_(fd);
      continue;
    }
    switch (errno) {
      case EAGAIN:
      case EINTR:
      case ECONNABORTED:
      case EPROTO:
        if (errno == EAGAIN) return;
        continue;
      case EMFILE:
      case ENFILE:
      case ENOBUFS:
      case ENOMEM:
        stats_.fd_exhausted.fetch_add(1, std::memory_order_relaxed);
        log::warn("accept: {}; pausing accepts for {} ms", std::strerror(errno), kPauseMs);
        loop_.remove(fd_);
        paused_ = true;
        loop_.timers().arm(*this, loop_.now_ms(), kPauseMs);
        return;
      default:
        log::error("accept: {}", std::strerror(errno));
        return;
    }
  }
}

void Listener::on_timer() {
  if (fd_ < 0 || !paused_) return;
  paused_ = false;
  loop_.add(fd_, EPOLLIN, this);
}

}  // namespace wirehub::net
