// TLS through the public API: a Server with a plain and a TLS listener serving the same
// routes, https and wss on the TLS one, the TLS handshake bounded by the header timeout,
// a plaintext client on the TLS port closed cleanly, and bad certificates refused at
// start(). The peer is a blocking OpenSSL client written for the tests.

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include "test_support.hpp"
#include "tls_test_support.hpp"
#include "wirehub/server.hpp"

namespace wirehub {
namespace {

using namespace std::chrono_literals;
using test::BlockingTlsClient;
using test::connect_loopback;

struct TlsServerFixture : ::testing::Test {
  void SetUp() override {
    fds_before = test::open_fd_count();
    cert = test::make_self_signed(dir, "server", "DNS:localhost,IP:127.0.0.1");
  }
  void TearDown() override {
    server.reset();
    EXPECT_EQ(test::open_fd_count(), fds_before) << "fds leaked";
  }
  Server& start(std::uint32_t header_timeout_ms = 10'000) {
    ServerOptions o;
    o.listen = "127.0.0.1:0";
    o.threads = 2;
    o.header_timeout_ms = header_timeout_ms;
    o.extra_listeners.push_back({"127.0.0.1:0", true});
    o.tls.cert_file = cert.cert;
    o.tls.key_file = cert.key;
    server = std::make_unique<Server>(o);
    server->route("GET", "/healthz", [](const HttpRequest&, HttpResponse& res) { res.body = "ok\n"; });
    server->websocket("/ws/echo", {.on_message = [](WebSocket& ws, std::string_view m, bool binary) {
                                     ws.send(m, binary);
                                   }});
    server->sse("/sse", {.on_open = [](SseStream& st, const HttpRequest&) { st.send({.data = "over tls"}); }});
    server->route_async("GET", "/later", [](const HttpRequest&, HttpResponder r) {
      std::thread([r = std::move(r)]() mutable { r.respond({.status = 200, .body = "later\n"}); }).detach();
    });
    server->start();
    return *server;
  }

  test::TempDir dir;
  test::CertFiles cert;
  std::unique_ptr<Server> server;
  int fds_before = 0;
};

// Reads from c until `until` has arrived (or the stream ends); everything read.
std::string read_through(BlockingTlsClient& c, std::string_view until) {
  std::string got;
  while (got.find(until) == std::string::npos) {
    std::string part = c.read_exactly(1);
    if (part.empty()) break;
    got += part;
  }
  return got;
}

TEST_F(TlsServerFixture, EventStreamsAndDeferredResponsesWorkOverTls) {
  Server& s = start();
  int fd = connect_loopback(s.tls_port());
  {
    BlockingTlsClient c(fd);
    ASSERT_TRUE(c.handshake());
    ASSERT_TRUE(c.write_all("GET /later HTTP/1.1\r\nHost: x\r\n\r\nGET /sse HTTP/1.1\r\nHost: x\r\n\r\n"));
    std::string got = read_through(c, "data: over tls\n\n");
    EXPECT_EQ(got.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << got;
    EXPECT_LT(got.find("later\n"), got.find("text/event-stream")) << got;  // in request order
    EXPECT_NE(got.find("retry: 3000\n\ndata: over tls\n\n"), std::string::npos) << got;
  }
  ::close(fd);
}

// A masked client frame (RFC 6455 section 5.2), payload < 126 bytes.
std::string client_frame(std::uint8_t opcode, std::string_view payload) {
  std::string f;
  f += static_cast<char>(0x80 | opcode);
  f += static_cast<char>(0x80 | payload.size());
  const char mask[4] = {0x11, 0x22, 0x33, 0x44};
  f.append(mask, 4);
  for (std::size_t i = 0; i < payload.size(); ++i) f += static_cast<char>(payload[i] ^ mask[i % 4]);
  return f;
}

TEST_F(TlsServerFixture, HttpsAndPlainServeTheSameRoutesOnTheirOwnPorts) {
  Server& s = start();
  ASSERT_NE(s.port(), 0);
  ASSERT_NE(s.tls_port(), 0);
  EXPECT_NE(s.port(), s.tls_port());
  EXPECT_EQ(s.ports(), (std::vector<std::uint16_t>{s.port(), s.tls_port()}));

  int plain = connect_loopback(s.port());
  const std::string req = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(::send(plain, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  EXPECT_EQ(test::read_until_eof(plain).substr(0, 15), "HTTP/1.1 200 OK");
  ::close(plain);

  int fd = connect_loopback(s.tls_port());
  {
    BlockingTlsClient c(fd);
    ASSERT_TRUE(c.handshake());
    EXPECT_EQ(c.alpn(), "http/1.1");
    ASSERT_TRUE(c.write_all(req));
    std::string resp;
    for (std::string part; !(part = c.read_exactly(1)).empty();) resp += part;
    EXPECT_EQ(resp.substr(0, 15), "HTTP/1.1 200 OK");
    EXPECT_NE(resp.find("\r\n\r\nok\n"), std::string::npos);
    // Connection: close ends with close_notify, not a bare FIN.
    EXPECT_EQ(SSL_get_error(c.ssl(), 0), SSL_ERROR_ZERO_RETURN);
  }
  ::close(fd);
}

TEST_F(TlsServerFixture, WssEchoesWithTheFirstFrameInTheUpgradeRecord) {
  Server& s = start();
  int fd = connect_loopback(s.tls_port());
  {
    BlockingTlsClient c(fd);
    ASSERT_TRUE(c.handshake());
    const std::string upgrade =
        "GET /ws/echo HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    // The head and the first frame in one record: the upgrade hands the frame over.
    ASSERT_TRUE(c.write_all(upgrade + client_frame(0x1, "first")));
    ASSERT_TRUE(c.write_all(client_frame(0x2, "second")));
    std::string head;
    while (head.find("\r\n\r\n") == std::string::npos) {
      std::string b = c.read_exactly(1);
      ASSERT_FALSE(b.empty()) << head;
      head += b;
    }
    EXPECT_EQ(head.substr(0, 12), "HTTP/1.1 101");
    EXPECT_NE(head.find("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), std::string::npos);
    EXPECT_EQ(c.read_exactly(7), std::string("\x81\x05") + "first");
    EXPECT_EQ(c.read_exactly(8), std::string("\x82\x06") + "second");
  }
  ::close(fd);
}

TEST_F(TlsServerFixture, AHandshakeThatNeverCompletesIsClosedAtTheHeaderTimeout) {
  Server& s = start(300);
  int silent = connect_loopback(s.tls_port());
  int partial = connect_loopback(s.tls_port());
  const char hello[] = "\x16\x03\x01\x02\x00\x01";  // a ClientHello that never finishes
  ASSERT_EQ(::send(partial, hello, sizeof hello - 1, 0), static_cast<ssize_t>(sizeof hello - 1));
  const auto t0 = std::chrono::steady_clock::now();
  test::read_until_eof(silent);
  test::read_until_eof(partial);
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, 3s) << "not closed by the header timeout";
  ::close(silent);
  ::close(partial);
}

TEST_F(TlsServerFixture, PlaintextOnTheTlsPortIsClosedAndTlsOnThePlainPortGets400) {
  Server& s = start();
  int fd = connect_loopback(s.tls_port());
  const std::string req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  const std::string answer = test::read_until_eof(fd);  // EOF (perhaps after an alert), no hang
  EXPECT_EQ(answer.find("HTTP/1.1"), std::string::npos);
  ::close(fd);

  fd = connect_loopback(s.port());
  {
    BlockingTlsClient c(fd);
    EXPECT_FALSE(c.handshake());  // the server answered the ClientHello as HTTP
  }
  ::close(fd);

  // Both listeners still serve.
  fd = connect_loopback(s.tls_port());
  {
    BlockingTlsClient c(fd);
    ASSERT_TRUE(c.handshake());
    ASSERT_TRUE(c.write_all(req));
    EXPECT_EQ(c.read_exactly(15), "HTTP/1.1 200 OK");
  }
  ::close(fd);
}

TEST_F(TlsServerFixture, ClientsOfferingAlpnWithoutHttp11AreRefused) {
  Server& s = start();
  int fd = connect_loopback(s.tls_port());
  {
    BlockingTlsClient c(fd, std::string("\x02h2", 3));
    EXPECT_FALSE(c.handshake());
  }
  ::close(fd);
  fd = connect_loopback(s.tls_port());
  {
    BlockingTlsClient c(fd, std::string());  // no ALPN at all: fine
    EXPECT_TRUE(c.handshake());
    EXPECT_EQ(c.alpn(), "");
  }
  ::close(fd);
}

TEST_F(TlsServerFixture, StartRefusesMissingOrMismatchedCertificates) {
  auto other = test::make_self_signed(dir, "other", "DNS:other.test");
  auto attempt = [&](std::string cert_file, std::string key_file) {
    ServerOptions o;
    o.listen = "127.0.0.1:0";
    o.threads = 1;
    o.extra_listeners.push_back({"127.0.0.1:0", true});
    o.tls.cert_file = std::move(cert_file);
    o.tls.key_file = std::move(key_file);
    Server srv(o);
    try {
      srv.start();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("started");
  };
  EXPECT_NE(attempt(cert.cert, other.key).find("does not match"), std::string::npos);
  EXPECT_NE(attempt(dir.file("nope.crt"), cert.key).find("nope.crt"), std::string::npos);
  EXPECT_NE(attempt("", "").find("certificate"), std::string::npos);
  EXPECT_EQ(attempt(cert.cert, cert.key), "started");
}

}  // namespace
}  // namespace wirehub
