// Listener on a real loop and loopback TCP: accepting, and running out of descriptors.
//
// The EMFILE test lowers RLIMIT_NOFILE for the whole process for a moment (restored by a
// guard even when an assertion fails), fills every descriptor below it, and then lets
// clients connect: their connections wait in the backlog while accept() fails.

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "loop/event_loop.hpp"
#include "net/address.hpp"
#include "net/listener.hpp"
#include "test_support.hpp"

namespace wirehub::net {
namespace {

using namespace std::chrono_literals;
using loop::EventLoop;

using test::open_fd_count;
using test::wait_until;

class LoopThread {
 public:
  explicit LoopThread(EventLoop& loop) : loop_(loop) {
    done_f_ = done_.get_future();
    thread_ = std::thread([this] {
      loop_.run();
      done_.set_value();
    });
  }
  ~LoopThread() {
    loop_.stop();
    if (done_f_.wait_for(5s) != std::future_status::ready) {
      std::fprintf(stderr, "event loop did not stop\n");
      std::abort();
    }
    thread_.join();
  }
  LoopThread(const LoopThread&) = delete;
  LoopThread& operator=(const LoopThread&) = delete;

 private:
  EventLoop& loop_;
  std::promise<void> done_;
  std::future<void> done_f_;
  std::thread thread_;
};

template <class Fn>
void run_on(EventLoop& loop, Fn fn) {
  auto done = std::make_shared<std::promise<void>>();
  auto f = done->get_future();
  loop.post([fn = std::move(fn), done]() mutable {
    fn();
    done->set_value();
  });
  if (f.wait_for(10s) != std::future_status::ready) {
    // fn may still run later against the caller's stack: a hung loop ends the run.
    std::fprintf(stderr, "posted task did not run within 10 s\n");
    std::abort();
  }
}

// CPU time the calling thread has used.
std::chrono::microseconds thread_cpu_time() {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  return std::chrono::seconds(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         std::chrono::microseconds(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

// UBSan's -fsanitize=vptr check probes memory with pipe(); with every descriptor in use
// that fails and it reports a false "invalid vptr" at the first virtual call it checks
// (spdlog's logger, when the listener logs EMFILE). A weak reference to its handler tells
// whether that runtime is linked in.
extern "C" void __ubsan_handle_dynamic_type_cache_miss(void*, void*, void*) __attribute__((weak));
bool ubsan_vptr_check_linked() { return __ubsan_handle_dynamic_type_cache_miss != nullptr; }

// The listener under test with its loop; accepted sockets are collected (loop thread).
struct Fixture {
  EventLoop loop;
  ListenerStats stats;
  std::vector<int> accepted;  // loop thread only
  std::unique_ptr<Listener> listener;
  std::uint16_t port = 0;

  void open(LoopThread&) {
    auto addr = parse_address("127.0.0.1:0", nullptr);
    ASSERT_TRUE(addr);
    int fd = listen_socket(*addr, 64);
    port = local_port(fd);
    ASSERT_NE(port, 0);
    run_on(loop, [&] { listener = std::make_unique<Listener>(loop, fd, [&](int cfd) { accepted.push_back(cfd); }, stats); });
  }
  void close() {
    run_on(loop, [&] {
      listener.reset();
      for (int fd : accepted) ::close(fd);
      accepted.clear();
    });
  }
};

TEST(Listener, AcceptsNonBlockingNoDelaySockets) {
  const int before = open_fd_count();
  {
    Fixture f;
    LoopThread lt(f.loop);
    f.open(lt);
    std::vector<int> clients;
    for (int i = 0; i < 3; ++i) {
      int c = test::connect_loopback(f.port);
      ASSERT_GE(c, 0);
      clients.push_back(c);
    }
    EXPECT_TRUE(wait_until([&] { return f.stats.accepted.load() == 3; }));
    EXPECT_EQ(f.stats.fd_exhausted.load(), 0u);
    run_on(f.loop, [&] {
      ASSERT_EQ(f.accepted.size(), 3u);
      for (int fd : f.accepted) {
        EXPECT_TRUE(fcntl(fd, F_GETFL) & O_NONBLOCK);
        EXPECT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        int nodelay = 0;
        socklen_t len = sizeof nodelay;
        getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len);
        EXPECT_NE(nodelay, 0);
      }
    });
    f.close();
    for (int c : clients) ::close(c);
  }
  EXPECT_EQ(open_fd_count(), before);
}

// Lowers the soft RLIMIT_NOFILE just above the fds in use and fills the gap, so the next
// descriptor anyone asks for fails with EMFILE. Undone on destruction.
class FdExhaustion {
 public:
  FdExhaustion() {
    getrlimit(RLIMIT_NOFILE, &saved_);
    base_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    int max_fd = -1;
    open_fd_count(&max_fd);
    rlimit low = saved_;
    low.rlim_cur = static_cast<rlim_t>(max_fd + 1 + 8);
    ok_ = base_ >= 0 && setrlimit(RLIMIT_NOFILE, &low) == 0;
    while (ok_) {
      int fd = ::fcntl(base_, F_DUPFD_CLOEXEC, 0);
      if (fd < 0) {
        ok_ = errno == EMFILE;
        break;
      }
      fillers_.push_back(fd);
    }
  }
  ~FdExhaustion() {
    release();
    setrlimit(RLIMIT_NOFILE, &saved_);
    if (base_ >= 0) ::close(base_);
  }
  FdExhaustion(const FdExhaustion&) = delete;
  FdExhaustion& operator=(const FdExhaustion&) = delete;

  bool ok() const { return ok_; }
  // True if asking for one more descriptor fails with EMFILE right now.
  bool nothing_left() const {
    int fd = ::fcntl(base_, F_DUPFD_CLOEXEC, 0);
    if (fd >= 0) ::close(fd);
    return fd < 0 && errno == EMFILE;
  }
  // Gives the descriptors back (the lowered limit stays until destruction).
  void release() {
    for (int fd : fillers_) ::close(fd);
    fillers_.clear();
  }

 private:
  rlimit saved_{};
  std::vector<int> fillers_;
  int base_ = -1;
  bool ok_ = false;
};

TEST(Listener, OutOfDescriptorsPausesInsteadOfSpinningAndRecovers) {
  if (ubsan_vptr_check_linked()) GTEST_SKIP() << "UBSan's vptr check cannot run without free descriptors";
  const int before = open_fd_count();
  {
    Fixture f;
    LoopThread lt(f.loop);
    f.open(lt);
    // Client sockets are created before the descriptors run out; they connect after.
    std::vector<int> clients;
    for (int i = 0; i < 3; ++i) clients.push_back(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    {
      FdExhaustion exhausted;
      ASSERT_TRUE(exhausted.ok());
      ASSERT_TRUE(exhausted.nothing_left());
      for (int c : clients) {
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(f.port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        // Completes in the kernel: the connection waits in the listener's backlog.
        ASSERT_EQ(::connect(c, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
      }
      ASSERT_TRUE(wait_until([&] { return f.stats.fd_exhausted.load() >= 1; }));
      EXPECT_EQ(f.stats.accepted.load(), 0u);

      // Measure the loop thread for 300 ms while accept() keeps failing. A listener that
      // spins on its level-triggered socket would burn the whole 300 ms of CPU and count
      // an EMFILE per iteration; one that pauses retries about every kPauseMs.
      std::chrono::microseconds cpu0{}, cpu1{};
      run_on(f.loop, [&] { cpu0 = thread_cpu_time(); });
      const std::uint64_t exhausted0 = f.stats.fd_exhausted.load();
      const auto t0 = std::chrono::steady_clock::now();
      std::this_thread::sleep_for(300ms);  // the measurement window itself
      run_on(f.loop, [&] { cpu1 = thread_cpu_time(); });
      const auto window = std::chrono::steady_clock::now() - t0;
      const std::uint64_t retries = f.stats.fd_exhausted.load() - exhausted0;
      EXPECT_LT(cpu1 - cpu0, 100ms) << "the loop thread was busy while descriptors were exhausted";
      const auto max_retries =
          static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(window).count()) /
              Listener::kPauseMs + 2;
      EXPECT_LE(retries, max_retries) << "accept() retried too often";
      EXPECT_GE(retries, 1u) << "accept() was never retried during the pause";
      EXPECT_EQ(f.stats.accepted.load(), 0u);

      // Descriptors are available again: the backlog is accepted after the pause.
      exhausted.release();
      EXPECT_TRUE(wait_until([&] { return f.stats.accepted.load() == 3; }, 3s));
    }
    f.close();
    for (int c : clients) ::close(c);
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(Listener, CloseWhilePausedStopsEverything) {
  if (ubsan_vptr_check_linked()) GTEST_SKIP() << "UBSan's vptr check cannot run without free descriptors";
  const int before = open_fd_count();
  {
    Fixture f;
    LoopThread lt(f.loop);
    f.open(lt);
    int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    {
      FdExhaustion exhausted;
      ASSERT_TRUE(exhausted.ok());
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_port = htons(f.port);
      sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      ASSERT_EQ(::connect(client, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
      ASSERT_TRUE(wait_until([&] { return f.stats.fd_exhausted.load() >= 1; }));
      // Closing the paused listener cancels its retry timer.
      std::size_t armed = 1;
      run_on(f.loop, [&] {
        f.listener->close();
        armed = f.loop.timers().armed_count();
      });
      EXPECT_EQ(armed, 0u);
    }
    f.close();
    ::close(client);
  }
  EXPECT_EQ(open_fd_count(), before);
}

}  // namespace
}  // namespace wirehub::net
