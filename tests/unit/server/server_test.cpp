// wirehub::Server through its public API only, in-process on 127.0.0.1 port 0, driven by
// a small blocking WebSocket client written here (not the project's codec, so a codec
// bug cannot cancel itself out).
//
// Covered: start/shutdown, echo of every frame size, shutdown with open WebSockets,
// broadcast and send_to from non-loop threads across loops, the slow-consumer policies,
// on_drain, and control frames bypassing back-pressure. Every wait has a deadline; every
// test ends with the server destroyed and /proc/self/fd as it was before.

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

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

// ---------------------------------------------------------------------------------------
// A minimal RFC 6455 client: blocking socket, masked frames, strict parsing of what the
// server sends (unmasked frames, minimal lengths are not checked).

constexpr std::uint8_t kCont = 0x0, kText = 0x1, kBinary = 0x2, kClose = 0x8, kPing = 0x9, kPong = 0xA;

class WsClient {
 public:
  struct Frame {
    std::uint8_t opcode = 0;
    bool fin = true;
    std::string payload;
    std::uint16_t close_code() const {
      if (payload.size() < 2) return 1005;
      return static_cast<std::uint16_t>(static_cast<unsigned char>(payload[0]) << 8 |
                                        static_cast<unsigned char>(payload[1]));
    }
  };

  // Connects to 127.0.0.1:port and completes the opening handshake for path. rcvbuf > 0
  // shrinks the socket's receive buffer first: a small TCP window, as a slow consumer has.
  explicit WsClient(std::uint16_t port, std::string_view path = "/ws/echo", int rcvbuf = 0)
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
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    if (!send_raw(req)) return;
    auto deadline = Clock::now() + 5s;
    std::size_t end;
    while ((end = in_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(deadline)) return;
    }
    std::string head = in_.substr(0, end + 4);
    in_.erase(0, end + 4);
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
        if ((b1 & 0x80) || (b0 & 0x70)) {  // servers never mask; no extensions negotiated
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
  bool ended_ = false;
  bool bad_ = false;
};

// ---------------------------------------------------------------------------------------

ServerOptions test_options(unsigned threads) {
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.threads = threads;
  o.shutdown_timeout_ms = 2000;
  return o;
}

WebSocketHandlers echo_handlers() {
  WebSocketHandlers h;
  h.on_message = [](WebSocket& ws, std::string_view m, bool binary) { ws.send(m, binary); };
  return h;
}

// "seq:<n>:" padded to 16 KiB, and its number back.
std::string numbered(int seq, std::size_t size = 16 * 1024) {
  std::string s = "seq:" + std::to_string(seq) + ":";
  s.resize(size, static_cast<char>('a' + seq % 26));
  return s;
}
int seq_of(const std::string& payload) {
  if (payload.rfind("seq:", 0) != 0) return -1;
  return std::atoi(payload.c_str() + 4);
}

bool refused_connection(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int r = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  int e = errno;
  ::close(fd);
  return r != 0 && e == ECONNREFUSED;
}

TEST(Server, StartAndShutdownWithNoConnectionsIsPromptAndLeavesNoFds) {
  const int before = open_fd_count();
  std::uint16_t port = 0;
  {
    Server server(test_options(2));
    server.websocket("/ws/echo", echo_handlers());
    server.start();
    port = server.port();
    EXPECT_NE(port, 0);
    EXPECT_EQ(server.thread_count(), 2u);
    const auto t0 = Clock::now();
    server.shutdown();
    EXPECT_LT(Clock::now() - t0, 500ms);
    server.shutdown();  // idempotent
    EXPECT_TRUE(refused_connection(port)) << "the listeners are closed after shutdown";
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(Server, DestroyingAServerThatNeverStartedLeavesNoFds) {
  const int before = open_fd_count();
  {
    Server server(test_options(3));
    server.websocket("/ws/echo", echo_handlers());
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(Server, EchoesEveryFrameSizeFragmentedMessagesAndPings) {
  const int before = open_fd_count();
  {
    Server server(test_options(1));
    WebSocketEndpoint& ep = server.websocket("/ws/echo", echo_handlers());
    server.start();
    {
      WsClient c(server.port());
      ASSERT_TRUE(c.open());
      int sent = 0;
      for (std::size_t size : {0u, 1u, 125u, 126u, 65535u, 65536u, 1u << 20}) {
        std::string text(size, 'x');
        for (std::size_t i = 0; i < size; ++i) text[i] = static_cast<char>('a' + i % 26);
        ASSERT_TRUE(c.send_text(text));
        ++sent;
        auto f = c.read_frame();
        ASSERT_TRUE(f) << "size " << size;
        EXPECT_EQ(f->opcode, kText);
        EXPECT_TRUE(f->fin);
        EXPECT_TRUE(f->payload == text) << "size " << size;
      }
      std::string bin;
      for (int i = 0; i < 256; ++i) bin.push_back(static_cast<char>(i));
      ASSERT_TRUE(c.send_frame(kBinary, bin));
      ++sent;
      auto f = c.read_frame();
      ASSERT_TRUE(f);
      EXPECT_EQ(f->opcode, kBinary);
      EXPECT_EQ(f->payload, bin);

      // A fragmented message with a ping in the middle: the pong comes first, then the
      // whole message as one frame.
      std::string burst;
      c.encode(burst, kText, "frag", false);
      c.encode(burst, kPing, "in-between");
      c.encode(burst, kCont, "men", false);
      c.encode(burst, kCont, "ted", true);
      ASSERT_TRUE(c.send_raw(burst));
      ++sent;
      f = c.read_frame();
      ASSERT_TRUE(f);
      EXPECT_EQ(f->opcode, kPong);
      EXPECT_EQ(f->payload, "in-between");
      f = c.read_frame();
      ASSERT_TRUE(f);
      EXPECT_EQ(f->opcode, kText);
      EXPECT_EQ(f->payload, "fragmented");

      // 16 messages in one write come back in order.
      burst.clear();
      for (int i = 0; i < 16; ++i) c.encode(burst, kText, "m" + std::to_string(i));
      ASSERT_TRUE(c.send_raw(burst));
      sent += 16;
      for (int i = 0; i < 16; ++i) {
        f = c.read_frame();
        ASSERT_TRUE(f);
        EXPECT_EQ(f->payload, "m" + std::to_string(i));
      }

      EndpointStats st = ep.stats();
      EXPECT_EQ(st.messages_in, static_cast<std::uint64_t>(sent));
      EXPECT_EQ(st.messages_out, static_cast<std::uint64_t>(sent));
      EXPECT_EQ(st.open, 1u);
      EXPECT_EQ(st.opened, 1u);

      ASSERT_TRUE(c.send_close(1000));
      f = c.read_frame();
      ASSERT_TRUE(f);
      EXPECT_EQ(f->opcode, kClose);
      EXPECT_EQ(f->close_code(), 1000);
      EXPECT_TRUE(c.wait_for_eof());
    }
    EXPECT_TRUE(wait_until([&] { return ep.connection_count() == 0; }));
    EXPECT_EQ(ep.stats().protocol_errors, 0u);
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(Server, ShutdownClosesOpenWebSocketsWith1001ThenEof) {
  const int before = open_fd_count();
  {
    std::mutex mu;
    std::vector<std::uint16_t> close_codes;
    WebSocketHandlers h = echo_handlers();
    h.on_close = [&](WebSocket&, std::uint16_t code, std::string_view) {
      std::lock_guard lock(mu);
      close_codes.push_back(code);
    };
    Server server(test_options(2));
    WebSocketEndpoint& ep = server.websocket("/ws/echo", h);
    server.start();
    std::vector<std::unique_ptr<WsClient>> clients;
    for (int i = 0; i < 4; ++i) {
      clients.push_back(std::make_unique<WsClient>(server.port()));
      ASSERT_TRUE(clients.back()->open());
      ASSERT_TRUE(clients.back()->send_text("hi"));  // fully open before the shutdown
      ASSERT_TRUE(clients.back()->read_frame());
    }
    ASSERT_EQ(ep.connection_count(), 4u);

    const auto t0 = Clock::now();
    auto shutdown = std::async(std::launch::async, [&] { server.shutdown(); });
    for (auto& c : clients) {
      auto f = c->read_frame();
      ASSERT_TRUE(f);
      EXPECT_EQ(f->opcode, kClose);
      EXPECT_EQ(f->close_code(), 1001);
      ASSERT_TRUE(c->send_close(1001));
      EXPECT_TRUE(c->wait_for_eof()) << "no EOF after the close handshake";
      EXPECT_FALSE(c->bad());
      c->close_socket();  // as a client does at the end of the stream
    }
    ASSERT_EQ(shutdown.wait_for(3s), std::future_status::ready);
    EXPECT_LT(Clock::now() - t0, 1500ms) << "shutdown waited although every client answered";
    clients.clear();
    std::lock_guard lock(mu);
    EXPECT_EQ(close_codes, std::vector<std::uint16_t>(4, 1001));
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(Server, ShutdownDropsAnUnresponsiveClientAtTheDeadline) {
  const int before = open_fd_count();
  {
    std::atomic<int> closes{0};
    WebSocketHandlers h = echo_handlers();
    h.on_close = [&](WebSocket&, std::uint16_t, std::string_view) { closes.fetch_add(1); };
    ServerOptions o = test_options(1);
    o.shutdown_timeout_ms = 300;
    Server server(o);
    server.websocket("/ws/echo", h);
    server.start();
    WsClient c(server.port());
    ASSERT_TRUE(c.open());
    ASSERT_TRUE(c.send_text("hi"));
    ASSERT_TRUE(c.read_frame());
    const auto t0 = Clock::now();
    auto shutdown = std::async(std::launch::async, [&] { server.shutdown(); });
    auto f = c.read_frame();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->close_code(), 1001);
    // We never answer: the server cuts the connection at its shutdown deadline.
    EXPECT_TRUE(c.wait_for_eof(3s));
    ASSERT_EQ(shutdown.wait_for(3s), std::future_status::ready);
    EXPECT_GE(Clock::now() - t0, 250ms);
    EXPECT_EQ(closes.load(), 1);
  }
  EXPECT_EQ(open_fd_count(), before);
}

// Opens clients until every loop of the server owns at least `per_loop` of them (the
// kernel spreads connections over the loops' SO_REUSEPORT listeners by a hash).
struct LoopSpread {
  std::mutex mu;
  std::map<ConnectionId, std::thread::id> loop_of;  // filled by on_open
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
  }
};

std::vector<std::unique_ptr<WsClient>> open_on_every_loop(Server& server, LoopSpread& spread, int per_loop,
                                                          std::string_view path = "/ws/echo") {
  std::vector<std::unique_ptr<WsClient>> clients;
  for (int i = 0; i < 64; ++i) {
    clients.push_back(std::make_unique<WsClient>(server.port(), path));
    if (!clients.back()->open()) break;
    if (!wait_until([&] { return spread.opened() == clients.size(); })) break;
    auto m = spread.per_loop();
    if (m.size() == server.thread_count() &&
        std::all_of(m.begin(), m.end(), [&](auto& kv) { return kv.second >= per_loop; }))
      break;
  }
  return clients;
}

TEST(Server, BroadcastFromANonLoopThreadReachesClientsOnEveryLoop) {
  const int before = open_fd_count();
  {
    LoopSpread spread;
    WebSocketHandlers h = echo_handlers();
    h.on_open = [&](WebSocket& ws) { spread.record(ws); };
    Server server(test_options(2));
    WebSocketEndpoint& ep = server.websocket("/ws/echo", h);
    server.start();
    auto clients = open_on_every_loop(server, spread, 2);
    auto per_loop = spread.per_loop();
    ASSERT_EQ(per_loop.size(), 2u) << "could not get clients onto both loops";
    for (auto& [t, n] : per_loop) ASSERT_GE(n, 2);

    std::thread broadcaster([&] {
      ep.broadcast("to everyone");
      ep.broadcast(std::string_view("\x00\x01\x02", 3), true);
    });
    broadcaster.join();
    for (auto& c : clients) {
      auto f = c->read_frame();
      ASSERT_TRUE(f);
      EXPECT_EQ(f->opcode, kText);
      EXPECT_EQ(f->payload, "to everyone");
      f = c->read_frame();
      ASSERT_TRUE(f);
      EXPECT_EQ(f->opcode, kBinary);
      EXPECT_EQ(f->payload, std::string("\x00\x01\x02", 3));
    }
    EXPECT_EQ(ep.stats().messages_out, 2 * clients.size());
    for (auto& c : clients) EXPECT_TRUE(c->close_gracefully());
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(Server, SendToReachesExactlyOneConnectionFromAnotherThread) {
  const int before = open_fd_count();
  {
    LoopSpread spread;
    std::mutex mu;
    std::map<int, ConnectionId> id_of;  // client index -> connection id
    std::atomic<int> unknown_id_on_loop{-1};
    WebSocketEndpoint* endpoint = nullptr;
    WebSocketHandlers h;
    h.on_open = [&](WebSocket& ws) { spread.record(ws); };
    h.on_message = [&](WebSocket& ws, std::string_view m, bool) {
      if (m.rfind("index:", 0) == 0) {
        std::lock_guard lock(mu);
        id_of[std::atoi(std::string(m.substr(6)).c_str())] = ws.id();
      } else if (m == "try-unknown") {
        // On the owning loop the answer is known: no such connection.
        unknown_id_on_loop = endpoint->send_to(ws.id() + 1'000'000, "nobody") ? 1 : 0;
      }
    };
    Server server(test_options(2));
    WebSocketEndpoint& ep = server.websocket("/ws/app", h);
    endpoint = &ep;
    server.start();
    auto clients = open_on_every_loop(server, spread, 2, "/ws/app");
    ASSERT_EQ(spread.per_loop().size(), 2u);
    for (std::size_t i = 0; i < clients.size(); ++i) ASSERT_TRUE(clients[i]->send_text("index:" + std::to_string(i)));
    ASSERT_TRUE(wait_until([&] {
      std::lock_guard lock(mu);
      return id_of.size() == clients.size();
    }));

    ASSERT_TRUE(clients[0]->send_text("try-unknown"));
    ASSERT_TRUE(wait_until([&] { return unknown_id_on_loop.load() != -1; }));
    EXPECT_EQ(unknown_id_on_loop.load(), 0);

    std::thread sender([&] {
      std::lock_guard lock(mu);
      for (std::size_t i = 0; i < clients.size(); i += 2) {
        EXPECT_TRUE(ep.send_to(id_of[static_cast<int>(i)], "for " + std::to_string(i)));
      }
      // Off the owning loop the call can only post; an unknown id is dropped there.
      EXPECT_TRUE(ep.send_to(id_of[0] + 1'000'000, "nobody"));
      ep.broadcast("marker");
    });
    sender.join();
    for (std::size_t i = 0; i < clients.size(); ++i) {
      auto f = clients[i]->read_frame();
      ASSERT_TRUE(f);
      if (i % 2 == 0) {
        EXPECT_EQ(f->payload, "for " + std::to_string(i));
        f = clients[i]->read_frame();
        ASSERT_TRUE(f);
      }
      EXPECT_EQ(f->payload, "marker") << "client " << i << " got a message meant for another";
    }
    for (auto& c : clients) EXPECT_TRUE(c->close_gracefully());
  }
  EXPECT_EQ(open_fd_count(), before);
}

// --- back-pressure -----------------------------------------------------------------------

constexpr int kSlowRcvbuf = 4096;

// Broadcasts numbered 16 KiB messages in batches, waiting after each batch until the loop
// has decided on every one of them (queued or dropped), until done(stats) holds.
// Returns the number sent, or -1 if done() never held within the limit.
template <class Done>
int broadcast_until(WebSocketEndpoint& ep, int& next_seq, Done done, std::chrono::seconds limit = 15s) {
  const auto deadline = Clock::now() + limit;
  const std::uint64_t base = ep.stats().messages_out + ep.stats().dropped;
  int sent = 0;
  while (!done(ep.stats())) {
    if (Clock::now() > deadline) return -1;
    for (int i = 0; i < 16; ++i, ++sent) ep.broadcast(numbered(next_seq++));
    wait_until([&] {
      EndpointStats s = ep.stats();
      return s.messages_out + s.dropped - base >= static_cast<std::uint64_t>(sent) || done(s);
    });
  }
  return sent;
}

// Asks the loop how many bytes are queued for a connection: the client sends any text
// message and the endpoint's on_message records buffered_amount() (input is read whatever
// the output backlog).
struct QueueProbe {
  std::atomic<std::size_t> queued{0};
  std::atomic<int> answers{0};
  WebSocketHandlers handlers() {
    WebSocketHandlers h;
    h.on_message = [this](WebSocket& ws, std::string_view, bool) {
      queued = ws.buffered_amount();
      answers.fetch_add(1);
    };
    return h;
  }
  std::size_t ask(WsClient& c) {
    const int n = answers.load();
    if (!c.send_text("probe") || !wait_until([&] { return answers.load() > n; })) return 0;
    return queued.load();
  }
};

// Broadcasts batches (as broadcast_until) until the policy has acted at least
// `min_dropped` times and the connection's queue really is backed up (the kernel's
// buffers are full, so what is queued stays queued): at least 48 KiB of the 64 KiB
// hard limit. Returns the number sent, or -1.
int fill_backlog(WebSocketEndpoint& ep, WsClient& c, QueueProbe& probe, int& next_seq, std::uint64_t min_dropped) {
  int sent = 0;
  for (int round = 0; round < 200; ++round) {
    int n = broadcast_until(ep, next_seq, [&, target = ep.stats().messages_out + ep.stats().dropped + 16](
                                              const EndpointStats& s) { return s.messages_out + s.dropped >= target; });
    if (n < 0) return -1;
    sent += n;
    if (ep.stats().dropped >= min_dropped && probe.ask(c) >= 48 * 1024) return sent;
  }
  return -1;
}

WebSocketOptions slow_consumer_options(SlowConsumerPolicy policy) {
  WebSocketOptions o;
  o.send_hard_limit = 64 * 1024;
  o.send_soft_limit = 32 * 1024;
  o.slow_consumer = policy;
  return o;
}

TEST(Server, SlowConsumerPolicyCloseClosesAClientThatNeverReads) {
  const int before = open_fd_count();
  {
    std::atomic<int> closes{0};
    WebSocketHandlers h;
    h.on_close = [&](WebSocket&, std::uint16_t, std::string_view) { closes.fetch_add(1); };
    WebSocketOptions o = slow_consumer_options(SlowConsumerPolicy::Close);
    o.close_timeout_ms = 200;  // how long the server waits for a Close it will never get
    Server server(test_options(1));
    WebSocketEndpoint& ep = server.websocket("/ws/feed", h, o);
    server.start();
    WsClient c(server.port(), "/ws/feed", kSlowRcvbuf);
    ASSERT_TRUE(c.open());
    ASSERT_TRUE(wait_until([&] { return ep.connection_count() == 1; }));
    int seq = 0;
    ASSERT_GT(broadcast_until(ep, seq, [](const EndpointStats& s) { return s.slow_closed > 0; }), 0);
    // The Close cannot reach a client that does not read; the close timeout ends it.
    EXPECT_TRUE(wait_until([&] { return ep.connection_count() == 0; }, 3s));
    EndpointStats st = ep.stats();
    EXPECT_EQ(st.slow_closed, 1u);
    EXPECT_GE(st.dropped, 1u);
    EXPECT_EQ(closes.load(), 1);
    // What did reach the client is valid frames, then the end of the stream. (Where the
    // Close 1008 goes relative to queued data: server_close_order_test.cpp.)
    while (auto f = c.read_frame()) {
      EXPECT_TRUE(f->opcode == kText || f->opcode == kClose);
      if (f->opcode == kClose) {
        EXPECT_EQ(f->close_code(), 1008);
      }
    }
    EXPECT_TRUE(c.ended());
    EXPECT_FALSE(c.bad());
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(Server, SlowConsumerPolicyDropNewestCountsEveryDropAndKeepsTheConnection) {
  const int before = open_fd_count();
  {
    QueueProbe probe;
    Server server(test_options(1));
    WebSocketEndpoint& ep =
        server.websocket("/ws/feed", probe.handlers(), slow_consumer_options(SlowConsumerPolicy::DropNewest));
    server.start();
    WsClient c(server.port(), "/ws/feed", kSlowRcvbuf);
    ASSERT_TRUE(c.open());
    ASSERT_TRUE(wait_until([&] { return ep.connection_count() == 1; }));
    int seq = 0;
    const int sent = fill_backlog(ep, c, probe, seq, 20);
    ASSERT_GT(sent, 0);
    // Every broadcast was decided: queued (messages_out) or refused (dropped).
    ASSERT_TRUE(wait_until([&] { return ep.stats().messages_out + ep.stats().dropped == static_cast<std::uint64_t>(sent); }));
    EndpointStats st = ep.stats();
    EXPECT_EQ(st.slow_closed, 0u);
    EXPECT_EQ(ep.connection_count(), 1u);

    // The client now reads: exactly the queued messages, whole, oldest first.
    int last = -1;
    for (std::uint64_t i = 0; i < st.messages_out; ++i) {
      auto f = c.read_frame();
      ASSERT_TRUE(f) << "message " << i << " of " << st.messages_out;
      ASSERT_EQ(f->opcode, kText);
      ASSERT_EQ(f->payload.size(), 16u * 1024);
      ASSERT_GT(seq_of(f->payload), last);
      last = seq_of(f->payload);
    }
    // Nothing was lost silently, and the connection still works.
    EXPECT_EQ(st.messages_out + st.dropped, static_cast<std::uint64_t>(sent));
    ep.broadcast("still open");
    auto f = c.read_frame();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->payload, "still open");
    EXPECT_TRUE(c.close_gracefully());
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(Server, SlowConsumerPolicyDropOldestDeliversTheNewestMessage) {
  const int before = open_fd_count();
  {
    QueueProbe probe;
    Server server(test_options(1));
    WebSocketEndpoint& ep =
        server.websocket("/ws/feed", probe.handlers(), slow_consumer_options(SlowConsumerPolicy::DropOldest));
    server.start();
    WsClient c(server.port(), "/ws/feed", kSlowRcvbuf);
    ASSERT_TRUE(c.open());
    ASSERT_TRUE(wait_until([&] { return ep.connection_count() == 1; }));
    int seq = 0;
    int sent = fill_backlog(ep, c, probe, seq, 20);
    ASSERT_GT(sent, 0);
    const int newest = seq;
    ep.broadcast(numbered(newest));
    ++sent;
    ++seq;
    EXPECT_EQ(ep.stats().slow_closed, 0u);

    // Reading now: whole frames in order with gaps, ending with the newest one.
    int last = -1;
    int received = 0;
    while (last != newest) {
      auto f = c.read_frame();
      ASSERT_TRUE(f) << "the newest message never arrived; last seq " << last;
      ASSERT_EQ(f->opcode, kText);
      ASSERT_EQ(f->payload.size(), 16u * 1024);
      ASSERT_GT(seq_of(f->payload), last);
      last = seq_of(f->payload);
      ++received;
    }
    EXPECT_EQ(ep.connection_count(), 1u);
    // Every message was either delivered or counted as dropped.
    EXPECT_EQ(static_cast<std::uint64_t>(received) + ep.stats().dropped, static_cast<std::uint64_t>(sent));
    EXPECT_TRUE(c.close_gracefully());
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(Server, SlowConsumerPolicyKeepLatestDeliversTheNewestMessageOfEveryTopic) {
  const int before = open_fd_count();
  {
    WebSocketOptions o = slow_consumer_options(SlowConsumerPolicy::KeepLatest);
    Server server(test_options(1));
    WebSocketEndpoint& ep = server.websocket("/ws/feed", {}, o);
    server.start();
    WsClient c(server.port(), "/ws/feed", kSlowRcvbuf);
    ASSERT_TRUE(c.open());
    ASSERT_TRUE(wait_until([&] { return ep.connection_count() == 1; }));
    // 3 topics, 100 messages each, far more than the 64 KiB hard limit holds while the
    // client does not read: the queue is conflated to the latest of each topic.
    const char* topics[] = {"a", "b", "c"};
    constexpr int kPerTopic = 100;
    for (int i = 0; i < 3 * kPerTopic; ++i) {
      std::string m = std::string(topics[i % 3]) + ":" + std::to_string(i / 3) + ":";
      m.resize(16 * 1024, 'x');
      ep.broadcast(m, false, topics[i % 3]);
    }
    ASSERT_TRUE(wait_until([&] {
      EndpointStats st = ep.stats();
      return st.messages_out + st.dropped == 3 * kPerTopic;
    }));
    EXPECT_GT(ep.stats().dropped, 0u) << "the backlog never reached the hard limit";
    std::map<std::string, int> last;
    int received = 0;
    while (auto f = c.read_frame(1s)) {
      ASSERT_EQ(f->opcode, kText);
      std::string topic = f->payload.substr(0, 1);
      int seq = std::stoi(f->payload.substr(2));
      auto it = last.find(topic);
      EXPECT_TRUE(it == last.end() || seq > it->second) << "topic " << topic << " out of order";
      last[topic] = seq;
      ++received;
    }
    for (const char* t : topics) EXPECT_EQ(last[t], kPerTopic - 1) << "latest of topic " << t << " lost";
    EndpointStats st = ep.stats();
    EXPECT_EQ(static_cast<std::uint64_t>(received) + st.dropped, 3u * kPerTopic);
    EXPECT_EQ(st.slow_closed, 0u);
    EXPECT_EQ(ep.connection_count(), 1u);
    EXPECT_TRUE(c.close_gracefully());
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(Server, SubprotocolHookPicksAnOfferedValueOrNone) {
  WebSocketHandlers h;
  h.select_subprotocol = [](std::span<const std::string_view> offered) -> std::string_view {
    for (std::string_view p : offered) {
      if (p.starts_with("chat.")) return p;
    }
    return "not-offered";  // must never be answered
  };
  Server server(test_options(1));
  server.websocket("/ws/chat", h);
  server.start();
  auto handshake = [&](std::string_view offer) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(server.port());
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    std::string req =
        "GET /ws/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: " + std::string(offer) + "\r\n\r\n";
    EXPECT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
    std::string head;
    char buf[1024];
    while (head.find("\r\n\r\n") == std::string::npos) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) break;
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      head.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return head;
  };
  std::string picked = handshake("v1.json, chat.v2, chat.v1");
  EXPECT_EQ(picked.rfind("HTTP/1.1 101", 0), 0u) << picked;
  EXPECT_NE(picked.find("Sec-WebSocket-Protocol: chat.v2\r\n"), std::string::npos) << picked;
  std::string none = handshake("v1.json");
  EXPECT_EQ(none.rfind("HTTP/1.1 101", 0), 0u) << none;
  EXPECT_EQ(none.find("Sec-WebSocket-Protocol"), std::string::npos) << none;
}

TEST(Server, OnDrainIsCalledOnceAfterABacklogDrains) {
  const int before = open_fd_count();
  {
    std::atomic<int> drains{0};
    std::atomic<std::size_t> buffered_seen{0};
    std::atomic<int> drains_at_probe{-1};
    WebSocketHandlers h;
    h.on_drain = [&](WebSocket& ws) {
      EXPECT_LE(ws.buffered_amount(), 32u * 1024);
      drains.fetch_add(1);
    };
    h.on_message = [&](WebSocket& ws, std::string_view, bool) {
      drains_at_probe = drains.load();
      buffered_seen = ws.buffered_amount();
    };
    WebSocketOptions o;
    o.send_soft_limit = 32 * 1024;
    o.send_hard_limit = 256 << 20;  // no policy in play
    Server server(test_options(1));
    WebSocketEndpoint& ep = server.websocket("/ws/feed", h, o);
    server.start();
    WsClient c(server.port(), "/ws/feed", kSlowRcvbuf);
    ASSERT_TRUE(c.open());
    ASSERT_TRUE(wait_until([&] { return ep.connection_count() == 1; }));
    constexpr int kMessages = 1024;  // 16 MiB: more than the kernel buffers between us
    for (int i = 0; i < kMessages; ++i) ep.broadcast(numbered(i));
    ASSERT_TRUE(wait_until([&] { return ep.stats().messages_out == kMessages; }, 10s));
    // Ask the loop how much is queued now (input is read whatever the output backlog).
    ASSERT_TRUE(c.send_text("how much is queued?"));
    ASSERT_TRUE(wait_until([&] { return drains_at_probe.load() != -1; }));
    ASSERT_GT(buffered_seen.load(), 32u * 1024) << "no backlog above the soft limit was built";
    const int before_reading = drains_at_probe.load();
    for (int i = 0; i < kMessages; ++i) {
      auto f = c.read_frame();
      ASSERT_TRUE(f);
      ASSERT_EQ(seq_of(f->payload), i);
    }
    EXPECT_TRUE(wait_until([&] { return drains.load() == before_reading + 1; }));
    // Still once after the queue has been empty for a while.
    ep.broadcast("after");
    auto f = c.read_frame();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->payload, "after");
    EXPECT_EQ(drains.load(), before_reading + 1);
    EXPECT_TRUE(c.close_gracefully());
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(Server, PingIsAnsweredAheadOfQueuedDataWhenTheQueueIsFull) {
  const int before = open_fd_count();
  {
    QueueProbe probe;
    Server server(test_options(1));
    WebSocketEndpoint& ep =
        server.websocket("/ws/feed", probe.handlers(), slow_consumer_options(SlowConsumerPolicy::DropNewest));
    server.start();
    WsClient c(server.port(), "/ws/feed", kSlowRcvbuf);
    ASSERT_TRUE(c.open());
    ASSERT_TRUE(wait_until([&] { return ep.connection_count() == 1; }));
    int seq = 0;
    const int sent = fill_backlog(ep, c, probe, seq, 1);
    ASSERT_GT(sent, 0);
    ASSERT_TRUE(wait_until([&] { return ep.stats().messages_out + ep.stats().dropped == static_cast<std::uint64_t>(sent); }));
    const std::uint64_t queued_messages = ep.stats().messages_out;

    // The queue is at its hard limit; a ping is not subject to it and goes ahead of the
    // data frames that have not started.
    ASSERT_TRUE(c.send_frame(kPing, "still there?"));
    std::uint64_t data_before_pong = 0, data_after_pong = 0;
    bool pong = false;
    while (data_before_pong + data_after_pong < queued_messages || !pong) {
      auto f = c.read_frame();
      ASSERT_TRUE(f) << "data " << data_before_pong << "+" << data_after_pong << " pong " << pong;
      if (f->opcode == kPong) {
        ASSERT_FALSE(pong);
        EXPECT_EQ(f->payload, "still there?");
        pong = true;
      } else {
        ASSERT_EQ(f->opcode, kText);
        (pong ? data_after_pong : data_before_pong) += 1;
      }
    }
    EXPECT_TRUE(pong);
    EXPECT_GE(data_after_pong, 1u) << "the pong waited behind every queued data frame";
    EXPECT_TRUE(c.close_gracefully());
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(Server, StatsCountAcceptedConnections) {
  Server server(test_options(2));
  server.websocket("/ws/echo", echo_handlers());
  server.start();
  {
    WsClient a(server.port()), b(server.port());
    ASSERT_TRUE(a.open());
    ASSERT_TRUE(b.open());
    EXPECT_TRUE(a.close_gracefully());
    EXPECT_TRUE(b.close_gracefully());
  }
  EXPECT_EQ(server.stats().accepted, 2u);
  EXPECT_EQ(server.stats().accept_fd_exhausted, 0u);
  server.shutdown();
}

// --- thread safety (the test to run under the tsan preset) -----------------------------

// Three non-loop threads broadcast at once, a fourth sends to single connections, a
// fifth reads statistics, while clients on both loops echo messages of their own: every
// cross-thread path of the endpoint runs concurrently with the loops' own work. Each
// client must get every broadcast exactly once and in each broadcaster's order. Under
// ThreadSanitizer this proves the fan-out free of data races; elsewhere it checks
// delivery and ordering.
TEST(Server, ConcurrentBroadcastsFromThreeThreadsReachEveryClientOnEveryLoopInOrder) {
  constexpr int kBroadcasters = 3;
  constexpr int kPerBroadcaster = 400;
  constexpr int kDirectPerClient = 40;
  constexpr int kEchoEvery = 100;  // a client sends one message per this many received
  const int before = open_fd_count();
  {
    LoopSpread spread;
    std::mutex mu;
    std::map<int, ConnectionId> id_of;
    WebSocketHandlers h;
    h.on_open = [&](WebSocket& ws) { spread.record(ws); };
    h.on_message = [&](WebSocket& ws, std::string_view m, bool binary) {
      if (m.rfind("index:", 0) == 0) {
        std::lock_guard lock(mu);
        id_of[std::atoi(std::string(m.substr(6)).c_str())] = ws.id();
      } else {
        ws.send(m, binary);
      }
    };
    Server server(test_options(2));
    WebSocketEndpoint& ep = server.websocket("/ws/race", h);
    server.start();
    auto clients = open_on_every_loop(server, spread, 3, "/ws/race");
    auto per_loop = spread.per_loop();
    ASSERT_EQ(per_loop.size(), 2u);
    for (auto& [t, n] : per_loop) ASSERT_GE(n, 3);
    const std::size_t n_clients = clients.size();
    for (std::size_t i = 0; i < n_clients; ++i) ASSERT_TRUE(clients[i]->send_text("index:" + std::to_string(i)));
    ASSERT_TRUE(wait_until([&] {
      std::lock_guard lock(mu);
      return id_of.size() == n_clients;
    }));
    std::vector<ConnectionId> ids;
    for (std::size_t i = 0; i < n_clients; ++i) ids.push_back(id_of[static_cast<int>(i)]);

    std::atomic<int> errors{0};
    std::atomic<bool> go{false};
    std::atomic<bool> stop_polling{false};
    auto wait_go = [&] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
    };

    // Readers: one per client, counting and checking everything it receives.
    std::vector<std::thread> readers;
    for (std::size_t i = 0; i < n_clients; ++i) {
      readers.emplace_back([&, i] {
        WsClient& c = *clients[i];
        int next_of[kBroadcasters] = {};
        int broadcasts = 0, directs = 0, echoes_sent = 0, echoes_back = 0;
        auto deadline = Clock::now() + 60s;
        while (broadcasts < kBroadcasters * kPerBroadcaster || directs < kDirectPerClient ||
               echoes_back < echoes_sent) {
          auto f = c.read_frame(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
          if (!f || f->opcode != kText) {
            ADD_FAILURE() << "client " << i << ": stream ended after " << broadcasts << " broadcasts, " << directs
                          << " directs, " << echoes_back << "/" << echoes_sent << " echoes";
            errors.fetch_add(1);
            return;
          }
          const std::string& p = f->payload;
          if (p[0] == 'b') {  // "b<k>:<n>"
            int k = p[1] - '0';
            int n = std::atoi(p.c_str() + 3);
            if (k < 0 || k >= kBroadcasters || n != next_of[k]) {
              ADD_FAILURE() << "client " << i << ": got " << p << ", expected b" << k << ":" << next_of[k];
              errors.fetch_add(1);
              return;
            }
            ++next_of[k];
            if (++broadcasts % kEchoEvery == 0) {
              if (!c.send_text("e:" + std::to_string(echoes_sent))) errors.fetch_add(1);
              ++echoes_sent;
            }
          } else if (p[0] == 'd') {  // "d:<n>" from the one direct sender, in order
            if (std::atoi(p.c_str() + 2) != directs) errors.fetch_add(1);
            ++directs;
          } else if (p[0] == 'e') {
            if (std::atoi(p.c_str() + 2) != echoes_back) errors.fetch_add(1);
            ++echoes_back;
          } else {
            errors.fetch_add(1);
          }
        }
      });
    }
    std::vector<std::thread> senders;
    for (int k = 0; k < kBroadcasters; ++k) {
      senders.emplace_back([&, k] {
        wait_go();
        for (int n = 0; n < kPerBroadcaster; ++n) {
          ep.broadcast("b" + std::to_string(k) + ":" + std::to_string(n));
        }
      });
    }
    senders.emplace_back([&] {
      wait_go();
      for (int n = 0; n < kDirectPerClient; ++n) {
        for (ConnectionId id : ids) {
          if (!ep.send_to(id, "d:" + std::to_string(n))) errors.fetch_add(1);
        }
      }
    });
    std::thread poller([&] {
      wait_go();
      std::uint64_t seen = 0;
      while (!stop_polling.load()) {
        EndpointStats st = ep.stats();
        if (st.messages_out < seen) errors.fetch_add(1);  // counters never go back
        seen = st.messages_out;
        if (ep.connection_count() != n_clients) errors.fetch_add(1);
        (void)server.stats();
        std::this_thread::yield();
      }
    });
    go.store(true, std::memory_order_release);
    for (auto& t : senders) t.join();
    for (auto& t : readers) t.join();
    stop_polling = true;
    poller.join();
    EXPECT_EQ(errors.load(), 0);

    EndpointStats st = ep.stats();
    EXPECT_EQ(st.dropped, 0u);
    EXPECT_EQ(st.slow_closed, 0u);
    EXPECT_GE(st.messages_out,
              static_cast<std::uint64_t>(n_clients) * (kBroadcasters * kPerBroadcaster + kDirectPerClient));
    for (auto& c : clients) EXPECT_TRUE(c->close_gracefully());
  }
  EXPECT_EQ(open_fd_count(), before);
}

}  // namespace
}  // namespace wirehub
