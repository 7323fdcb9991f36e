#pragma once
// TLS helpers for unit tests: a throwaway self-signed certificate written to a temporary
// directory, and a blocking OpenSSL client for the test thread (the peer of a server-side
// connection that runs on a real loop).

#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "test_support.hpp"  // connect_loopback

namespace wirehub::test {

// A directory under /tmp removed with everything in it when the object goes.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/wirehub-tls-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct CertFiles {
  std::string cert;
  std::string key;
};

// A self-signed P-256 certificate with the given subjectAltName ("DNS:a,IP:127.0.0.1"),
// written as <stem>.crt and <stem>.key in dir.
inline CertFiles make_self_signed(const TempDir& dir, const std::string& stem, const std::string& san) {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  static long serial = 1;
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(stem.c_str()), -1, -1,
                             0);
  X509_set_issuer_name(x, name);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, san.c_str());
  X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  X509_sign(x, key, EVP_sha256());
  CertFiles files{dir.file(stem + ".crt"), dir.file(stem + ".key")};
  std::FILE* f = std::fopen(files.cert.c_str(), "w");
  PEM_write_X509(f, x);
  std::fclose(f);
  f = std::fopen(files.key.c_str(), "w");
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  X509_free(x);
  EVP_PKEY_free(key);
  return files;
}

// A blocking TLS client on a connected socket (it owns neither the socket nor closes it
// unless told): handshake, then whole writes and reads.
class BlockingTlsClient {
 public:
  // alpn: wire-format ALPN list to offer ("" = none); server_name: SNI (null = none).
  explicit BlockingTlsClient(int fd, const std::string& alpn = std::string("\x08http/1.1", 9),
                             const char* server_name = nullptr)
      : fd_(fd) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
    if (!alpn.empty())
      SSL_CTX_set_alpn_protos(ctx_, reinterpret_cast<const unsigned char*>(alpn.data()),
                              static_cast<unsigned>(alpn.size()));
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd);
    if (server_name) SSL_ctrl(ssl_, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(server_name));
  }
  ~BlockingTlsClient() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
  }
  BlockingTlsClient(const BlockingTlsClient&) = delete;
  BlockingTlsClient& operator=(const BlockingTlsClient&) = delete;

  bool handshake() {
    ERR_clear_error();
    return SSL_connect(ssl_) == 1;
  }
  bool write_all(const std::string& data) {
    std::size_t off = 0;
    while (off < data.size()) {
      std::size_t w = 0;
      if (SSL_write_ex(ssl_, data.data() + off, data.size() - off, &w) != 1) return false;
      off += w;
    }
    return true;
  }
  // Reads until n bytes arrived, or the stream ended (fewer bytes then).
  std::string read_exactly(std::size_t n) {
    std::string out(n, '\0');
    std::size_t got = 0;
    while (got < n) {
      std::size_t r = 0;
      if (SSL_read_ex(ssl_, out.data() + got, n - got, &r) != 1) break;
      got += r;
    }
    out.resize(got);
    return out;
  }
  // SSL_get_error of a read attempted now (SSL_ERROR_ZERO_RETURN: close_notify arrived).
  int read_end() {
    char c;
    std::size_t r = 0;
    if (SSL_read_ex(ssl_, &c, 1, &r) == 1) return -1;  // data, not an end
    return SSL_get_error(ssl_, 0);
  }
  SSL* ssl() const { return ssl_; }
  std::string alpn() const {
    const unsigned char* p = nullptr;
    unsigned len = 0;
    SSL_get0_alpn_selected(ssl_, &p, &len);
    return p ? std::string(reinterpret_cast<const char*>(p), len) : std::string();
  }
  int fd() const { return fd_; }

 private:
  int fd_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

}  // namespace wirehub::test
