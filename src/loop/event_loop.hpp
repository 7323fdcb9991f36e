#pragma once
// EventLoop: one epoll instance, one thread, shared-nothing.
//
// A connection is only ever touched by the loop that owns it. Other threads reach a loop
// through post(), which appends to a mutex-guarded queue and wakes the loop through an
// eventfd; the loop swaps the whole queue out at once, so the lock is held for a push or a
// swap only. Each iteration: wait for events, run I/O callbacks, run posted tasks, fire
// timers, then run the end-of-iteration work (write flushes, deferred destruction).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "loop/timer_wheel.hpp"

namespace wirehub::loop {

// Receives readiness events for one file descriptor.
class Watcher {
 public:
  virtual void on_events(std::uint32_t epoll_events) = 0;

 protected:
  virtual ~Watcher() = default;
};

// Objects the loop deletes at the end of the iteration, once no callback can still
// reference them (an epoll batch may hold events for an object closed earlier in it).
class Disposable {
 public:
  virtual ~Disposable() = default;
};

// Work queued to run once at the end of the current loop iteration. A Deferred is also a
// Disposable, so that an object that is both (every connection) carries one vtable
// pointer for the two instead of two.
class Deferred : public Disposable {
 public:
  virtual void run_deferred() = 0;

 private:
  friend class EventLoop;
  bool deferred_queued_ = false;
};

class EventLoop {
 public:
  using Task = std::function<void()>;

  // read_buffer_bytes: size of the receive buffer all connections of this loop share.
  explicit EventLoop(std::size_t read_buffer_bytes = 512 * 1024);
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Runs until stop() is called; the calling thread becomes the loop thread.
  void run();
  // Thread-safe: makes run() return after the current iteration.
  void stop();
  // Thread-safe: runs task on the loop thread, in posting order.
  void post(Task task);
  // True on the thread inside run(); false everywhere before run() starts.
  bool in_loop_thread() const noexcept {
    return std::this_thread::get_id() == thread_.load(std::memory_order_acquire);
  }
  // True once run() has started on its thread (and until it returns).
  bool running() const noexcept { return is_running_.load(std::memory_order_acquire); }

  // fd registration (loop thread only). events are EPOLL* flags; edge-triggered is the
  // caller's choice.
  void add(int fd, std::uint32_t events, Watcher* w);
  void modify(int fd, std::uint32_t events, Watcher* w);
  void remove(int fd) noexcept;

  // Queues d to run at the end of this iteration (once, however often it is deferred).
  void defer(Deferred& d);
  // Deletes d at the end of this iteration.
  void dispose(Disposable* d);

  TimerWheel& timers() noexcept { return timers_; }
  // Monotonic milliseconds, refreshed once per iteration.
  std::uint64_t now_ms() const noexcept { return now_ms_; }
  static std::uint64_t clock_ms() noexcept;

  char* read_buffer() noexcept { return read_buffer_.get(); }
  std::size_t read_buffer_size() const noexcept { return read_buffer_size_; }

  // Position of this loop in its group (0 for a lone loop); used to route to it.
  std::size_t index() const noexcept { return index_; }
  void set_index(std::size_t i) noexcept { index_ = i; }

  // Milliseconds the last iteration's callbacks took (event-loop lag, for metrics).
  std::uint64_t last_busy_ms() const noexcept { return last_busy_ms_; }

 private:
  void drain_inbox();
  void run_end_of_iteration();

  int epfd_ = -1;
  int wakefd_ = -1;
  std::atomic<std::thread::id> thread_{};
  std::atomic<bool> is_running_{false};
  std::atomic<bool> stopping_{false};
  std::uint64_t now_ms_;
  TimerWheel timers_;
  std::unique_ptr<char[]> read_buffer_;
  std::size_t read_buffer_size_;
  std::uint64_t last_busy_ms_ = 0;
  std::size_t index_ = 0;

  std::mutex inbox_mu_;
  std::vector<Task> inbox_;       // guarded by inbox_mu_
  bool wake_pending_ = false;     // guarded by inbox_mu_: one eventfd write per batch
  std::vector<Task> running_;     // loop thread only

  std::vector<Deferred*> deferred_;
  std::vector<Deferred*> deferred_running_;
  std::vector<Disposable*> graveyard_;
};

}  // namespace wirehub::loop
