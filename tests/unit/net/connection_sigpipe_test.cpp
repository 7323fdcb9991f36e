// Regression test: a peer that goes away while output is queued must not kill the
// process. Connection::flush() used to write with writev(), which raises SIGPIPE on a
// socket whose peer has closed; the library does not (and should not have to) ignore
// SIGPIPE, whose default action terminates the process. Runs as a death test (in a child
// process) so a regression shows as "killed by signal 13" instead of ending the whole
// test binary.

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <thread>

#include "loop/event_loop.hpp"
#include "net/connection.hpp"

namespace wirehub::net {
namespace {

using namespace std::chrono_literals;

class ClosingConnection final : public Connection {
 public:
  ClosingConnection(loop::EventLoop& loop, int fd, std::atomic<int>& closed) : Connection(loop, fd), closed_(closed) {}

 private:
  void on_read(char*, std::size_t) override {}
  void on_closed() override { closed_.fetch_add(1); }
  std::atomic<int>& closed_;
};

// Sends to a peer that has just closed, before the loop has seen its EOF (a broadcast
// to a client that disconnected a moment ago), and waits for the connection to close.
// Exits 0 when the process survived it.
[[noreturn]] void peer_closes_with_output_queued() {
  signal(SIGPIPE, SIG_DFL);  // what a program linking the library has by default
  loop::EventLoop loop;
  std::thread t([&] { loop.run(); });
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) std::_Exit(3);
  std::atomic<int> closed{0};
  std::promise<void> sent;
  loop.post([&] {
    auto* c = new ClosingConnection(loop, sv[0], closed);
    ::close(sv[1]);        // the peer is gone...
    c->send("broadcast");  // ...and is written to at the end of this iteration
    sent.set_value();
  });
  if (sent.get_future().wait_for(10s) != std::future_status::ready) std::_Exit(4);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (closed.load() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  loop.stop();
  t.join();
  std::_Exit(closed.load() == 1 ? 0 : 5);
}

TEST(ConnectionDeathTest, PeerClosingWhileOutputIsQueuedDoesNotKillTheProcessWithSigpipe) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(peer_closes_with_output_queued(), ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace wirehub::net
