#pragma once
// TlsStream: the TLS side of one Connection — OpenSSL on the connection's own
// non-blocking socket, with calls shaped like the system calls they replace.
//
// This is the transport seam of the net layer. A Connection holds a TlsStream pointer
// that is null for plain TCP; each of its I/O calls tests it and calls either the system
// call or the stream. No virtual call: the plain path, the one measured against the
// fastest servers, pays one predictable branch per I/O call.
//
// read() is recv(), write() is sendmsg(): bytes moved, or -1 with errno (EAGAIN when
// the stream must wait for readiness). What OpenSSL needs underneath (a handshake, a
// TLS 1.3 key update answered while reading, a record that the socket did not take) is
// hidden, except which readiness to wait for: wants_writable().
//
// Writes. One SSL_write is one record of at most 16 KiB (partial-write mode): small
// iovecs are coalesced into a per-thread staging buffer first, a large one is encrypted
// where it lies. When the socket does not take a record, OpenSSL keeps it encrypted and
// the same SSL_write must be repeated later. The stream copies that record (at most
// 16 KiB, only when blocked) and reports it written, so the caller's queue never holds
// bytes OpenSSL already encrypted (a drop policy could otherwise remove them); the next
// write() repeats it first. Every call clears the thread's OpenSSL error queue first and
// leaves it empty, so one connection's failure is never read as another's.

#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>

using SSL = struct ssl_st;

namespace wirehub::net {

class TlsContext;

class TlsStream {
 public:
  // A stream on the connected socket fd in the context's role (accept or connect).
  // server_name: SNI to send (client role only; may be null). Null on failure.
  static TlsStream* create(const TlsContext& ctx, int fd, const char* server_name = nullptr) noexcept;
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // Like recv(): plaintext bytes (> 0), 0 at the peer's end (close_notify or EOF), or -1
  // with errno: EAGAIN (wait; see wants_writable), EPROTO (a TLS failure), or the socket's.
  ssize_t read(char* buf, std::size_t n) noexcept;
  // Like sendmsg(): plaintext bytes accepted (a prefix of iov), or -1 with errno: EAGAIN
  // (nothing accepted), EPIPE after close_notify, EPROTO, or the socket's. Repeats a
  // blocked record first; iovcnt 0 only does that.
  ssize_t write(const iovec* iov, int iovcnt) noexcept;
  // Sends close_notify once everything accepted is out: 1 sent (or not possible: the
  // stream failed, or the handshake never completed), 0 blocked (wait for
  // wants_writable), repeated calls after 1 return 1.
  int shutdown() noexcept;

  // Decrypted or undecrypted bytes wait inside OpenSSL: read again without waiting for
  // the socket (level-triggered epoll cannot see them).
  bool has_pending_input() const noexcept;
  // Bytes accepted by write() and not yet handed to the socket (the blocked record).
  std::size_t pending_output() const noexcept { return retry_len_ - retry_done_; }
  // EPOLLOUT is needed: a record, close_notify or the read side (a handshake message or
  // key update answer) waits for the socket to take it, or queued plaintext waits and
  // writing is not blocked on reading instead.
  bool wants_writable(bool queued) const noexcept {
    return read_wants_write_ || shutdown_blocked_ || ((queued || pending_output()) && !write_wants_read_);
  }
  // A write waits for input (a handshake not yet complete): retry it when readable.
  bool write_wants_read() const noexcept { return write_wants_read_; }
  bool read_wants_write() const noexcept { return read_wants_write_; }
  bool handshake_done() const noexcept;
  // The negotiated ALPN protocol ("" when none).
  std::string_view alpn() const noexcept;
  SSL* native() const noexcept { return ssl_; }

  static constexpr std::size_t kRecordBytes = 16 * 1024;

 private:
  explicit TlsStream(SSL* ssl) noexcept : ssl_(ssl) {}
  // One SSL_write of p[0, n) (n <= kRecordBytes): bytes written, or -1 with errno.
  ssize_t write_record(const char* p, std::size_t n) noexcept;
  // Sends what is left of the blocked record: true once it is all out.
  bool flush_retry(int* error) noexcept;
  // Maps SSL_get_error after a failed call to errno; clears the error queue.
  void fail_with(int ssl_error, bool reading) noexcept;

  SSL* ssl_;
  std::unique_ptr<char[]> retry_;  // the blocked record (allocated only while blocked)
  std::uint16_t retry_len_ = 0;
  std::uint16_t retry_done_ = 0;
  bool write_wants_read_ = false;
  bool read_wants_write_ = false;
  bool shutdown_blocked_ = false;
  bool shutdown_done_ = false;
  bool failed_ = false;  // a fatal TLS or socket error: no close_notify, no more I/O
};

}  // namespace wirehub::net
