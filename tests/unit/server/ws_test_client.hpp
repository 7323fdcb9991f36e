#pragma once
// Shared by the Server tests: a small blocking WebSocket client written here (not the
// project's codec, so a codec bug cannot cancel itself out), and the helpers every test
// file needs: the fd count a test must end with, waits with a deadline, server options
// for 127.0.0.1 port 0, an echo endpoint, numbered messages, and clients spread over
// every loop of a server.

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "wirehub/server.hpp"
#include "test_support.hpp"

namespace wirehub::test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;


// ---------------------------------------------------------------------------------------
// A minimal RFC 6455 client: blocking socket, masked frames, strict parsing of what the
// server sends (unmasked frames, minimal lengths are not checked).

inline constexpr std::uint8_t kCont = 0x0, kText = 0x1, kBinary = 0x2, kClose = 0x8, kPing = 0x9, kPong = 0xA;

class WsClient {
 public:
  struct Frame {
    std::uint8_t opcode = 0;
    bool fin = true;
    bool rsv1 = false;  // compressed (permessage-deflate); only with accept_rsv1
    std::string payload;
    std::uint16_t close_code() const {
      if (payload.size() < 2) return 1005;
      return static_cast<std::uint16_t>(static_cast<unsigned char>(payload[0]) << 8 |
                                        static_cast<unsigned char>(payload[1]));
    }
  };

  // Connects to 127.0.0.1:port and completes the opening handshake for path. rcvbuf > 0
  // shrinks the socket's receive buffer first: a small TCP window, as a slow consumer has.
  // extra_headers ("Name: value\r\n" lines) go into the request; response_head() keeps
  // the server's answer, 101 or not.
  explicit WsClient(std::uint16_t port, std::string_view path = "/ws/echo", int rcvbuf = 0,
                    std::string_view extra_headers = {})
      : mask_state_(0x9E3779B9u ^ (static_cast<std::uint32_t>(port) << 7)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return;
    if (rcvbuf > 0) setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{10, 0};  // a blocked send fails instead of hanging the test
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return;
    std::string req = "GET " + std::string(path) +
                      " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
                      std::string(extra_headers) + "\r\n";
    if (!send_raw(req)) return;
    auto deadline = Clock::now() + 5s;
    std::size_t end;
    while ((end = in_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(deadline)) return;
    }
    std::string head = in_.substr(0, end + 4);
    in_.erase(0, end + 4);
    response_head_ = head;
    std::string lower = head;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    // RFC 6455 1.3: the accept value for this sample key.
    open_ = head.rfind("HTTP/1.1 101", 0) == 0 &&
            lower.find("\r\nsec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo=\r\n") != std::string::npos;
  }
  ~WsClient() { close_socket(); }
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  bool open() const { return open_; }
  // permessage-deflate was agreed: frames with RSV1 are valid from now on. (To send one,
  // pass opcode | 0x40.)
  bool accept_rsv1 = false;
  const std::string& response_head() const { return response_head_; }
  int fd() const { return fd_; }
  void close_socket() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // The server closed TCP (EOF or reset), as seen by the last read.
  bool ended() const { return ended_; }

  bool send_raw(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t w = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (w <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(w));
    }
    return true;
  }
  // Appends one masked frame to out (to send several in one write).
  void encode(std::string& out, std::uint8_t opcode, std::string_view payload, bool fin = true) {
    out.push_back(static_cast<char>((fin ? 0x80 : 0) | opcode));
    const std::uint64_t n = payload.size();
    if (n < 126) {
      out.push_back(static_cast<char>(0x80 | n));
    } else if (n <= 0xFFFF) {
      out.push_back(static_cast<char>(0x80 | 126));
      out.push_back(static_cast<char>(n >> 8));
      out.push_back(static_cast<char>(n & 0xFF));
    } else {
      out.push_back(static_cast<char>(0x80 | 127));
      for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
    }
    // A fresh key per frame (xorshift32), never a constant one.
    mask_state_ ^= mask_state_ << 13;
    mask_state_ ^= mask_state_ >> 17;
    mask_state_ ^= mask_state_ << 5;
    char key[4];
    std::memcpy(key, &mask_state_, 4);
    out.append(key, 4);
    const std::size_t at = out.size();
    out.append(payload);
    for (std::size_t i = 0; i < payload.size(); ++i) out[at + i] = static_cast<char>(out[at + i] ^ key[i % 4]);
  }
  bool send_frame(std::uint8_t opcode, std::string_view payload, bool fin = true) {
    std::string f;
    encode(f, opcode, payload, fin);
    return send_raw(f);
  }
  bool send_text(std::string_view p) { return send_frame(kText, p); }
  bool send_close(std::uint16_t code) {
    char p[2] = {static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
    return send_frame(kClose, std::string_view(p, 2));
  }

  // The next frame, or nullopt on timeout, on the end of the connection (ended()), or on
  // bytes that are not a valid server frame (bad()).
  std::optional<Frame> read_frame(std::chrono::milliseconds timeout = 5s) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
      if (in_.size() >= 2) {
        const auto b0 = static_cast<unsigned char>(in_[0]);
        const auto b1 = static_cast<unsigned char>(in_[1]);
        if ((b1 & 0x80) || (b0 & (accept_rsv1 ? 0x30 : 0x70))) {  // servers never mask; RSV only as agreed
          bad_ = true;
          return std::nullopt;
        }
        std::size_t hl = 2;
        std::uint64_t len = b1 & 0x7F;
        if (len == 126) hl = 4;
        if (len == 127) hl = 10;
        if (in_.size() >= hl) {
          if (hl == 4) len = static_cast<std::uint64_t>(static_cast<unsigned char>(in_[2])) << 8 |
                             static_cast<unsigned char>(in_[3]);
          if (hl == 10) {
            len = 0;
            for (int i = 0; i < 8; ++i) len = len << 8 | static_cast<unsigned char>(in_[2 + static_cast<std::size_t>(i)]);
          }
          if (in_.size() >= hl + len) {
            Frame f;
            f.opcode = b0 & 0x0F;
            f.fin = (b0 & 0x80) != 0;
            f.rsv1 = (b0 & 0x40) != 0;
            f.payload = in_.substr(hl, static_cast<std::size_t>(len));
            in_.erase(0, hl + static_cast<std::size_t>(len));
            return f;
          }
        }
      }
      if (!fill(deadline)) return std::nullopt;
    }
  }
  bool bad() const { return bad_; }
  // Bytes received but not yet parsed (a frame cut short by the end of the stream).
  std::size_t pending_bytes() const { return in_.size(); }

  // Reads and discards until the server ends the connection; false on timeout.
  bool wait_for_eof(std::chrono::milliseconds timeout = 5s) {
    auto deadline = Clock::now() + timeout;
    while (!ended_) {
      in_.clear();
      if (!fill(deadline) && !ended_) return false;
    }
    return true;
  }
  // The closing handshake from our side: Close(code), then read (discarding) until the
  // server's Close and the end of the connection, then close the socket as a client does
  // at the end of the stream. Leaves the server nothing to write to.
  bool close_gracefully(std::uint16_t code = 1000, std::chrono::milliseconds timeout = 5s) {
    if (!send_close(code)) return false;
    bool got_close = false;
    auto deadline = Clock::now() + timeout;
    while (!got_close) {
      auto f = read_frame(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
      if (!f) return false;
      got_close = f->opcode == kClose;
    }
    bool eof = wait_for_eof(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()) + 1ms);
    close_socket();
    return eof;
  }

 private:
  // Receives more bytes into in_; false on timeout or on the end of the connection.
  bool fill(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r <= 0) return false;
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
  std::uint32_t mask_state_;
  bool open_ = false;
  std::string response_head_;
  bool ended_ = false;
  bool bad_ = false;
};

// ---------------------------------------------------------------------------------------

// Opens clients until every loop of the server owns at least `per_loop` of them (the
// kernel spreads connections over the loops' SO_REUSEPORT listeners by a hash).
struct LoopSpread {
  std::mutex mu;
  std::map<ConnectionId, std::thread::id> loop_of;  // filled by on_open
  std::vector<std::thread::id> in_open_order;       // the loop of each connection, as opened
  std::map<std::thread::id, int> per_loop() {
    std::lock_guard lock(mu);
    std::map<std::thread::id, int> m;
    for (auto& [id, t] : loop_of) ++m[t];
    return m;
  }
  std::size_t opened() {
    std::lock_guard lock(mu);
    return loop_of.size();
  }
  void record(WebSocket& ws) {
    std::lock_guard lock(mu);
    loop_of[ws.id()] = std::this_thread::get_id();
    in_open_order.push_back(std::this_thread::get_id());
  }
  // The loop of the i-th client of open_on_every_loop (which opens one at a time and waits
  // for each on_open before the next).
  std::thread::id loop_of_client(std::size_t i) {
    std::lock_guard lock(mu);
    return in_open_order.at(i);
  }
};

// extra_headers: see WsClient.
inline std::vector<std::unique_ptr<WsClient>> open_on_every_loop(Server& server, LoopSpread& spread, int per_loop,
                                                                 std::string_view path = "/ws/echo",
                                                                 std::string_view extra_headers = {}) {
  std::vector<std::unique_ptr<WsClient>> clients;
  for (int i = 0; i < 64; ++i) {
    clients.push_back(std::make_unique<WsClient>(server.port(), path, 0, extra_headers));
    if (!clients.back()->open()) break;
    if (!wait_until([&] { return spread.opened() == clients.size(); })) break;
    auto m = spread.per_loop();
    if (m.size() == server.thread_count() &&
        std::all_of(m.begin(), m.end(), [&](auto& kv) { return kv.second >= per_loop; }))
      break;
  }
  return clients;
}

// One or more loops on 127.0.0.1 port 0, with a 2 s shutdown deadline.
inline ServerOptions test_options(unsigned threads) {
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.threads = threads;
  o.shutdown_timeout_ms = 2000;
  return o;
}

// Owns the Server a test builds (server_), shuts it down at the end, and proves every
// file descriptor the test opened was closed.
class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override { fds_before_ = open_fd_count(); }
  void TearDown() override {
    if (server_) server_->shutdown();
    server_.reset();
    EXPECT_EQ(open_fd_count(), fds_before_);
  }
  std::unique_ptr<Server> server_;
  int fds_before_ = 0;
};

// An endpoint that sends every message back as it came (text or binary).
inline WebSocketHandlers echo_handlers() {
  WebSocketHandlers h;
  h.on_message = [](WebSocket& ws, std::string_view m, bool binary) { ws.send(m, binary); };
  return h;
}

// "seq:<n>:" padded to size bytes (16 KiB by default), and its number back.
inline std::string numbered(int seq, std::size_t size = 16 * 1024) {
  std::string s = "seq:" + std::to_string(seq) + ":";
  s.resize(size, static_cast<char>('a' + seq % 26));
  return s;
}
inline int seq_of(const std::string& payload) {
  if (payload.rfind("seq:", 0) != 0) return -1;
  return std::atoi(payload.c_str() + 4);
}

}  // namespace wirehub::test
