// net::Connection with a TlsStream: a TestConnection on a real EventLoop thread speaking
// TLS over a socketpair, and the test thread playing the peer with a blocking OpenSSL
// client. Small socket buffers force short writes, so the paths where OpenSSL must repeat
// a record (WANT_WRITE) are taken, and each test says how it knows they were. Each test
// ends proving a clean shutdown: every connection closed, none left on the loop's list,
// /proc/self/fd back to what it held before.

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/shared_buffer.hpp"
#include "loop/event_loop.hpp"
#include "net/connection.hpp"
#include "net/tls_context.hpp"
#include "net/tls_stream.hpp"
#include "loop_fixture.hpp"
#include "test_support.hpp"
#include "tls_test_support.hpp"

namespace wirehub::net {
namespace {

using namespace std::chrono_literals;
using loop::EventLoop;
using test::BlockingTlsClient;
using test::open_fd_count;
using test::wait_until;

using test_fixture::pattern;
using test_fixture::Probe;
using test_fixture::TestConnection;

// What a protocol upgrade does: a new connection object takes the socket (and its TLS
// session) over from the one reading.
class Successor final : public Connection {
 public:
  Successor(Connection& from, Probe& probe) : Connection(from), probe_(probe) {}

 private:
  void on_read(char* data, std::size_t n) override {
    std::lock_guard lock(probe_.mu);
    probe_.received.append(data, n);
    probe_.bytes_read.fetch_add(n);
  }
  void on_closed() override { probe_.closed.fetch_add(1); }
  Probe& probe_;
};

class TlsConnectionTest : public test_fixture::LoopFixture {
 protected:
  void SetUp() override {
    cert_ = test::make_self_signed(dir_, "server", "DNS:localhost,IP:127.0.0.1");
    server_ctx_ = TlsContext::server({cert_.cert, cert_.key});
    LoopFixture::SetUp();
  }
  void release_peers() override { clients_.clear(); }

  // A socketpair with a TLS server connection on one end; the peer end is blocking, with
  // 5 s timeouts. buffer_bytes > 0 shrinks both ends' socket buffers (short writes).
  TestConnection* connect(Probe& probe, int buffer_bytes = 0) {
    const int fd = socket_pair(SOCK_STREAM, buffer_bytes);
    TestConnection* c = nullptr;
    run([&] {
      c = new TestConnection(*loop_, fd, probe);
      EXPECT_TRUE(c->start_tls(*server_ctx_));
    });
    return c;
  }
  // The blocking client on the peer end of connection i, handshake done.
  BlockingTlsClient& client(std::size_t i = 0) {
    while (clients_.size() <= i) clients_.push_back(nullptr);
    if (!clients_[i]) {
      clients_[i] = std::make_unique<BlockingTlsClient>(peer_fds_.at(i));
      EXPECT_TRUE(clients_[i]->handshake()) << "TLS handshake failed";
    }
    return *clients_[i];
  }

  test::TempDir dir_;
  test::CertFiles cert_;
  std::unique_ptr<TlsContext> server_ctx_;
  std::vector<std::unique_ptr<BlockingTlsClient>> clients_;
};

TEST_F(TlsConnectionTest, EchoesThroughTheLoopAndNegotiatesHttp11) {
  Probe& probe = this->probe();
  probe.on_read = [](Connection& c, std::string_view in) { c.send(in); };
  TestConnection* c = connect(probe);
  ASSERT_TRUE(client().write_all("hello over tls"));
  EXPECT_EQ(client().read_exactly(14), "hello over tls");
  EXPECT_EQ(client().alpn(), "http/1.1");
  std::string alpn;
  bool done = false;
  run([&] {
    alpn = std::string(c->tls()->alpn());
    done = c->tls()->handshake_done();
  });
  EXPECT_EQ(alpn, "http/1.1");
  EXPECT_TRUE(done);
}

// The queue path: thousands of small copied slices (coalesced into records) then one
// large shared buffer, with the peer not reading: the socket stops taking records, so a
// record must wait inside OpenSSL (pending_output > 0) and be repeated on EPOLLOUT.
TEST_F(TlsConnectionTest, EightMiBQueuedWhileThePeerIsNotReadingArriveIntactAndInOrder) {
  Probe& probe = this->probe();
  TestConnection* c = connect(probe, 16 * 1024);
  ASSERT_TRUE(client().write_all("x"));  // handshake done on both sides
  ASSERT_TRUE(wait_until([&] { return probe.bytes_read.load() == 1; }));
  const std::string small = pattern(4 * 1024 * 1024, 1);
  const std::string large = pattern(4 * 1024 * 1024, 2);
  run([&] {
    for (std::size_t off = 0; off < small.size(); off += 1000) c->send(std::string_view(small).substr(off, 1000));
    c->send(BufferRef::copy_of(large), 0, large.size());
  });
  bool blocked = false;
  ASSERT_TRUE(wait_until([&] {
    run([&] { blocked = probe.closed.load() == 0 && c->tls()->pending_output() > 0; });  // c lives until closed
    return blocked || probe.closed.load() != 0;
  }));
  ASSERT_EQ(probe.closed.load(), 0) << "the connection failed";
  ASSERT_TRUE(blocked) << "the socket never refused a record";
  const std::string got = client().read_exactly(small.size() + large.size());
  ASSERT_EQ(got.size(), small.size() + large.size());
  EXPECT_TRUE(got == small + large) << "bytes reordered or corrupted";
  std::size_t left = 1;
  ASSERT_TRUE(wait_until([&] {
    run([&] { left = probe.closed.load() == 0 ? c->queued_bytes() : 0; });
    return left == 0;
  }));
}

// The corked path: a large frame body sent while handling input leaves at once through
// TLS (send_direct), and what the socket does not take is queued and follows in order.
TEST_F(TlsConnectionTest, EightMiBCorkedFrameWrittenShortArrivesWhole) {
  Probe& probe = this->probe();
  const std::string body = pattern(8 * 1024 * 1024, 3);
  probe.on_read = [&body](Connection& c, std::string_view in) {
    if (in == "go") c.send(std::string_view("HEAD"), std::string_view(body));
  };
  connect(probe, 16 * 1024);
  ASSERT_TRUE(client().write_all("go"));
  const std::string got = client().read_exactly(4 + body.size());
  ASSERT_EQ(got.size(), 4 + body.size());
  EXPECT_EQ(got.substr(0, 4), "HEAD");
  EXPECT_TRUE(got.substr(4) == body) << "body corrupted";
}

TEST_F(TlsConnectionTest, EightMiBFromThePeerAreReadInOrder) {
  Probe& probe = this->probe();
  probe.keep = true;
  connect(probe, 16 * 1024);
  const std::string data = pattern(8 * 1024 * 1024, 4);
  ASSERT_TRUE(client().write_all(data));
  ASSERT_TRUE(wait_until([&] { return probe.bytes_read.load() == data.size(); }));
  std::lock_guard lock(probe.mu);
  EXPECT_TRUE(probe.received == data) << "bytes reordered or corrupted";
}

// Echo of 8 MiB in 64 KiB turns with 16 KiB socket buffers: while the client writes a
// turn it does not read, so the server's echo stops on a full socket and the server must
// go on reading (and queueing) while a record waits to be written.
TEST_F(TlsConnectionTest, EightMiBEchoedWhileBothDirectionsAreShort) {
  Probe& probe = this->probe();
  probe.on_read = [](Connection& c, std::string_view in) { c.send(in); };
  connect(probe, 16 * 1024);
  BlockingTlsClient& cl = client();
  const std::string data = pattern(8 * 1024 * 1024, 5);
  std::string echoed;
  for (std::size_t sent = 0; sent < data.size();) {
    const std::size_t n = std::min<std::size_t>(64 * 1024, data.size() - sent);
    ASSERT_TRUE(cl.write_all(data.substr(sent, n)));
    sent += n;
    echoed += cl.read_exactly(sent - echoed.size());
    ASSERT_EQ(echoed.size(), sent) << "echo stalled";
  }
  EXPECT_TRUE(echoed == data) << "echo reordered or corrupted";
}

TEST_F(TlsConnectionTest, CloseAfterFlushSendsEverythingThenCloseNotify) {
  Probe& probe = this->probe();
  const std::string tail = pattern(256 * 1024, 6);
  probe.on_read = [&tail](Connection& c, std::string_view) {
    c.send(tail);
    c.close_after_flush(2000);
  };
  connect(probe, 16 * 1024);
  ASSERT_TRUE(client().write_all("bye"));
  EXPECT_TRUE(client().read_exactly(tail.size()) == tail);
  EXPECT_EQ(client().read_end(), SSL_ERROR_ZERO_RETURN) << "no close_notify: the stream looks truncated";
  ::shutdown(client().fd(), SHUT_WR);  // our EOF ends the server's linger
  ASSERT_TRUE(wait_until([&] { return probe.closed.load() == 1; }));
  EXPECT_EQ(probe.peer_closed.load(), 0);
}

TEST_F(TlsConnectionTest, PeerCloseNotifyIsThePeerClosing) {
  Probe& probe = this->probe();
  connect(probe);
  ASSERT_TRUE(client().write_all("x"));
  ASSERT_TRUE(wait_until([&] { return probe.bytes_read.load() == 1; }));
  EXPECT_EQ(SSL_shutdown(client().ssl()), 0);  // ours sent, theirs not yet read
  ASSERT_TRUE(wait_until([&] { return probe.closed.load() == 1; }));
  EXPECT_EQ(probe.peer_closed.load(), 1);
}

TEST_F(TlsConnectionTest, PlaintextFromThePeerClosesTheConnectionWithoutDeliveringIt) {
  Probe& probe = this->probe();
  connect(probe);
  const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::send(peer_fds_[0], req, sizeof req - 1, 0), static_cast<ssize_t>(sizeof req - 1));
  ASSERT_TRUE(wait_until([&] { return probe.closed.load() == 1; }));
  EXPECT_EQ(probe.bytes_read.load(), 0u);
  char buf[256];
  ssize_t r;
  while ((r = ::recv(peer_fds_[0], buf, sizeof buf, 0)) > 0) {  // an alert, perhaps; then EOF
  }
  EXPECT_TRUE(r == 0 || errno == ECONNRESET) << "peer neither got EOF nor a reset";
}

// Anything else on the loop thread (a JWT check, another connection) may leave an error
// on OpenSSL's per-thread queue; SSL_get_error would then blame this connection's next
// WANT_READ on it. Every call starts from an empty queue.
// Encrypts data as one record and sends it in two halves 100 ms apart, so the server's
// read of the first half ends in WANT_READ.
void send_record_in_two_halves(BlockingTlsClient& c, const std::string& data) {
  BIO* socket_bio = SSL_get_wbio(c.ssl());
  BIO_up_ref(socket_bio);
  BIO* mem = BIO_new(BIO_s_mem());
  SSL_set0_wbio(c.ssl(), mem);
  ASSERT_TRUE(c.write_all(data));
  std::string record(BIO_ctrl_pending(mem), '\0');
  ASSERT_EQ(BIO_read(mem, record.data(), static_cast<int>(record.size())), static_cast<int>(record.size()));
  SSL_set0_wbio(c.ssl(), socket_bio);
  const std::size_t half = record.size() / 2;
  ASSERT_EQ(::send(c.fd(), record.data(), half, MSG_NOSIGNAL), static_cast<ssize_t>(half));
  std::this_thread::sleep_for(100ms);
  ASSERT_EQ(::send(c.fd(), record.data() + half, record.size() - half, MSG_NOSIGNAL), static_cast<ssize_t>(record.size() - half));
}

TEST_F(TlsConnectionTest, AnErrorLeftOnTheThreadsQueueDoesNotFailTheNextConnection) {
  Probe& first = this->probe();
  first.on_read = [](Connection&, std::string_view) {
    ERR_raise(ERR_LIB_SSL, SSL_R_BAD_LENGTH);  // left behind, and nothing written after it
  };
  connect(first);
  Probe& second = this->probe();
  second.on_read = [](Connection& c, std::string_view in) { c.send(in); };
  connect(second);
  ASSERT_TRUE(client(1).write_all("zero"));  // handshake done
  EXPECT_EQ(client(1).read_exactly(4), "zero");
  ASSERT_TRUE(client(0).write_all("one"));
  ASSERT_TRUE(wait_until([&] { return first.bytes_read.load() == 3; }));
  run([] { ERR_raise(ERR_LIB_SSL, SSL_R_BAD_LENGTH); });  // and more, from other code
  // The second connection's next read ends in WANT_READ with those on the queue.
  send_record_in_two_halves(client(1), "two");
  EXPECT_EQ(client(1).read_exactly(3), "two");
  EXPECT_EQ(first.closed.load() + second.closed.load(), 0);
}

// A client-role connection that sends before its handshake: SSL_write must first read
// the server's flight (WANT_READ), and the write is repeated once the socket is readable.
TEST_F(TlsConnectionTest, ClientRoleSendBeforeTheHandshakeWaitsForInputThenArrives) {
  auto client_ctx = TlsContext::client();
  Probe& server = this->probe();
  server.on_read = [](Connection& c, std::string_view in) { c.send(in); };
  Probe& cl = this->probe();
  cl.keep = true;
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
  bool waited_for_input = false;
  run([&] {
    auto* s = new TestConnection(*loop_, sv[0], server);
    s->start_tls(*server_ctx_);
    auto* c = new TestConnection(*loop_, sv[1], cl);
    c->start_tls(*client_ctx, "localhost");
    c->send("ping before handshake");
    loop_->post([c, &waited_for_input] { waited_for_input = c->tls()->write_wants_read(); });
  });
  ASSERT_TRUE(wait_until([&] { return cl.bytes_read.load() == 21; }));
  std::lock_guard lock(cl.mu);
  EXPECT_EQ(cl.received, "ping before handshake");
  EXPECT_TRUE(waited_for_input);
}

TEST_F(TlsConnectionTest, ManyConnectionsComeAndGoWithoutLeaks) {
  for (int round = 0; round < 50; ++round) {
    Probe& probe = this->probe();
    probe.on_read = [](Connection& c, std::string_view in) { c.send(in); };
    connect(probe);
    const std::size_t i = peer_fds_.size() - 1;
    if (round % 5 == 4) {
      // Gone mid-handshake: half a ClientHello, then EOF.
      const char hello[] = "\x16\x03\x01\x02\x00\x01";
      ASSERT_EQ(::send(peer_fds_[i], hello, sizeof hello - 1, 0), static_cast<ssize_t>(sizeof hello - 1));
    } else {
      ASSERT_TRUE(client(i).write_all("ping"));
      ASSERT_EQ(client(i).read_exactly(4), "ping");
    }
    ::shutdown(peer_fds_[i], SHUT_RDWR);
    ASSERT_TRUE(wait_until([&] { return probe.closed.load() == 1; })) << "round " << round;
  }
}

// A loop read buffer smaller than a record: the rest of a record stays decrypted inside
// OpenSSL, where epoll cannot see it.
class TlsSmallReadBufferTest : public TlsConnectionTest {
 protected:
  std::size_t read_buffer_bytes() const override { return 1000; }
};

TEST_F(TlsSmallReadBufferTest, RecordsLargerThanTheReadBufferArriveWhole) {
  Probe& probe = this->probe();
  probe.keep = true;
  connect(probe);
  const std::string data = pattern(64 * 1024, 7);
  ASSERT_TRUE(client().write_all(data));
  ASSERT_TRUE(wait_until([&] { return probe.bytes_read.load() == data.size(); }));
  std::lock_guard lock(probe.mu);
  EXPECT_TRUE(probe.received == data);
}

TEST_F(TlsSmallReadBufferTest, ASuccessorReadsWhatTheUpgradeLeftInsideOpenSsl) {
  Probe& first = this->probe();
  Probe& second = this->probe();
  first.on_read = [&second](Connection& c, std::string_view) {
    new Successor(c, second);
    c.loop().dispose(&c);
  };
  connect(first);
  // One record, read whole by OpenSSL (read-ahead) and handed over 1000 bytes at a time:
  // after the takeover the rest is inside OpenSSL and nothing more comes from the socket.
  const std::string data = pattern(TlsStream::kRecordBytes, 8);
  ASSERT_TRUE(client().write_all(data));
  ASSERT_TRUE(wait_until([&] { return first.bytes_read.load() + second.bytes_read.load() == data.size(); }))
      << "the successor got " << second.bytes_read.load() << " bytes";
  std::lock_guard lock(second.mu);
  EXPECT_TRUE(second.received == data.substr(first.bytes_read.load()));
}

TEST(TlsContextTest, BadFilesAreNamedInTheError) {
  test::TempDir dir;
  auto a = test::make_self_signed(dir, "a", "DNS:a.test");
  auto b = test::make_self_signed(dir, "b", "DNS:b.test");
  auto message = [](const TlsCertificate& c) {
    try {
      TlsContext::server(c);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({dir.file("missing.crt"), a.key}).find("missing.crt"), std::string::npos);
  EXPECT_NE(message({a.cert, dir.file("missing.key")}).find("missing.key"), std::string::npos);
  EXPECT_NE(message({a.cert, b.key}).find("does not match"), std::string::npos);
  EXPECT_NE(message({a.key, a.key}).find("a.key"), std::string::npos);  // a key is not a certificate
  EXPECT_EQ(message({a.cert, a.key}), "no error");
}

TEST(TlsContextTest, ServerNameSelectsTheCertificateWhoseSanMatches) {
  test::TempDir dir;
  auto main = test::make_self_signed(dir, "main", "DNS:localhost");
  auto wild = test::make_self_signed(dir, "wild", "DNS:*.example.test");
  auto exact = test::make_self_signed(dir, "exact", "DNS:api.other.test,DNS:other.test");
  auto ctx = TlsContext::server({main.cert, main.key}, {{wild.cert, wild.key}, {exact.cert, exact.key}});
  EXPECT_EQ(ctx->for_server_name("localhost"), nullptr);  // the default
  EXPECT_EQ(ctx->for_server_name("unknown.test"), nullptr);
  SSL_CTX* w = ctx->for_server_name("a.example.test");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(ctx->for_server_name("B.EXAMPLE.TEST"), w);       // DNS names are case-insensitive
  EXPECT_EQ(ctx->for_server_name("x.a.example.test"), nullptr);  // a wildcard is one label
  EXPECT_EQ(ctx->for_server_name("example.test"), nullptr);
  SSL_CTX* e = ctx->for_server_name("other.test");
  ASSERT_NE(e, nullptr);
  EXPECT_NE(e, w);
  EXPECT_EQ(ctx->for_server_name("api.other.test"), e);
}

}  // namespace
}  // namespace wirehub::net

namespace wirehub::net {
namespace {

// The TLS pointer lives in what was padding: a plain connection (and so a ws::Session,
// one 256-byte BlockPool block) is not larger for it. x86-64 layout, as documented in
// docs/ARCHITECTURE.md.
TEST(TlsConnectionSize, TheStreamPointerCostsAConnectionNoBytes) {
  if constexpr (sizeof(void*) == 8) {
    EXPECT_EQ(sizeof(Connection), 144u);
  }
}

}  // namespace
}  // namespace wirehub::net
