#include "net/connection.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "core/byte_buffer.hpp"
#include "loop/syscalls.hpp"
#include "net/tls_stream.hpp"

namespace wirehub::net {

namespace {

// The cork of the connection currently running on_read on this thread.
struct Cork {
  Connection* owner = nullptr;
  ByteBuffer buf;
};
thread_local Cork t_cork;

constexpr std::uint32_t kReadEvents = EPOLLIN | EPOLLRDHUP;
constexpr std::size_t kCorkKeepBytes = 256 * 1024;  // larger corks are freed after use
constexpr int kMaxIov = 64;
// A frame body at least this large, sent while corked with nothing queued, goes out with
// sendmsg() straight from where it is (with the cork's bytes before it) instead of being
// copied into the cork first: for a 64 KiB echo that copy was most of the server's own work.
constexpr std::size_t kDirectSendBytes = 16 * 1024;

}  // namespace

thread_local Connection* Connection::t_first_ = nullptr;
thread_local std::size_t Connection::t_count_ = 0;

void Connection::link_local() noexcept {
  next_ = t_first_;
  if (t_first_) t_first_->prev_ = this;
  t_first_ = this;
  ++t_count_;
}

void Connection::unlink_local() noexcept {
  if (prev_) prev_->next_ = next_;
  else if (t_first_ == this) t_first_ = next_;
  else return;  // not linked
  if (next_) next_->prev_ = prev_;
  prev_ = next_ = nullptr;
  --t_count_;
}

Connection::Connection(loop::EventLoop& loop, int fd) : loop_(&loop), fd_(fd) {
  loop_->add(fd_, kReadEvents, this);
  link_local();
}

Connection::Connection(Connection& from)
    : loop_(from.loop_),
      out_(std::move(from.out_)),
      tls_(std::exchange(from.tls_, nullptr)),
      drain_threshold_(from.drain_threshold_),
      fd_(std::exchange(from.fd_, -1)) {
  want_write_ = from.want_write_;
  from.cancel_timer();
  from.phase_ = Phase::Closed;
  loop_->modify(fd_, kReadEvents | (want_write_ ? EPOLLOUT : 0u), this);
  if (t_cork.owner == &from) t_cork.owner = this;
  if (!out_.empty()) loop_->defer(*this);
  if (tls_ && tls_->has_pending_input()) {
    // Records that followed the upgrade request are inside OpenSSL, where epoll cannot
    // see them: read them at the end of this iteration.
    read_again_ = true;
    loop_->defer(*this);
  }
  from.unlink_local();
  link_local();
}

Connection::~Connection() {
  cancel_timer();
  unlink_local();
  if (t_cork.owner == this) t_cork.owner = nullptr;
  delete tls_;
  if (fd_ >= 0) {
    loop_->remove(fd_);
    ::close(fd_);
  }
}

std::size_t Connection::queued_bytes() const noexcept {
  return out_.bytes() + (t_cork.owner == this ? t_cork.buf.size() : 0) + (tls_ ? tls_->pending_output() : 0);
}

bool Connection::output_pending() const noexcept {
  return !out_.empty() || (tls_ && tls_->pending_output() > 0);
}

bool Connection::start_tls(const TlsContext& ctx, const char* server_name) {
  if (tls_ || fd_ < 0) return tls_ != nullptr;
  tls_ = TlsStream::create(ctx, fd_, server_name);
  if (!tls_) close_now();
  return tls_ != nullptr;
}

void Connection::send(std::string_view bytes, std::uint8_t flags) {
  if (phase_ != Phase::Open && phase_ != Phase::Flushing) return;
  if (t_cork.owner == this && out_.empty()) {
    t_cork.buf.append(bytes);
    return;
  }
  if (t_cork.owner == this) flush_cork();
  out_.push_copy(bytes, flags);
  after_write();
}

void Connection::send(std::string_view head, std::string_view body, std::uint64_t tag) {
  if (phase_ != Phase::Open && phase_ != Phase::Flushing) return;
  if (t_cork.owner == this && out_.empty() && body.size() >= kDirectSendBytes) {
    send_direct(head, body, tag);
    return;
  }
  if (t_cork.owner == this && out_.empty()) {
    ByteBuffer& b = t_cork.buf;
    char* p = b.prepare(head.size() + body.size());
    std::memcpy(p, head.data(), head.size());
    if (!body.empty()) std::memcpy(p + head.size(), body.data(), body.size());
    b.commit(head.size() + body.size());
    return;
  }
  if (t_cork.owner == this) flush_cork();
  out_.push_copy(head, kFrameStart, tag);
  out_.push_copy(body, 0);
  after_write();
}

void Connection::send_direct(std::string_view head, std::string_view body, std::uint64_t tag) {
  // What the cork holds goes first, then this frame, in one sendmsg; only what the socket
  // did not take is copied (into the queue).
  ByteBuffer& cork = t_cork.buf;
  iovec iov[3];
  int n = 0;
  if (!cork.empty()) iov[n++] = {cork.data(), cork.size()};
  iov[n++] = {const_cast<char*>(head.data()), head.size()};
  iov[n++] = {const_cast<char*>(body.data()), body.size()};
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = static_cast<std::size_t>(n);
  ssize_t w;
  do {
    w = tls_ ? tls_->write(iov, n) : sys::sendmsg(fd_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (w < 0 && errno == EINTR);
  if (w < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      cork.clear();
      close_now();
      return;
    }
    w = 0;
  }
  auto written = static_cast<std::size_t>(w);
  const std::size_t from_cork = std::min(written, cork.size());
  cork.consume(from_cork);
  written -= from_cork;
  if (!cork.empty()) {
    // The cork's frames were not all written: the rest of them is one started slice,
    // and this frame follows as a frame of its own, not started.
    out_.push_copy(cork.view(), kFrameStart | kStarted);
    cork.clear();
    out_.push_copy(head, kFrameStart, tag);
    out_.push_copy(body, 0);
  } else if (written < head.size() + body.size()) {
    const bool started = written > 0;
    const std::size_t from_head = std::min(written, head.size());
    const std::uint8_t flags = started ? kFrameStart | kStarted : kFrameStart;
    if (from_head < head.size()) {
      out_.push_copy(head.substr(from_head), flags, tag);
      out_.push_copy(body, 0);
    } else {
      out_.push_copy(body.substr(written - head.size()), flags, tag);
    }
  }
  if (cork.capacity() > kCorkKeepBytes) cork.shrink();
  if (output_pending()) after_write();
}

void Connection::send(const BufferRef& buf, std::size_t off, std::size_t len, std::uint8_t flags,
                      std::uint64_t tag, bool merge) {
  if (phase_ != Phase::Open && phase_ != Phase::Flushing) return;
  if (t_cork.owner == this) {
    if (out_.empty() && len <= 4096) {  // small: copying is cheaper than a slice
      t_cork.buf.append(buf->data() + off, len);
      return;
    }
    flush_cork();
  }
  out_.push_shared(buf, off, len, flags, tag, merge);
  after_write();
}

void Connection::send_control(std::string_view frame) {
  if (phase_ != Phase::Open && phase_ != Phase::Flushing) return;
  if (t_cork.owner == this && out_.empty()) {
    t_cork.buf.append(frame);
    return;
  }
  if (t_cork.owner == this) flush_cork();
  out_.push_control(frame);
  after_write();
}

void Connection::after_write() {
  if (out_.bytes() > drain_threshold_ && drain_threshold_ > 0) above_threshold_ = true;
  if (!want_write_) loop_->defer(*this);
}

void Connection::flush_cork() {
  Cork& c = t_cork;
  if (c.buf.empty()) return;
  if (out_.empty() && fd_ >= 0) {
    ssize_t w;
    if (tls_) {
      iovec iov{c.buf.data(), c.buf.size()};
      w = tls_->write(&iov, 1);
    } else {
      w = sys::send(fd_, c.buf.data(), c.buf.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    if (w < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        c.buf.clear();
        close_now();
        return;
      }
      w = 0;
    }
    c.buf.consume(static_cast<std::size_t>(w));
    if (tls_ && tls_->pending_output() > 0) after_write();  // a record waits for the socket
  }
  if (!c.buf.empty()) {
    // The cork holds whole frames without boundaries, possibly already partly written:
    // queue the rest as one started slice so nothing is inserted into or dropped from it.
    out_.push_copy(c.buf.view(), kFrameStart | kStarted);
    c.buf.clear();
    after_write();
  }
  if (c.buf.capacity() > kCorkKeepBytes) c.buf.shrink();
}

bool Connection::flush() {
  iovec iov[kMaxIov];
  bool blocked = false;
  while (!out_.empty()) {
    int n = out_.gather(iov, kMaxIov);
    ssize_t w;
    if (tls_) {
      w = tls_->write(iov, n);
    } else {
      // sendmsg rather than writev for MSG_NOSIGNAL: a peer that reset the connection must
      // give EPIPE, not a SIGPIPE that kills the process.
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = static_cast<std::size_t>(n);
      w = sys::sendmsg(fd_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        blocked = true;
        break;
      }
      return false;
    }
    out_.consume(static_cast<std::size_t>(w));
  }
  // A TLS record the socket did not take, with nothing queued behind it.
  if (tls_ && !blocked && tls_->pending_output() > 0 && tls_->write(nullptr, 0) < 0 && errno != EAGAIN) return false;
  if (out_.empty()) out_.shrink();
  update_interest();
  if (above_threshold_ && out_.bytes() <= drain_threshold_) {
    above_threshold_ = false;
    on_drained();
  }
  return true;
}

void Connection::update_interest() {
  bool want = !out_.empty();
  if (tls_) want = tls_->wants_writable(want);
  if (fd_ < 0 || (want == want_write_ && !peer_eof_)) return;
  want_write_ = want;
  loop_->modify(fd_, read_interest() | (want ? EPOLLOUT : 0u), this);
}

std::uint32_t Connection::read_interest() const noexcept {
  if (peer_eof_) return 0;
  // Paused: EPOLLRDHUP alone still reports the peer's EOF, without the input before it.
  return read_paused_ ? std::uint32_t{EPOLLRDHUP} : kReadEvents;
}

void Connection::pause_reading() noexcept {
  if (read_paused_ || fd_ < 0 || phase_ != Phase::Open) return;
  read_paused_ = true;
  loop_->modify(fd_, read_interest() | (want_write_ ? EPOLLOUT : 0u), this);
}

void Connection::resume_reading() noexcept {
  if (!read_paused_) return;
  read_paused_ = false;
  if (fd_ < 0) return;
  loop_->modify(fd_, read_interest() | (want_write_ ? EPOLLOUT : 0u), this);
  if (tls_ && tls_->has_pending_input()) {
    // Records already decrypted-ahead inside OpenSSL do not wake epoll: read them now.
    read_again_ = true;
    loop_->defer(*this);
  }
}

void Connection::on_events(std::uint32_t events) {
  if (phase_ == Phase::Closed) return;
  if (read_paused_ && (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
    // Only the end of the peer's input or an error wakes a paused connection; the input
    // before that EOF stays unread, so the peer is gone as far as we are concerned.
    read_ended(0);
    return;
  }
  if (!read_paused_ && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) handle_readable();
  // A TLS read (a handshake message, a key update's answer) that waited for the socket.
  if ((events & EPOLLOUT) && tls_ && !read_paused_ && tls_->read_wants_write() && phase_ != Phase::Closed)
    handle_readable();
  if ((events & EPOLLOUT) && phase_ != Phase::Closed && fd_ >= 0) {
    if (!flush()) {
      close_now();
    }
    run_deferred();  // progress the close sequence if the queue emptied
  }
}

void Connection::deliver(char* buf, std::size_t n) {
  Cork& c = t_cork;
  c.owner = out_.empty() ? this : nullptr;
  on_read(buf, n);
  // An upgrade during on_read may have moved the cork to a new connection object.
  Connection* owner = c.owner;
  c.owner = nullptr;
  if (owner) owner->flush_cork();
  if (owner && owner != this) owner->run_deferred();
}

void Connection::handle_readable() {
  if (tls_) {
    handle_readable_tls();
    return;
  }
  char* buf = loop_->read_buffer();
  ssize_t n = sys::recv(fd_, buf, loop_->read_buffer_size(), 0);
  if (n > 0) {
    if (phase_ != Phase::Open) return;  // closing: input is discarded
    deliver(buf, static_cast<std::size_t>(n));
    return;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  read_ended(n);
}

void Connection::handle_readable_tls() {
  if (phase_ == Phase::Lingering) {
    // Our close_notify is out and the write side shut: what comes now (the peer's
    // close_notify, late records) is discarded undecrypted until EOF.
    ssize_t n = sys::recv(fd_, loop_->read_buffer(), loop_->read_buffer_size(), 0);
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))) return;
    read_ended(n);
    return;
  }
  // A write that waited for input (a handshake in progress) goes first.
  if (tls_->write_wants_read() && (!flush() || phase_ == Phase::Closed)) {
    close_now();
    run_deferred();
    return;
  }
  char* buf = loop_->read_buffer();
  const std::size_t cap = loop_->read_buffer_size();
  // Records already inside OpenSSL do not make the socket readable again, so read until
  // the buffer is full or OpenSSL holds nothing more; with read-ahead that is one recv().
  for (;;) {
    std::size_t got = 0;
    ssize_t n;
    do {
      n = tls_->read(buf + got, cap - got);
      if (n > 0) got += static_cast<std::size_t>(n);
    } while (n > 0 && got < cap && tls_->has_pending_input());
    const int read_errno = errno;  // before on_read's own calls change it
    if (got > 0 && phase_ == Phase::Open) deliver(buf, got);
    if (phase_ == Phase::Closed || close_requested_) {
      run_deferred();
      return;
    }
    if (n > 0 && tls_->has_pending_input() && !read_paused_) continue;  // the buffer filled up
    if (n > 0 || read_errno == EAGAIN || read_errno == EWOULDBLOCK || read_errno == EINTR) {
      update_interest();  // the read may now wait for writability, or no longer
      return;
    }
    read_ended(n);
    return;
  }
}

void Connection::read_ended(ssize_t n) {
  if (n == 0 && phase_ == Phase::Open) {
    on_peer_closed();
    if (phase_ == Phase::Open) close_now();
  } else if (n == 0 && phase_ == Phase::Flushing && !out_.empty()) {
    // The peer half-closed while we still write: it may still read, so finish writing,
    // but stop watching input (level-triggered EOF would wake us forever).
    peer_eof_ = true;
    update_interest();
  } else {
    close_now();  // EOF while lingering (the normal end), or a socket error
  }
  run_deferred();
}

void Connection::close_after_flush(std::uint32_t linger_ms) {
  if (phase_ != Phase::Open) return;
  phase_ = Phase::Flushing;
  linger_ms_ = linger_ms;
  resume_reading();
  // Bound the whole close: a peer that never reads must not hold us forever.
  arm_timer(linger_ms ? linger_ms : 1);
  loop_->defer(*this);
}

void Connection::close_now() noexcept {
  if (phase_ == Phase::Closed) return;
  close_requested_ = true;
  loop_->defer(*this);
}

void Connection::run_deferred() {
  if (phase_ == Phase::Closed || fd_ < 0) return;
  if (read_again_) {
    read_again_ = false;
    if (phase_ == Phase::Open && !close_requested_ && !read_paused_) handle_readable_tls();
    if (phase_ == Phase::Closed) return;
  }
  if (close_requested_) {
    finish_close();
    return;
  }
  if (output_pending() && !want_write_) {
    if (!flush()) {
      finish_close();
      return;
    }
  }
  if (phase_ == Phase::Flushing && !output_pending() && peer_eof_) {
    finish_close();  // everything is written and the peer already closed its side
    return;
  }
  if (phase_ == Phase::Flushing && !output_pending()) {
    // TLS: close_notify first, so the peer knows the stream ended here (not truncated).
    if (tls_ && tls_->shutdown() == 0) {
      update_interest();  // the socket did not take it: again when writable
      return;
    }
    // Half-close so the peer reads everything we sent, then wait for its EOF; closing
    // with unread input would send RST and could destroy our last frames in flight.
    ::shutdown(fd_, SHUT_WR);
    phase_ = Phase::Lingering;
  }
}

void Connection::on_timer() {
  if (phase_ == Phase::Flushing || phase_ == Phase::Lingering) {
    finish_close();
    return;
  }
  if (phase_ == Phase::Open) on_timeout();
}

void Connection::finish_close() noexcept {
  if (phase_ == Phase::Closed) return;
  phase_ = Phase::Closed;
  cancel_timer();
  if (t_cork.owner == this) {
    t_cork.owner = nullptr;
    t_cork.buf.clear();
  }
  if (fd_ >= 0) {
    loop_->remove(fd_);
    ::close(fd_);
    fd_ = -1;
  }
  out_.clear();
  out_.shrink();
  delete tls_;
  tls_ = nullptr;
  unlink_local();
  on_closed();
  loop_->dispose(this);
}

}  // namespace wirehub::net
