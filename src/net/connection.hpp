#pragma once
// Connection: one TCP socket owned by one loop, with its output queue.
//
// Reading: level-triggered EPOLLIN; each wake-up does one recv() into the loop's shared
// read buffer and hands the bytes to on_read(), so an idle connection holds no input
// buffer at all. Writing: while a connection handles its own input it is "corked": what
// it sends (an echo, a pong) is gathered in a per-thread buffer and written with one
// send() when on_read returns. Everything else (sends to other connections, e.g. a
// broadcast) is queued by reference and flushed with writev() once per loop iteration.
// Closing never happens inside a callback: it is requested, and carried out at the end
// of the iteration, so handlers never see a connection vanish under them.
//
// TLS: start_tls() puts a TlsStream between the connection and its socket (see
// tls_stream.hpp). The same reads, cork, direct sends and queue flushes then go through
// it; a plain connection pays one null-pointer test per I/O call, and no size (the
// pointer took room freed by narrowing the drain threshold and packing the flags).

#include <sys/types.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/shared_buffer.hpp"
#include "loop/event_loop.hpp"
#include "net/slice_queue.hpp"

namespace wirehub::net {

class TlsContext;
class TlsStream;

// Bases: Watcher (socket events), Timer (its one timer), Deferred (end-of-iteration work,
// and through it Disposable: deletion at the end of the iteration).
class Connection : public loop::Watcher, public loop::Timer, public loop::Deferred {
 public:
  enum class Phase : std::uint8_t {
    Open,        // reading and writing
    Flushing,    // close requested: writing what is queued, input ignored
    Lingering,   // write side shut down, discarding input until EOF or the linger timeout
    Closed,      // fd closed; the object is disposed at the end of the iteration
  };

  // Adopts a connected, non-blocking socket and starts reading.
  Connection(loop::EventLoop& loop, int fd);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  loop::EventLoop& loop() const noexcept { return *loop_; }
  int fd() const noexcept { return fd_; }
  Phase phase() const noexcept { return phase_; }
  bool is_open() const noexcept { return phase_ == Phase::Open; }

  // Speaks TLS on this socket from now on, in ctx's role (server: the handshake starts
  // with the peer's first bytes). Call right after construction, before any send. False
  // (and the connection closes) when OpenSSL cannot make a session. server_name: SNI, for
  // the client role.
  bool start_tls(const TlsContext& ctx, const char* server_name = nullptr);
  // The TLS session, or null for plain TCP.
  TlsStream* tls() const noexcept { return tls_; }

  // Sends a copy of bytes. flags: SliceFlags (frame boundaries, control frames).
  void send(std::string_view bytes, std::uint8_t flags = kFrameStart);
  // Sends a copy of head then body as one frame (head starts it): one cork append.
  void send(std::string_view head, std::string_view body, std::uint64_t tag = 0);
  // Sends buf[off, off+len) without copying. tag: see SliceQueue::drop_tagged; merge: see
  // SliceQueue::push_shared.
  void send(const BufferRef& buf, std::size_t off, std::size_t len, std::uint8_t flags = kFrameStart,
            std::uint64_t tag = 0, bool merge = false);
  // Sends a control frame ahead of queued data (but after any frame already started).
  void send_control(std::string_view frame);
  // Bytes accepted by send() and not yet handed to the kernel.
  std::size_t queued_bytes() const noexcept;
  SliceQueue& queue() noexcept { return out_; }

  // When queued bytes fall to <= bytes after being above it, on_drained() is called.
  // (Stored in 32 bits: a threshold of 4 GiB or more acts as 4 GiB - 1.)
  void set_drain_threshold(std::size_t bytes) noexcept {
    drain_threshold_ = static_cast<std::uint32_t>(std::min<std::size_t>(bytes, UINT32_MAX));
  }

  // Graceful close: write what is queued, shut the write side down, then discard input
  // until the peer closes or linger_ms passes. The peer sees every byte we queued.
  void close_after_flush(std::uint32_t linger_ms);
  // Closes the socket at the end of this iteration without flushing.
  void close_now() noexcept;

  // Stops reading the socket (the kernel buffers what arrives; the peer is slowed by TCP
  // flow control) until resume_reading(). While paused, the peer's EOF or a socket error
  // still ends the connection: on_peer_closed() runs as for an EOF read. A graceful close
  // resumes reading, since lingering must discard input until the peer's EOF.
  void pause_reading() noexcept;
  void resume_reading() noexcept;
  bool reading_paused() const noexcept { return read_paused_; }

  // The connection's single timer (see loop::TimerWheel).
  // Calls fn for every connection owned by the calling loop thread. fn may close them.
  template <class Fn>
  static void for_each_on_this_thread(Fn&& fn) {
    for (Connection* c = t_first_; c;) {
      Connection* next = c->next_;
      fn(*c);
      c = next;
    }
  }
  static std::size_t count_on_this_thread() noexcept { return t_count_; }

  void arm_timer(std::uint64_t delay_ms) noexcept { loop_->timers().arm(*this, loop_->now_ms(), delay_ms); }
  void cancel_timer() noexcept { loop_->timers().cancel(*this); }

 protected:
  // Takes over from's socket, registration, queued output and cork (protocol upgrade).
  // from is left closed-without-close (its fd is -1) and must be disposed by the caller.
  explicit Connection(Connection& from);

  // New bytes, in the loop's read buffer (mutable, valid during the call only).
  virtual void on_read(char* data, std::size_t n) = 0;
  // The peer closed its side (EOF) while we were Open. Default: close.
  virtual void on_peer_closed() { close_now(); }
  // The socket was closed; called once. The object is disposed right after.
  virtual void on_closed() {}
  // The timer fired while the connection is Open or Flushing.
  virtual void on_timeout() {}
  virtual void on_drained() {}

 private:
  void on_events(std::uint32_t events) final;
  void on_timer() final;
  void run_deferred() final;
  void handle_readable();
  void handle_readable_tls();
  // Hands n bytes of the read buffer to on_read with the cork, then flushes the cork.
  void deliver(char* buf, std::size_t n);
  // After a read that returned n <= 0 (EOF or an error other than EAGAIN).
  void read_ended(ssize_t n);
  // Output accepted and not yet written: the queue, and a TLS record waiting to be.
  bool output_pending() const noexcept;
  // Writes queued output; false if the socket failed.
  bool flush();
  void flush_cork();
  void send_direct(std::string_view head, std::string_view body, std::uint64_t tag);
  void update_interest();
  // The read events to watch: none after the peer's EOF, only EOF while paused.
  std::uint32_t read_interest() const noexcept;
  void finish_close() noexcept;
  void after_write();

  void link_local() noexcept;
  void unlink_local() noexcept;

  // Every live connection of a thread is on that thread's list (shutdown, leak checks).
  static thread_local Connection* t_first_;
  static thread_local std::size_t t_count_;
  Connection* prev_ = nullptr;
  Connection* next_ = nullptr;

  loop::EventLoop* loop_;
  SliceQueue out_;
  TlsStream* tls_ = nullptr;  // null: plain TCP
  // 32-bit threshold and one-bit flags keep the fields at 80 bytes with tls_ added, so a
  // ws::Session is still exactly one 256-byte BlockPool block.
  std::uint32_t drain_threshold_ = 0;
  std::uint32_t linger_ms_ = 0;
  int fd_;
  Phase phase_ = Phase::Open;
  bool want_write_ : 1 = false;       // EPOLLOUT registered
  bool above_threshold_ : 1 = false;  // queued bytes went above drain_threshold_
  bool close_requested_ : 1 = false;  // close_now() was called: finish at end of iteration
  bool peer_eof_ : 1 = false;         // the peer shut its write side down while we were flushing
  bool read_again_ : 1 = false;       // TLS input waits inside OpenSSL (after a takeover)
  bool read_paused_ : 1 = false;      // pause_reading(): only EOF and errors are watched
};

}  // namespace wirehub::net
