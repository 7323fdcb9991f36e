// wirehub-bench's modes against a small blocking WebSocket server in this process, built
// on the ws layer's sans-I/O pieces (a different implementation from the real server's
// sessions), so the client side is tested on its own: handshake, masking (the server
// role rejects unmasked frames), echo checks, broadcast accounting, pings, close.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "modes.hpp"
#include "options.hpp"
#include "ws/handshake.hpp"
#include "ws/protocol.hpp"

namespace wirehub::bench {
namespace {

class FakeServer {
 public:
  enum class Behavior {
    Echo,          // echo every message
    Broadcast,     // relay every message to every connection
    PingThenEcho,  // ping each connection right after the handshake, then echo
    WrongAccept,   // answer the upgrade with a bad Sec-WebSocket-Accept
    DropAfterOne,  // echo one message, then close TCP without a close handshake
  };

  explicit FakeServer(Behavior b) : behavior_(b) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(listen_fd_, 128), 0);
    socklen_t len = sizeof a;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~FakeServer() {
    ::shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    ::close(listen_fd_);
    for (auto& t : conns_) t.join();
  }

  std::string url(const char* path = "/ws") const { return "ws://127.0.0.1:" + std::to_string(port_) + path; }
  int pongs() const { return pongs_.load(); }

 private:
  struct Conn;

  void accept_loop() {
    for (;;) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      conns_.emplace_back([this, fd] { serve(fd); });
    }
  }

  static bool send_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t w = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (w <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(w));
    }
    return true;
  }

  void relay(ws::Opcode op, std::string_view payload) {
    std::string frame;
    ws::write_frame(frame, op, payload);
    std::lock_guard lock(mu_);
    for (int fd : open_) send_all(fd, frame);
  }

  class Handler final : public ws::Handler {
   public:
    Handler(FakeServer& s, int fd) : s_(s), fd_(fd) {}
    bool on_message(ws::Opcode op, std::string_view payload) override {
      if (s_.behavior_ == Behavior::Broadcast) {
        s_.relay(op, payload);
        return true;
      }
      ws::write_frame(out, op, payload);
      if (s_.behavior_ == Behavior::DropAfterOne) drop = true;
      return !drop;
    }
    bool on_ping(std::string_view payload) override {
      ws::write_frame(out, ws::Opcode::Pong, payload);
      return true;
    }
    bool on_pong(std::string_view) override {
      ++s_.pongs_;
      return true;
    }
    bool on_close(std::uint16_t code, std::string_view) override {
      ws::write_close(out, code == 1005 ? std::uint16_t{1000} : code);
      return false;
    }
    void on_error(ws::CloseCode code, std::string_view reason) override { ws::write_close(out, code, reason); }

    std::string out;
    bool drop = false;

   private:
    FakeServer& s_;
    int fd_;
  };

  void serve(int fd) {
    std::string head;
    char buf[65536];
    std::size_t end = std::string::npos;
    while (end == std::string::npos) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return (void)::close(fd);
      head.append(buf, static_cast<std::size_t>(n));
      end = head.find("\r\n\r\n");
    }
    const std::string name = "Sec-WebSocket-Key: ";
    const std::size_t k = head.find(name);
    ASSERT_NE(k, std::string::npos);
    const std::string key = head.substr(k + name.size(), head.find("\r\n", k) - k - name.size());
    std::string response;
    ws::write_upgrade_response(response, behavior_ == Behavior::WrongAccept ? "AAAAAAAAAAAAAAAAAAAAAAAAAAA=" : ws::accept_key(key));
    if (behavior_ == Behavior::PingThenEcho) ws::write_frame(response, ws::Opcode::Ping, "are you there");
    if (behavior_ == Behavior::Broadcast) {
      std::lock_guard lock(mu_);
      send_all(fd, response);
      open_.push_back(fd);
    } else {
      send_all(fd, response);
    }
    ws::Protocol protocol(ws::Role::Server);
    Handler h(*this, fd);
    std::string pending = head.substr(end + 4);
    for (;;) {
      if (!pending.empty()) protocol.receive(pending.data(), pending.size(), h);
      pending.clear();
      if (!h.out.empty()) {
        std::lock_guard lock(mu_);
        send_all(fd, h.out);
        h.out.clear();
      }
      if (h.drop || protocol.state() == ws::State::Closed) break;
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      pending.assign(buf, static_cast<std::size_t>(n));
    }
    {
      std::lock_guard lock(mu_);
      std::erase(open_, fd);
    }
    if (h.drop) {
      ::close(fd);
      return;
    }
    // RFC 6455 7.1.1: the server closes TCP first, after the close handshake.
    ::shutdown(fd, SHUT_WR);
    while (::recv(fd, buf, sizeof buf, 0) > 0) {
    }
    ::close(fd);
  }

  Behavior behavior_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread acceptor_;
  std::vector<std::thread> conns_;
  std::mutex mu_;
  std::vector<int> open_;  // broadcast receivers, guarded by mu_
  std::atomic<int> pongs_{0};
};

// Parses args like the command line would and runs the mode; the report is swallowed.
int run(std::vector<const char*> args) {
  args.insert(args.begin(), "wirehub-bench");
  args.push_back("--no-progress");
  Options o;
  auto early = parse_options(static_cast<int>(args.size()), args.data(), 20000, o);
  if (early) return *early;
  testing::internal::CaptureStdout();
  int rc = o.mode == Mode::Echo ? run_echo(o) : o.mode == Mode::Broadcast ? run_broadcast(o) : run_connect(o);
  testing::internal::GetCapturedStdout();
  return rc;
}

TEST(EndToEnd, EchoSmallTextMessages) {
  FakeServer s(FakeServer::Behavior::Echo);
  const std::string url = s.url();
  EXPECT_EQ(run({"echo", "--url", url.c_str(), "--connections", "4", "--inflight", "3", "--duration", "0.3",
                 "--warmup", "0.1"}),
            kExitOk);
}

TEST(EndToEnd, EchoLargeBinaryMessagesOnTwoThreads) {
  FakeServer s(FakeServer::Behavior::Echo);
  const std::string url = s.url();
  EXPECT_EQ(run({"echo", "--url", url.c_str(), "--connections", "3", "--size", "200000", "--binary", "--threads", "2",
                 "--duration", "0.3", "--warmup", "0"}),
            kExitOk);
}

TEST(EndToEnd, EchoMessagesShorterThanTheSequenceHeader) {
  FakeServer s(FakeServer::Behavior::Echo);
  const std::string url = s.url();
  EXPECT_EQ(run({"echo", "--url", url.c_str(), "--connections", "2", "--size", "3", "--inflight", "2", "--duration",
                 "0.2", "--warmup", "0"}),
            kExitOk);
}

TEST(EndToEnd, BroadcastCountsEveryDelivery) {
  FakeServer s(FakeServer::Behavior::Broadcast);
  const std::string url = s.url();
  EXPECT_EQ(run({"broadcast", "--url", url.c_str(), "--subscribers", "5", "--window", "4", "--threads", "2",
                 "--duration", "0.3", "--warmup", "0"}),
            kExitOk);
}

TEST(EndToEnd, ConnectAnswersPingsAndClosesCleanly) {
  FakeServer s(FakeServer::Behavior::PingThenEcho);
  const std::string url = s.url();
  EXPECT_EQ(run({"connect", "--url", url.c_str(), "--connections", "6", "--hold", "0.2", "--rate", "100"}), kExitOk);
  EXPECT_EQ(s.pongs(), 6);
}

TEST(EndToEnd, BadAcceptIsAnError) {
  FakeServer s(FakeServer::Behavior::WrongAccept);
  const std::string url = s.url();
  EXPECT_EQ(run({"connect", "--url", url.c_str(), "--connections", "2", "--hold", "0"}), kExitErrors);
}

TEST(EndToEnd, ADroppedConnectionIsAnError) {
  FakeServer s(FakeServer::Behavior::DropAfterOne);
  const std::string url = s.url();
  EXPECT_EQ(run({"echo", "--url", url.c_str(), "--connections", "2", "--duration", "0.2", "--warmup", "0"}),
            kExitErrors);
}

TEST(EndToEnd, NothingListeningIsAnError) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const std::string url = "ws://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/";
  EXPECT_EQ(run({"echo", "--url", url.c_str(), "--connections", "2", "--duration", "5"}), kExitErrors);
  ::close(fd);
}

}  // namespace
}  // namespace wirehub::bench
