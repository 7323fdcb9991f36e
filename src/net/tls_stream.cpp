#include "net/tls_stream.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <new>
#include <string_view>

#include "core/log.hpp"
#include "loop/syscalls.hpp"
#include "net/tls_context.hpp"

namespace wirehub::net {

namespace {

// OpenSSL's own socket BIO writes with write(), which raises SIGPIPE on a reset peer and
// goes through glibc's cancellation bookkeeping. This one makes the same system calls as
// the plain path: send(MSG_NOSIGNAL) and recv(), non-blocking.
int fd_of(BIO* b) noexcept { return static_cast<int>(reinterpret_cast<std::intptr_t>(BIO_get_data(b))); }

int bio_write(BIO* b, const char* data, int len) {
  BIO_clear_retry_flags(b);
  ssize_t w = sys::send(fd_of(b), data, static_cast<std::size_t>(len), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) BIO_set_retry_write(b);
  return static_cast<int>(w);
}

int bio_read(BIO* b, char* data, int len) {
  BIO_clear_retry_flags(b);
  ssize_t r = sys::recv(fd_of(b), data, static_cast<std::size_t>(len), 0);
  if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) BIO_set_retry_read(b);
  return static_cast<int>(r);
}

long bio_ctrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

int bio_create(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

const BIO_METHOD* socket_method() {
  static const BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "wirehub socket");
    BIO_meth_set_write(m, bio_write);
    BIO_meth_set_read(m, bio_read);
    BIO_meth_set_ctrl(m, bio_ctrl);
    BIO_meth_set_create(m, bio_create);
    return m;
  }();
  return method;
}

// Where small iovecs are gathered into one record.
thread_local char t_stage[TlsStream::kRecordBytes];

}  // namespace

TlsStream* TlsStream::create(const TlsContext& ctx, int fd, const char* server_name) noexcept {
  ERR_clear_error();
  SSL* ssl = SSL_new(ctx.native());
  BIO* bio = ssl ? BIO_new(socket_method()) : nullptr;
  auto* stream = bio ? new (std::nothrow) TlsStream(ssl) : nullptr;
  if (!stream) {
    BIO_free(bio);
    SSL_free(ssl);
    ERR_clear_error();
    return nullptr;
  }
  BIO_set_data(bio, reinterpret_cast<void*>(static_cast<std::intptr_t>(fd)));
  SSL_set_bio(ssl, bio, bio);
  if (ctx.is_server()) {
    SSL_set_accept_state(ssl);
  } else {
    SSL_set_connect_state(ssl);
    // SSL_set_tlsext_host_name, without its C cast.
    if (server_name) SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(server_name));
  }
  return stream;
}

TlsStream::~TlsStream() { SSL_free(ssl_); }

bool TlsStream::has_pending_input() const noexcept { return !failed_ && SSL_has_pending(ssl_) == 1; }

bool TlsStream::handshake_done() const noexcept { return SSL_is_init_finished(ssl_) == 1; }

std::string_view TlsStream::alpn() const noexcept {
  const unsigned char* p = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(ssl_, &p, &len);
  return p ? std::string_view(reinterpret_cast<const char*>(p), len) : std::string_view();
}

void TlsStream::fail_with(int ssl_error, bool reading) noexcept {
  failed_ = true;
  if (ssl_error == SSL_ERROR_SYSCALL) {
    if (errno == 0 || errno == EAGAIN || errno == EWOULDBLOCK) errno = ECONNRESET;
  } else {
    unsigned long e = ERR_peek_last_error();
    const char* reason = e ? ERR_reason_error_string(e) : nullptr;
    log::debug("TLS {} failed: {}", reading ? (handshake_done() ? "read" : "handshake") : "write",
               reason ? reason : "unknown error");
    errno = EPROTO;
  }
  ERR_clear_error();
}

ssize_t TlsStream::read(char* buf, std::size_t n) noexcept {
  if (failed_) {
    errno = EPROTO;
    return -1;
  }
  ERR_clear_error();
  std::size_t got = 0;
  if (SSL_read_ex(ssl_, buf, n, &got) == 1) {
    read_wants_write_ = false;
    return static_cast<ssize_t>(got);
  }
  const int e = SSL_get_error(ssl_, 0);
  read_wants_write_ = e == SSL_ERROR_WANT_WRITE;
  switch (e) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      errno = EAGAIN;
      return -1;
    case SSL_ERROR_ZERO_RETURN:  // close_notify, or EOF (SSL_OP_IGNORE_UNEXPECTED_EOF)
      ERR_clear_error();
      return 0;
    case SSL_ERROR_SYSCALL:
      if (errno == 0) {  // EOF reported as such by an older OpenSSL
        ERR_clear_error();
        return 0;
      }
      [[fallthrough]];
    default:
      fail_with(e, true);
      return -1;
  }
}

ssize_t TlsStream::write_record(const char* p, std::size_t n) noexcept {
  ERR_clear_error();
  std::size_t w = 0;
  if (SSL_write_ex(ssl_, p, n, &w) == 1) {
    write_wants_read_ = false;
    return static_cast<ssize_t>(w);
  }
  const int e = SSL_get_error(ssl_, 0);
  if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
    // OpenSSL holds this record (or the handshake it needs first) and wants this very
    // call repeated: keep the bytes for that, and report them taken.
    write_wants_read_ = e == SSL_ERROR_WANT_READ;
    if (!retry_) retry_.reset(new (std::nothrow) char[kRecordBytes]);
    if (!retry_) {
      failed_ = true;
      errno = ENOMEM;
      return -1;
    }
    std::memcpy(retry_.get(), p, n);
    retry_len_ = static_cast<std::uint16_t>(n);
    retry_done_ = 0;
    return static_cast<ssize_t>(n);
  }
  fail_with(e, false);
  return -1;
}

bool TlsStream::flush_retry(int* error) noexcept {
  while (retry_done_ < retry_len_) {
    ERR_clear_error();
    std::size_t w = 0;
    if (SSL_write_ex(ssl_, retry_.get() + retry_done_, retry_len_ - retry_done_, &w) == 1) {
      write_wants_read_ = false;
      retry_done_ = static_cast<std::uint16_t>(retry_done_ + w);
      continue;
    }
    const int e = SSL_get_error(ssl_, 0);
    if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
      write_wants_read_ = e == SSL_ERROR_WANT_READ;
      *error = EAGAIN;
      return false;
    }
    fail_with(e, false);
    *error = errno;
    return false;
  }
  retry_len_ = retry_done_ = 0;
  retry_.reset();  // blocking is the exception: hold no 16 KiB per idle connection
  return true;
}

ssize_t TlsStream::write(const iovec* iov, int iovcnt) noexcept {
  if (failed_ || shutdown_done_) {
    errno = failed_ ? EPROTO : EPIPE;
    return -1;
  }
  if (retry_len_) {
    int error = 0;
    if (!flush_retry(&error)) {
      errno = error;
      return -1;
    }
  }
  std::size_t total = 0;
  int i = 0;
  std::size_t off = 0;  // into iov[i]
  while (i < iovcnt) {
    if (off == iov[i].iov_len) {
      ++i;
      off = 0;
      continue;
    }
    const char* base = static_cast<const char*>(iov[i].iov_base);
    const char* p;
    std::size_t len;
    if (iov[i].iov_len - off >= kRecordBytes) {
      p = base + off;  // a full record where it lies
      len = kRecordBytes;
    } else {
      // Coalesce: small slices (frames of a broadcast, a header before its body) make one
      // record rather than one record, and one system call, each.
      len = 0;
      for (int j = i; j < iovcnt && len < kRecordBytes; ++j) {
        const std::size_t from = j == i ? off : 0;
        const std::size_t take = std::min(iov[j].iov_len - from, kRecordBytes - len);
        std::memcpy(t_stage + len, static_cast<const char*>(iov[j].iov_base) + from, take);
        len += take;
      }
      p = t_stage;
    }
    ssize_t w = write_record(p, len);
    if (w < 0) {
      if (total > 0) break;  // report what was taken; the error shows on the next call
      return -1;
    }
    total += static_cast<std::size_t>(w);
    for (auto left = static_cast<std::size_t>(w); left > 0;) {  // advance the cursor
      const std::size_t step = std::min(left, iov[i].iov_len - off);
      off += step;
      left -= step;
      if (off == iov[i].iov_len && left > 0) {
        ++i;
        off = 0;
      }
    }
    if (retry_len_) break;  // blocked: nothing more until that record is out
  }
  return static_cast<ssize_t>(total);
}

int TlsStream::shutdown() noexcept {
  if (failed_ || shutdown_done_) return 1;
  if (!SSL_is_init_finished(ssl_)) {
    shutdown_done_ = true;  // no session to close politely
    return 1;
  }
  if (retry_len_) {
    int error = 0;
    if (!flush_retry(&error)) return error == EAGAIN ? 0 : 1;
  }
  ERR_clear_error();
  int r = SSL_shutdown(ssl_);
  if (r >= 0) {  // 0: ours is sent, the peer's not read yet — the linger phase is for that
    shutdown_done_ = true;
    shutdown_blocked_ = false;
    return 1;
  }
  if (SSL_get_error(ssl_, r) == SSL_ERROR_WANT_WRITE) {
    shutdown_blocked_ = true;
    ERR_clear_error();
    return 0;
  }
  ERR_clear_error();
  shutdown_done_ = true;
  shutdown_blocked_ = false;
  return 1;
}

}  // namespace wirehub::net
