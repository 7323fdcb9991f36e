// Regression tests: once a Close frame has been sent, no data frame may follow it
// (RFC 6455 5.5.1: "After sending a Close frame, the endpoint MUST NOT send any more data
// frames"), whoever starts the closing handshake and however much data is queued. The
// server used to queue every Close with send_control(), ahead of the data frames that had
// not started to be written, which then went out after it.
//
// The small client below is a copy of the one in server_test.cpp, kept to what these
// tests need.

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <future>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "wirehub/server.hpp"

namespace wirehub {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

int open_fd_count() {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0;
  while (readdir(d)) ++n;
  closedir(d);
  return n;
}

template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds limit = 5s) {
  auto deadline = Clock::now() + limit;
  while (!pred()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

constexpr std::uint8_t kText = 0x1, kClose = 0x8;

class Client {
 public:
  struct Frame {
    std::uint8_t opcode = 0;
    std::string payload;
    std::uint16_t close_code() const {
      if (payload.size() < 2) return 1005;
      return static_cast<std::uint16_t>(static_cast<unsigned char>(payload[0]) << 8 |
                                        static_cast<unsigned char>(payload[1]));
    }
  };

  Client(std::uint16_t port, std::string_view path, int rcvbuf) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return;
    std::string req = "GET " + std::string(path) +
                      " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    if (::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) return;
    auto deadline = Clock::now() + 5s;
    std::size_t end;
    while ((end = in_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(deadline)) return;
    }
    open_ = in_.rfind("HTTP/1.1 101", 0) == 0;
    in_.erase(0, end + 4);
  }
  ~Client() { close_socket(); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool open() const { return open_; }
  bool ended() const { return ended_; }
  void close_socket() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool send_close(std::uint16_t code) {
    const char key[4] = {0x12, 0x34, 0x56, 0x78};
    char f[8] = {static_cast<char>(0x80 | kClose), static_cast<char>(0x80 | 2), key[0], key[1], key[2], key[3],
                 static_cast<char>((code >> 8) ^ key[0]), static_cast<char>((code & 0xFF) ^ key[1])};
    return ::send(fd_, f, sizeof f, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof f);
  }

  std::optional<Frame> read_frame(std::chrono::milliseconds timeout = 5s) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
      if (in_.size() >= 2) {
        std::size_t hl = 2;
        std::uint64_t len = static_cast<unsigned char>(in_[1]) & 0x7F;
        if (len == 126) hl = 4;
        if (len == 127) hl = 10;
        if (in_.size() >= hl) {
          if (hl > 2) {
            len = 0;
            for (std::size_t i = 2; i < hl; ++i) len = len << 8 | static_cast<unsigned char>(in_[i]);
          }
          if (in_.size() >= hl + len) {
            Frame f;
            f.opcode = static_cast<unsigned char>(in_[0]) & 0x0F;
            f.payload = in_.substr(hl, static_cast<std::size_t>(len));
            in_.erase(0, hl + static_cast<std::size_t>(len));
            return f;
          }
        }
      }
      if (!fill(deadline)) return std::nullopt;
    }
  }

 private:
  bool fill(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[64 * 1024];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      in_.append(buf, static_cast<std::size_t>(n));
      return true;
    }
    if (n == 0 || errno != EINTR) ended_ = true;
    return false;
  }

  int fd_ = -1;
  std::string in_;
  bool open_ = false;
  bool ended_ = false;
};

std::string numbered(int seq) {
  std::string s = "seq:" + std::to_string(seq) + ":";
  s.resize(16 * 1024, 'x');
  return s;
}

struct Tally {
  int data_before_close = 0;
  int data_after_close = 0;
  int closes = 0;
  std::uint16_t close_code = 0;
};

// Reads everything to the end of the stream, counting data frames on each side of the
// server's Close; answers the Close, and closes the socket at the end of the stream.
Tally read_through_close(Client& c) {
  Tally t;
  while (auto f = c.read_frame(2s)) {
    if (f->opcode == kClose) {
      if (t.closes++ == 0) {
        t.close_code = f->close_code();
        c.send_close(t.close_code);
      }
    } else if (t.closes == 0) {
      ++t.data_before_close;
    } else {
      ++t.data_after_close;
    }
  }
  c.close_socket();
  return t;
}

TEST(ServerCloseOrder, SlowConsumerCloseSendsNoDataFrameAfterItsClose) {
  const int before = open_fd_count();
  {
    WebSocketOptions o;
    o.send_hard_limit = 64 * 1024;
    o.slow_consumer = SlowConsumerPolicy::Close;
    ServerOptions so;
    so.listen = "127.0.0.1:0";
    so.threads = 1;
    Server server(so);
    WebSocketEndpoint& ep = server.websocket("/ws/feed", {}, o);
    server.start();
    Client c(server.port(), "/ws/feed", 4096);
    ASSERT_TRUE(c.open());
    ASSERT_TRUE(wait_until([&] { return ep.connection_count() == 1; }));
    // Batches of 16 (usually one loop iteration each) until the policy fires, typically
    // with frames queued that have not started to be written.
    int seq = 0;
    ASSERT_TRUE(wait_until([&] {
      for (int i = 0; i < 16 && ep.stats().slow_closed == 0; ++i) ep.broadcast(numbered(seq++));
      return ep.stats().slow_closed == 1;
    }, 10s));
    Tally t = read_through_close(c);
    EXPECT_EQ(t.closes, 1);
    EXPECT_EQ(t.close_code, 1008);
    EXPECT_EQ(t.data_after_close, 0) << "data frames after the Close (" << t.data_before_close << " before it)";
    EXPECT_TRUE(c.ended());
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(ServerCloseOrder, ShutdownWithQueuedBroadcastsSendsNoDataFrameAfterClose1001) {
  const int before = open_fd_count();
  {
    WebSocketOptions o;
    o.send_soft_limit = 1 << 30;
    o.send_hard_limit = 1 << 30;
    ServerOptions so;
    so.listen = "127.0.0.1:0";
    so.threads = 1;
    Server server(so);
    WebSocketEndpoint& ep = server.websocket("/ws/feed", {}, o);
    server.start();
    Client c(server.port(), "/ws/feed", 4096);
    ASSERT_TRUE(c.open());
    ASSERT_TRUE(wait_until([&] { return ep.connection_count() == 1; }));
    // Far more than the socket buffers hold: most of it is still queued at shutdown.
    for (int i = 0; i < 512; ++i) ep.broadcast(numbered(i));
    ASSERT_TRUE(wait_until([&] { return ep.stats().messages_out == 512; }));
    auto shutdown = std::async(std::launch::async, [&] { server.shutdown(); });
    Tally t = read_through_close(c);
    EXPECT_EQ(t.closes, 1);
    EXPECT_EQ(t.close_code, 1001);
    EXPECT_EQ(t.data_after_close, 0) << "data frames after the Close (" << t.data_before_close << " before it)";
    EXPECT_EQ(shutdown.wait_for(10s), std::future_status::ready);
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(ServerCloseOrder, CloseReplyToTheClientSendsNoDataFrameAfterIt) {
  // The client starts the closing handshake while the server has a backlog for it: the
  // server's answering Close must not be followed by the rest of that backlog.
  const int before = open_fd_count();
  {
    WebSocketOptions o;
    o.send_soft_limit = 1 << 30;
    o.send_hard_limit = 1 << 30;
    ServerOptions so;
    so.listen = "127.0.0.1:0";
    so.threads = 1;
    Server server(so);
    WebSocketEndpoint& ep = server.websocket("/ws/feed", {}, o);
    server.start();
    Client c(server.port(), "/ws/feed", 4096);
    ASSERT_TRUE(c.open());
    ASSERT_TRUE(wait_until([&] { return ep.connection_count() == 1; }));
    for (int i = 0; i < 512; ++i) ep.broadcast(numbered(i));
    ASSERT_TRUE(wait_until([&] { return ep.stats().messages_out == 512; }));
    ASSERT_TRUE(c.send_close(1000));
    Tally t;
    while (auto f = c.read_frame(2s)) {
      if (f->opcode == kClose) {
        ++t.closes;
        t.close_code = f->close_code();
      } else if (t.closes == 0) {
        ++t.data_before_close;
      } else {
        ++t.data_after_close;
      }
    }
    c.close_socket();
    EXPECT_EQ(t.closes, 1);
    EXPECT_EQ(t.close_code, 1000);
    EXPECT_EQ(t.data_after_close, 0) << "data frames after the Close (" << t.data_before_close << " before it)";
    EXPECT_TRUE(wait_until([&] { return ep.connection_count() == 0; }));
  }
  EXPECT_EQ(open_fd_count(), before);
}

}  // namespace
}  // namespace wirehub
