#include "loop/event_loop.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "loop/syscalls.hpp"

namespace wirehub::loop {

namespace {
[[noreturn]] void fail(const char* what) {
  throw std::runtime_error(std::string(what) + ": " + std::strerror(errno));
}
}  // namespace

std::uint64_t EventLoop::clock_ms() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000 + static_cast<std::uint64_t>(ts.tv_nsec) / 1000000;
}

EventLoop::EventLoop(std::size_t read_buffer_bytes)
    : now_ms_(clock_ms()),
      timers_(now_ms_),
      read_buffer_(new char[read_buffer_bytes]),
      read_buffer_size_(read_buffer_bytes) {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) fail("epoll_create1");
  wakefd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakefd_ < 0) fail("eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // nullptr marks the wake-up fd
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev) < 0) fail("epoll_ctl(eventfd)");
}

EventLoop::~EventLoop() {
  run_end_of_iteration();
  if (wakefd_ >= 0) ::close(wakefd_);
  if (epfd_ >= 0) ::close(epfd_);
}

void EventLoop::add(int fd, std::uint32_t events, Watcher* w) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = w;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) < 0) fail("epoll_ctl(ADD)");
}

void EventLoop::modify(int fd, std::uint32_t events, Watcher* w) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = w;
  if (epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) < 0) fail("epoll_ctl(MOD)");
}

void EventLoop::remove(int fd) noexcept { epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr); }

void EventLoop::post(Task task) {
  bool wake;
  {
    std::lock_guard lock(inbox_mu_);
    inbox_.push_back(std::move(task));
    wake = !wake_pending_;
    wake_pending_ = true;
  }
  if (wake) {
    std::uint64_t one = 1;
    // EAGAIN means the counter is already non-zero: the loop will wake anyway.
    [[maybe_unused]] ssize_t r = ::write(wakefd_, &one, sizeof one);
  }
}

void EventLoop::stop() {
  stopping_.store(true, std::memory_order_release);
  post([] {});
}

void EventLoop::defer(Deferred& d) {
  if (d.deferred_queued_) return;
  d.deferred_queued_ = true;
  deferred_.push_back(&d);
}

void EventLoop::dispose(Disposable* d) { graveyard_.push_back(d); }

void EventLoop::drain_inbox() {
  std::uint64_t count;
  [[maybe_unused]] ssize_t r = ::read(wakefd_, &count, sizeof count);
  {
    std::lock_guard lock(inbox_mu_);
    running_.swap(inbox_);
    wake_pending_ = false;
  }
  for (Task& t : running_) t();
  running_.clear();
}

void EventLoop::run_end_of_iteration() {
  // Deferred work may defer more work (a flush that closes a connection); loop until quiet.
  while (!deferred_.empty()) {
    deferred_running_.swap(deferred_);
    for (Deferred* d : deferred_running_) {
      d->deferred_queued_ = false;
      d->run_deferred();
    }
    deferred_running_.clear();
  }
  for (Disposable* d : graveyard_) delete d;
  graveyard_.clear();
}

void EventLoop::run() {
  thread_.store(std::this_thread::get_id(), std::memory_order_release);
  is_running_.store(true, std::memory_order_release);
  constexpr int kMaxEvents = 256;
  epoll_event events[kMaxEvents];
  while (!stopping_.load(std::memory_order_acquire)) {
    // Work deferred outside an iteration (before run(), or by a task on another path)
    // must not wait for the next event: poll instead of sleeping.
    int timeout = deferred_.empty() && graveyard_.empty() ? timers_.next_timeout_ms(now_ms_, 1000) : 0;
    int n = sys::epoll_wait(epfd_, events, kMaxEvents, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("epoll_wait");
    }
    now_ms_ = clock_ms();
    std::uint64_t started = now_ms_;
    for (int i = 0; i < n; ++i) {
      auto* w = static_cast<Watcher*>(events[i].data.ptr);
      if (w == nullptr) {
        drain_inbox();
      } else {
        w->on_events(events[i].events);
      }
    }
    timers_.advance(now_ms_);
    run_end_of_iteration();
    last_busy_ms_ = clock_ms() - started;
  }
  // Posted tasks still queued at stop run now, so nothing posted is silently dropped.
  drain_inbox();
  run_end_of_iteration();
  is_running_.store(false, std::memory_order_release);
}

}  // namespace wirehub::loop
