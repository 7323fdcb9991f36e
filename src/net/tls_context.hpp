#pragma once
// TlsContext: the OpenSSL configuration one listener (or one client) shares between all
// its connections and all loops: protocol versions, certificates, ALPN, SNI selection.
//
// Built once at start-up; afterwards only read (OpenSSL's SSL_CTX is safe to share
// between threads once configured). A bad certificate or key is an exception here, never
// a failure later on a connection.

#include <memory>
#include <string>
#include <vector>

using SSL_CTX = struct ssl_ctx_st;

namespace wirehub::net {

struct TlsCertificate {
  std::string cert_file;  // PEM: the certificate, then its chain
  std::string key_file;   // PEM: its private key
};

class TlsContext {
 public:
  // Server side: TLS 1.2 and 1.3, ALPN "http/1.1" only (a client that offers ALPN but not
  // http/1.1 gets the no_application_protocol alert, RFC 7301 section 3.2), no
  // renegotiation. main is the default certificate; an SNI server name that matches a SAN
  // DNS name (wildcards included) of one of extra selects that one instead. Throws
  // std::invalid_argument naming the file when one is unreadable, not PEM, or a key does
  // not match its certificate.
  static std::unique_ptr<TlsContext> server(const TlsCertificate& main, const std::vector<TlsCertificate>& extra = {});
  // Client side (wirehub-bench, tests): TLS 1.2+, offers ALPN http/1.1. With ca_file the
  // peer's chain is verified against it; without, the peer is not verified (a load
  // generator measuring its own server). Throws std::invalid_argument on a bad ca_file.
  static std::unique_ptr<TlsContext> client(const std::string& ca_file = {});

  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  SSL_CTX* native() const noexcept { return ctx_; }
  bool is_server() const noexcept { return server_; }
  // SNI: the context whose certificate matches host_name, or nullptr for the default.
  SSL_CTX* for_server_name(const char* host_name) const noexcept;

 private:
  TlsContext(SSL_CTX* ctx, bool server) : ctx_(ctx), server_(server) {}
  SSL_CTX* ctx_;
  bool server_;
  std::vector<SSL_CTX*> extra_;  // same settings, one certificate each (SNI)
};

}  // namespace wirehub::net
