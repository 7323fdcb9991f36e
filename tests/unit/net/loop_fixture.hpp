#pragma once
// Shared by the net::Connection tests (plain and TLS): a real EventLoop on its own thread,
// TestConnections on one end of socketpairs, the test thread playing the peer on the other
// end with blocking sockets, and a teardown that proves a clean shutdown: every connection
// closed, none left on the loop's list, /proc/self/fd back to what it held before.

#include <fcntl.h>
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
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "loop/event_loop.hpp"
#include "net/connection.hpp"
#include "test_support.hpp"

namespace wirehub::net::test_fixture {

using namespace std::chrono_literals;

// A deterministic byte pattern, so reordered or lost bytes show.
inline std::string pattern(std::size_t n, std::size_t seed = 0) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + seed + i / 251) % 26);
  return s;
}

// What a TestConnection reports; owned by the test so it outlives the connection.
struct Probe {
  std::atomic<int> closed{0};
  std::atomic<int> peer_closed{0};
  std::atomic<int> drained{0};
  std::atomic<int> reads{0};
  std::atomic<std::size_t> bytes_read{0};
  std::mutex mu;
  std::string received;  // everything read, when keep is set
  bool keep = false;
  // Called on the loop thread with each read (default: nothing).
  std::function<void(Connection&, std::string_view)> on_read;
};

class TestConnection final : public Connection {
 public:
  TestConnection(loop::EventLoop& loop, int fd, Probe& probe) : Connection(loop, fd), probe_(probe) {}

 private:
  void on_read(char* data, std::size_t n) override {
    if (probe_.keep) {
      std::lock_guard lock(probe_.mu);
      probe_.received.append(data, n);
    }
    probe_.reads.fetch_add(1);
    probe_.bytes_read.fetch_add(n);
    if (probe_.on_read) probe_.on_read(*this, std::string_view(data, n));
  }
  void on_peer_closed() override {
    probe_.peer_closed.fetch_add(1);
    Connection::on_peer_closed();
  }
  void on_closed() override { probe_.closed.fetch_add(1); }
  void on_drained() override { probe_.drained.fetch_add(1); }

  Probe& probe_;
};

class LoopFixture : public ::testing::Test {
 protected:
  // The loop's shared read buffer.
  virtual std::size_t read_buffer_bytes() const { return 512 * 1024; }
  // Called once the loop is gone, before the peer ends are closed.
  virtual void release_peers() {}

  void SetUp() override {
    fds_before_ = wirehub::test::open_fd_count();
    loop_ = std::make_unique<loop::EventLoop>(read_buffer_bytes());
    done_f_ = done_.get_future();
    thread_ = std::thread([this] {
      loop_->run();
      done_.set_value();
    });
  }

  void TearDown() override {
    // Close whatever a test left open (its handlers may refer to the test's locals, which
    // are gone by now: detach them first), then prove nothing is left on the loop.
    run([&] {
      for (Probe& p : probes_) p.on_read = nullptr;
      Connection::for_each_on_this_thread([](Connection& c) { c.close_now(); });
    });
    EXPECT_TRUE(wirehub::test::wait_until([&] {
      std::size_t n = 1;
      run([&] { n = Connection::count_on_this_thread(); });
      return n == 0;
    })) << "connections still open at the end of the test";
    loop_->stop();
    if (done_f_.wait_for(5s) != std::future_status::ready) {
      std::fprintf(stderr, "event loop did not stop\n");
      std::abort();
    }
    thread_.join();
    loop_.reset();
    release_peers();
    for (int fd : peer_fds_) ::close(fd);
    EXPECT_EQ(wirehub::test::open_fd_count(), fds_before_) << "fds leaked";
  }

  // Runs fn on the loop thread and waits for it. A loop that does not run it within 10 s
  // is hung: abort rather than return while fn may still run against our stack.
  template <class Fn>
  void run(Fn fn) {
    auto done = std::make_shared<std::promise<void>>();
    auto f = done->get_future();
    loop_->post([fn = std::move(fn), done]() mutable {
      fn();
      done->set_value();
    });
    if (f.wait_for(10s) != std::future_status::ready) {
      std::fprintf(stderr, "posted task did not run within 10 s\n");
      std::abort();
    }
  }

  // A Probe that outlives the connections reporting to it (they may close after the
  // test body returned, in TearDown).
  Probe& probe() { return probes_.emplace_back(); }

  // A socket pair: returns the non-blocking end for the connection under test; the other
  // end is the peer (peer_fds_), blocking, with 5 s timeouts so a missing byte fails
  // instead of hanging. buffer_bytes > 0 shrinks both ends' socket buffers (short writes).
  int socket_pair(int type = SOCK_STREAM, int buffer_bytes = 0) {
    int sv[2];
    EXPECT_EQ(socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) & ~O_NONBLOCK);
    timeval tv{5, 0};
    setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(sv[1], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (buffer_bytes > 0) {
      for (int fd : sv) {
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer_bytes, sizeof buffer_bytes);
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer_bytes, sizeof buffer_bytes);
      }
    }
    peer_fds_.push_back(sv[1]);
    return sv[0];
  }

  std::unique_ptr<loop::EventLoop> loop_;
  std::deque<Probe> probes_;
  std::vector<int> peer_fds_;
  int fds_before_ = 0;

 private:
  std::promise<void> done_;
  std::future<void> done_f_;
  std::thread thread_;
};

}  // namespace wirehub::net::test_fixture
