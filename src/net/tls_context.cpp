#include "net/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string_view>

namespace wirehub::net {

namespace {

constexpr std::string_view kHttp11 = "http/1.1";

// The reason of the most recent OpenSSL error, and an empty queue afterwards.
std::string openssl_reason() {
  unsigned long e = ERR_peek_last_error();
  std::string reason = e ? ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "unknown error" : "unknown error";
  ERR_clear_error();
  return reason;
}

[[noreturn]] void fail(const std::string& what, const std::string& file, const std::string& reason) {
  throw std::invalid_argument("TLS " + what + " " + file + ": " + reason);
}

// OpenSSL's messages for a missing file are generic ("system lib"); check readability
// first so the message says what is wrong.
void require_readable(const std::string& what, const std::string& file) {
  if (file.empty()) throw std::invalid_argument("TLS " + what + " file not given");
  std::FILE* f = std::fopen(file.c_str(), "rb");
  if (!f) fail(what, file, std::strerror(errno));
  std::fclose(f);
}

// RFC 7301 section 3.2: select http/1.1 when the client offers it; a client that offers
// ALPN without it cannot talk to us, and is told so with no_application_protocol rather
// than left to fail on the first request. A client that offers no ALPN never gets here.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned inlen,
                void*) {
  for (unsigned i = 0; i < inlen;) {
    unsigned len = in[i];
    if (i + 1 + len > inlen) break;  // malformed list
    if (std::string_view(reinterpret_cast<const char*>(in + i + 1), len) == kHttp11) {
      *out = in + i + 1;
      *outlen = static_cast<unsigned char>(len);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + len;
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

int select_certificate(SSL* ssl, int*, void* arg) {
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!name) return SSL_TLSEXT_ERR_NOACK;  // no SNI: the default certificate
  if (SSL_CTX* other = static_cast<const TlsContext*>(arg)->for_server_name(name)) SSL_set_SSL_CTX(ssl, other);
  return SSL_TLSEXT_ERR_OK;
}

// Settings every context shares, server or client.
void common_settings(SSL_CTX* ctx) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // Renegotiation (TLS 1.2) is refused: it is the one thing that makes SSL_write need to
  // read, and a classic CPU-exhaustion lever. A peer's EOF without close_notify is an
  // ordinary EOF: HTTP and WebSocket framing detect truncation themselves.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
  // Partial writes: one SSL_write is one record, so a blocked write holds at most one
  // record (see TlsStream). Moving buffer: its retry comes from the stream's own copy.
  // Release buffers: an idle connection gives its ~34 KiB of record buffers back.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  // Read whole socket reads into OpenSSL's buffer instead of a header, then a body.
  SSL_CTX_set_read_ahead(ctx, 1);
}

SSL_CTX* server_ctx(const TlsCertificate& c) {
  require_readable("certificate", c.cert_file);
  require_readable("key", c.key_file);
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) throw std::runtime_error("SSL_CTX_new: " + openssl_reason());
  common_settings(ctx);
  // No server-side session cache (shared between loops, it would be locked on every
  // handshake); resumption works through stateless tickets, one per handshake.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx, 1);
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);
  if (SSL_CTX_use_certificate_chain_file(ctx, c.cert_file.c_str()) != 1) {
    SSL_CTX_free(ctx);
    fail("certificate", c.cert_file, openssl_reason());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, c.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    // OpenSSL compares the key with the certificate already here.
    const unsigned long e = ERR_peek_last_error();
    const bool mismatch = ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH;
    SSL_CTX_free(ctx);
    fail("key", c.key_file,
         mismatch ? (ERR_clear_error(), "does not match the certificate " + c.cert_file) : openssl_reason());
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    SSL_CTX_free(ctx);
    fail("key", c.key_file, "does not match the certificate " + c.cert_file);
  }
  return ctx;
}

bool matches(SSL_CTX* ctx, const char* host_name) {
  X509* cert = SSL_CTX_get0_certificate(ctx);
  // SAN DNS names only (RFC 6125), a wildcard only as the whole leftmost label.
  return cert && X509_check_host(cert, host_name, 0,
                                 X509_CHECK_FLAG_NEVER_CHECK_SUBJECT | X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
                                 nullptr) == 1;
}

}  // namespace

std::unique_ptr<TlsContext> TlsContext::server(const TlsCertificate& main, const std::vector<TlsCertificate>& extra) {
  std::unique_ptr<TlsContext> t(new TlsContext(server_ctx(main), true));
  for (const TlsCertificate& c : extra) t->extra_.push_back(server_ctx(c));
  if (!t->extra_.empty()) {
    // What SSL_CTX_set_tlsext_servername_callback/_arg expand to, without their C casts.
    SSL_CTX_callback_ctrl(t->ctx_, SSL_CTRL_SET_TLSEXT_SERVERNAME_CB, reinterpret_cast<void (*)()>(select_certificate));
    SSL_CTX_ctrl(t->ctx_, SSL_CTRL_SET_TLSEXT_SERVERNAME_ARG, 0, t.get());
  }
  return t;
}

std::unique_ptr<TlsContext> TlsContext::client(const std::string& ca_file) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) throw std::runtime_error("SSL_CTX_new: " + openssl_reason());
  std::unique_ptr<TlsContext> t(new TlsContext(ctx, false));
  common_settings(ctx);
  static constexpr unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_CTX_set_alpn_protos(ctx, kAlpn, sizeof kAlpn);
  if (!ca_file.empty()) {
    require_readable("CA", ca_file);
    if (SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr) != 1) fail("CA", ca_file, openssl_reason());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  }
  return t;
}

TlsContext::~TlsContext() {
  for (SSL_CTX* c : extra_) SSL_CTX_free(c);
  SSL_CTX_free(ctx_);
}

SSL_CTX* TlsContext::for_server_name(const char* host_name) const noexcept {
  if (matches(ctx_, host_name)) return nullptr;
  for (SSL_CTX* c : extra_) {
    if (matches(c, host_name)) return c;
  }
  return nullptr;
}

}  // namespace wirehub::net
