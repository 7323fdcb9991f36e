// Proof: echoing a WebSocket message costs the server no heap allocation, once warm.
//
// This binary replaces the C allocator (malloc, calloc, realloc, the aligned variants)
// and every global operator new, forwarding to glibc's __libc_* functions and counting
// each allocation made on any thread except the test's own. A Server with one loop runs
// in-process; the test thread is the client. So the counter sees the server's loop
// thread and nothing else (spdlog's default logger runs no thread of its own), and the
// client is free to allocate as it likes.
//
// Warm-up (1,000 single echoes of 32 bytes and batches of 16 in flight) lets every
// per-connection and per-thread buffer reach its working size; then 10,000 single echoes
// and 10,000 more in batches of 16 must leave the counter unchanged.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <string_view>

#include "wirehub/server.hpp"

// --- the counting allocator ------------------------------------------------------------

extern "C" {
void* __libc_malloc(std::size_t);
void __libc_free(void*);
void* __libc_realloc(void*, std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
}

namespace {
// Static TLS of the executable: reading it allocates nothing, even inside malloc.
thread_local bool t_not_counted = false;
std::atomic<std::uint64_t> g_allocations{0};

inline void count_allocation() noexcept {
  if (!t_not_counted) g_allocations.fetch_add(1);
}

void* counted_new(std::size_t n) {
  count_allocation();
  if (void* p = __libc_malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* counted_new_aligned(std::size_t n, std::align_val_t al) {
  count_allocation();
  if (void* p = __libc_memalign(static_cast<std::size_t>(al), n ? n : 1)) return p;
  throw std::bad_alloc();
}
}  // namespace

extern "C" {
void* malloc(std::size_t n) {
  count_allocation();
  return __libc_malloc(n);
}
void free(void* p) { __libc_free(p); }
void* calloc(std::size_t count, std::size_t size) {
  count_allocation();
  return __libc_calloc(count, size);
}
void* realloc(void* p, std::size_t n) {
  count_allocation();
  return __libc_realloc(p, n);
}
void* memalign(std::size_t alignment, std::size_t n) {
  count_allocation();
  return __libc_memalign(alignment, n);
}
void* aligned_alloc(std::size_t alignment, std::size_t n) {
  count_allocation();
  return __libc_memalign(alignment, n);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t n) {
  count_allocation();
  void* p = __libc_memalign(alignment, n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}
}

void* operator new(std::size_t n) { return counted_new(n); }
void* operator new[](std::size_t n) { return counted_new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  count_allocation();
  return __libc_malloc(n ? n : 1);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  count_allocation();
  return __libc_malloc(n ? n : 1);
}
void* operator new(std::size_t n, std::align_val_t al) { return counted_new_aligned(n, al); }
void* operator new[](std::size_t n, std::align_val_t al) { return counted_new_aligned(n, al); }
void operator delete(void* p) noexcept { __libc_free(p); }
void operator delete[](void* p) noexcept { __libc_free(p); }
void operator delete(void* p, std::size_t) noexcept { __libc_free(p); }
void operator delete[](void* p, std::size_t) noexcept { __libc_free(p); }
void operator delete(void* p, std::align_val_t) noexcept { __libc_free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { __libc_free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { __libc_free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { __libc_free(p); }

// --- the test ---------------------------------------------------------------------------

namespace wirehub {
namespace {

// A blocking client that sends pre-masked frames and reads unmasked echoes.
class EchoClient {
 public:
  explicit EchoClient(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return;
    const std::string_view req =
        "GET /ws/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    if (!write_all(req)) return;
    std::string head;
    while (head.find("\r\n\r\n") == std::string::npos) {
      char c;
      if (!read_exact(&c, 1)) return;
      head.push_back(c);
    }
    open_ = head.rfind("HTTP/1.1 101", 0) == 0;
  }
  ~EchoClient() { ::close(fd_); }
  EchoClient(const EchoClient&) = delete;
  EchoClient& operator=(const EchoClient&) = delete;

  bool open() const { return open_; }

  // A masked text frame with a 32-byte payload; the key changes with `salt`.
  static std::string frame(std::string_view payload32, std::uint32_t salt) {
    std::string f;
    f.push_back(static_cast<char>(0x81));
    f.push_back(static_cast<char>(0x80 | payload32.size()));
    std::uint32_t key = 0x5bd1e995u * (salt + 1);
    char k[4];
    std::memcpy(k, &key, 4);
    f.append(k, 4);
    for (std::size_t i = 0; i < payload32.size(); ++i) f.push_back(static_cast<char>(payload32[i] ^ k[i % 4]));
    return f;
  }

  bool write_all(std::string_view b) {
    while (!b.empty()) {
      ssize_t w = ::send(fd_, b.data(), b.size(), MSG_NOSIGNAL);
      if (w <= 0) return false;
      b.remove_prefix(static_cast<std::size_t>(w));
    }
    return true;
  }
  bool read_exact(char* out, std::size_t n) {
    while (n > 0) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) return false;
      ssize_t r = ::recv(fd_, out, n, 0);
      if (r <= 0) return false;
      out += r;
      n -= static_cast<std::size_t>(r);
    }
    return true;
  }
  // Reads `count` echoes of 32-byte text frames (2-byte header each) and checks them.
  bool read_echoes(std::string_view payload32, int count) {
    char buf[16 * 34];
    while (count > 0) {
      int now = count < 16 ? count : 16;
      if (!read_exact(buf, static_cast<std::size_t>(now) * 34)) return false;
      for (int i = 0; i < now; ++i) {
        const char* f = buf + i * 34;
        if (static_cast<unsigned char>(f[0]) != 0x81 || f[1] != 32 || std::memcmp(f + 2, payload32.data(), 32) != 0)
          return false;
      }
      count -= now;
    }
    return true;
  }

 private:
  int fd_ = -1;
  bool open_ = false;
};

TEST(EchoAllocation, EchoingAMessageAllocatesNothingOnTheLoopThread) {
  t_not_counted = true;  // the client (this thread) may allocate freely
  const std::uint64_t at_start = g_allocations.load();

  ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.threads = 1;  // exactly one other thread: the loop
  Server server(o);
  WebSocketHandlers h;
  h.on_message = [](WebSocket& ws, std::string_view m, bool binary) { ws.send(m, binary); };
  server.websocket("/ws/echo", h);
  server.start();

  EchoClient c(server.port());
  ASSERT_TRUE(c.open());
  const std::string payload(32, 'p');
  // Pre-built input: one frame, and a burst of 16 frames written at once.
  const std::string single = EchoClient::frame(payload, 1);
  std::string burst;
  for (std::uint32_t i = 0; i < 16; ++i) burst += EchoClient::frame(payload, i);

  auto echo_round = [&](int singles, int bursts) {
    for (int i = 0; i < singles; ++i) {
      if (!c.write_all(single) || !c.read_echoes(payload, 1)) return false;
    }
    for (int i = 0; i < bursts; ++i) {
      if (!c.write_all(burst) || !c.read_echoes(payload, 16)) return false;
    }
    return true;
  };

  ASSERT_TRUE(echo_round(1000, 100));  // warm-up
  const std::uint64_t warm = g_allocations.load();
  // The counter works and sees the loop thread: accepting and upgrading allocated.
  EXPECT_GT(warm, at_start);

  ASSERT_TRUE(echo_round(10'000, 625));  // 10,000 single echoes, 10,000 in batches of 16
  const std::uint64_t after = g_allocations.load();
  EXPECT_EQ(after - warm, 0u) << "heap allocations on the loop thread during 20,000 echoes";

  server.shutdown();
}

}  // namespace
}  // namespace wirehub
