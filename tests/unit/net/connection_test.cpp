// net::Connection over a socketpair: a TestConnection on a real EventLoop thread, and the
// test thread playing the peer with a blocking socket.
//
// SOCK_SEQPACKET pairs are used where the number of send()/writev() calls is the thing
// under test: each call becomes one record, so the peer can count them. Everything else
// uses SOCK_STREAM. Each test ends proving a clean shutdown: every connection closed
// (on_closed exactly once each), none left on the loop's list, and /proc/self/fd back to
// what it held before.

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/shared_buffer.hpp"
#include "loop/event_loop.hpp"
#include "net/connection.hpp"
#include "loop_fixture.hpp"
#include "test_support.hpp"

namespace wirehub::net {
namespace {

using namespace std::chrono_literals;
using loop::EventLoop;

using test::open_fd_count;
using test::wait_until;

using test_fixture::pattern;
using test_fixture::Probe;
using test_fixture::TestConnection;

class ConnectionTest : public test_fixture::LoopFixture {
 protected:
  // A socket pair: a TestConnection on one end (created on the loop thread), and the
  // blocking peer end, with a receive timeout so a missing byte fails instead of hanging.
  TestConnection* connect(Probe& probe, int type = SOCK_STREAM) {
    const int fd = socket_pair(type);
    TestConnection* c = nullptr;
    run([&] { c = new TestConnection(*loop_, fd, probe); });
    return c;
  }
  int peer(std::size_t i = 0) const { return peer_fds_.at(i); }

  // Reads exactly n bytes from the peer end (each recv bounded by SO_RCVTIMEO).
  static std::string read_exact(int fd, std::size_t n, std::size_t chunk = 64 * 1024) {
    std::string out;
    std::vector<char> buf(chunk);
    while (out.size() < n) {
      ssize_t r = ::recv(fd, buf.data(), std::min(chunk, n - out.size()), 0);
      if (r <= 0) break;
      out.append(buf.data(), static_cast<std::size_t>(r));
    }
    return out;
  }
  // True if the next recv reports EOF (0), within the receive timeout.
  static bool reads_eof(int fd) {
    char c;
    return ::recv(fd, &c, 1, 0) == 0;
  }
  // True if nothing is waiting to be read right now.
  static bool nothing_to_read(int fd) {
    char c;
    ssize_t r = ::recv(fd, &c, 1, MSG_DONTWAIT);
    return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
  // Two loop iterations: whatever an earlier iteration wrote has been written.
  void settle() {
    run([] {});
    run([] {});
  }
};

TEST_F(ConnectionTest, CorkedEchoIsWrittenWithOneSend) {
  Probe& probe = this->probe();
  probe.on_read = [](Connection& c, std::string_view in) {
    // Three sends while handling input: gathered in the cork, written once.
    c.send("<");
    c.send(in);
    c.send(">");
  };
  connect(probe, SOCK_SEQPACKET);
  for (int i = 0; i < 10; ++i) {
    std::string msg = "message-" + std::to_string(i);
    ASSERT_EQ(::send(peer(), msg.data(), msg.size(), 0), static_cast<ssize_t>(msg.size()));
    char rec[256];
    ssize_t n = ::recv(peer(), rec, sizeof rec, 0);  // one record = one send() by the loop
    ASSERT_GT(n, 0);
    EXPECT_EQ(std::string_view(rec, static_cast<std::size_t>(n)), "<" + msg + ">");
  }
  settle();
  EXPECT_TRUE(nothing_to_read(peer()));  // no second, split-off record
  EXPECT_EQ(probe.reads.load(), 10);
  EXPECT_EQ(probe.closed.load(), 0);
}

TEST_F(ConnectionTest, PausedReadingHoldsInputUntilResumedButStillSeesThePeersEof) {
  Probe& probe = this->probe();
  probe.keep = true;
  TestConnection* c = connect(probe);
  run([&] { c->pause_reading(); });
  ASSERT_EQ(::send(peer(), "abc", 3, 0), 3);
  settle();
  EXPECT_EQ(probe.reads.load(), 0);  // left in the socket
  run([&] {
    EXPECT_TRUE(c->reading_paused());
    c->resume_reading();
  });
  ASSERT_TRUE(wait_until([&] { return probe.bytes_read.load() == 3; }));
  {
    std::lock_guard lock(probe.mu);
    EXPECT_EQ(probe.received, "abc");
  }
  // Paused again, the peer's EOF (behind unread input) still ends the connection.
  run([&] { c->pause_reading(); });
  ASSERT_EQ(::send(peer(), "def", 3, 0), 3);
  ::shutdown(peer(), SHUT_WR);
  ASSERT_TRUE(wait_until([&] { return probe.closed.load() == 1; }));
  EXPECT_EQ(probe.peer_closed.load(), 1);
  EXPECT_EQ(probe.bytes_read.load(), 3u);
}

TEST_F(ConnectionTest, SendsOutsideAReadAreFlushedTogetherAtTheEndOfTheIteration) {
  Probe& probe = this->probe();
  TestConnection* c = connect(probe, SOCK_SEQPACKET);
  BufferRef shared = BufferRef::copy_of("[shared]");
  run([&] {
    c->send("one,");
    c->send(shared, 1, 6);
    c->send(",two");
    EXPECT_EQ(c->queued_bytes(), 4u + 6u + 4u);  // queued, not yet written
  });
  char rec[256];
  ssize_t n = ::recv(peer(), rec, sizeof rec, 0);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string_view(rec, static_cast<std::size_t>(n)), "one,shared,two");  // one writev
  settle();
  EXPECT_TRUE(nothing_to_read(peer()));
  std::size_t queued = 1;
  run([&] { queued = c->queued_bytes(); });
  EXPECT_EQ(queued, 0u);
}

TEST_F(ConnectionTest, LargeWritesCompleteThroughEpolloutWhileThePeerReadsSlowly) {
  Probe& probe = this->probe();
  TestConnection* c = connect(probe);
  const std::string big = pattern(8 << 20, 1);
  const std::string copy = pattern(1 << 20, 2);
  BufferRef shared = BufferRef::copy_of(big);
  run([&] {
    c->send(shared, 0, big.size());
    c->send(copy);
    c->send("end");
  });
  // The kernel cannot hold 9 MiB for an AF_UNIX socket: the rest waits for EPOLLOUT.
  std::size_t queued = 0;
  run([&] { queued = c->queued_bytes(); });
  EXPECT_GT(queued, 1u << 20);
  // Read in small pieces so the writer is woken many times.
  const std::string got = read_exact(peer(), big.size() + copy.size() + 3, 4096);
  ASSERT_EQ(got.size(), big.size() + copy.size() + 3);
  EXPECT_TRUE(got.compare(0, big.size(), big) == 0);
  EXPECT_TRUE(got.compare(big.size(), copy.size(), copy) == 0);
  EXPECT_EQ(got.substr(big.size() + copy.size()), "end");
  EXPECT_TRUE(wait_until([&] {
    run([&] { queued = c->queued_bytes(); });
    return queued == 0;
  }));
  EXPECT_EQ(probe.closed.load(), 0);
}

TEST_F(ConnectionTest, CloseAfterFlushDeliversEveryQueuedByteThenEof) {
  Probe& probe = this->probe();
  TestConnection* c = connect(probe);
  const std::string data = pattern(4 << 20, 3);
  run([&] {
    c->send(data);
    c->close_after_flush(10'000);
    EXPECT_EQ(c->phase(), Connection::Phase::Flushing);
    c->send("tail");  // still accepted while flushing
  });
  // Input while closing is read and discarded, never handed to on_read.
  ASSERT_EQ(::send(peer(), "ignored", 7, 0), 7);
  const std::string got = read_exact(peer(), data.size() + 4);
  ASSERT_EQ(got.size(), data.size() + 4);
  EXPECT_TRUE(got.compare(0, data.size(), data) == 0);
  EXPECT_EQ(got.substr(data.size()), "tail");
  EXPECT_TRUE(reads_eof(peer()));  // the write side was shut down after the last byte
  EXPECT_EQ(probe.closed.load(), 0);  // lingering: waits for our EOF
  ::shutdown(peer(), SHUT_WR);
  EXPECT_TRUE(wait_until([&] { return probe.closed.load() == 1; }));
  settle();
  EXPECT_EQ(probe.closed.load(), 1);
  EXPECT_EQ(probe.reads.load(), 0);
  EXPECT_EQ(probe.peer_closed.load(), 0);  // EOF while closing is not "the peer closed"
}

TEST_F(ConnectionTest, CloseAfterFlushGivesUpAfterTheLingerTimeWhenThePeerStaysOpen) {
  Probe& probe = this->probe();
  TestConnection* c = connect(probe);
  run([&] {
    c->send("bye");
    c->close_after_flush(50);
  });
  EXPECT_EQ(read_exact(peer(), 3), "bye");
  EXPECT_TRUE(reads_eof(peer()));
  // The peer never closes: the linger timeout closes our side.
  EXPECT_TRUE(wait_until([&] { return probe.closed.load() == 1; }, 3s));
}

TEST_F(ConnectionTest, CloseAfterFlushIsBoundedWhenThePeerNeverReads) {
  Probe& probe = this->probe();
  TestConnection* c = connect(probe);
  const std::string data = pattern(4 << 20);
  run([&] {
    c->send(data);
    c->close_after_flush(100);
  });
  EXPECT_TRUE(wait_until([&] { return probe.closed.load() == 1; }, 3s));
  settle();
  EXPECT_EQ(probe.closed.load(), 1);
}

TEST_F(ConnectionTest, CloseNowDropsQueuedOutputAndClosesOnce) {
  Probe& probe = this->probe();
  TestConnection* c = connect(probe);
  run([&] {
    c->send("never written");
    c->close_now();
    c->close_now();
    c->close_after_flush(1000);  // too late: already closing
    EXPECT_EQ(probe.closed.load(), 0);  // not inside the callback, at the end of the iteration
  });
  EXPECT_TRUE(reads_eof(peer()));  // EOF with no data before it
  settle();
  EXPECT_EQ(probe.closed.load(), 1);
}

TEST_F(ConnectionTest, PeerEofClosesTheConnectionOnce) {
  Probe& probe = this->probe();
  connect(probe);
  ::shutdown(peer(), SHUT_WR);
  EXPECT_TRUE(wait_until([&] { return probe.closed.load() == 1; }));
  settle();
  EXPECT_EQ(probe.peer_closed.load(), 1);
  EXPECT_EQ(probe.closed.load(), 1);
  EXPECT_TRUE(reads_eof(peer()));
}

TEST_F(ConnectionTest, LargeInputArrivesCompleteAcrossManyReads) {
  Probe& probe = this->probe();
  std::string received;  // loop thread only
  probe.on_read = [&](Connection&, std::string_view in) { received.append(in); };
  connect(probe);
  const std::string data = pattern(3 << 20, 5);
  std::size_t off = 0;
  while (off < data.size()) {  // blocking writes; the loop reads concurrently
    ssize_t w = ::send(peer(), data.data() + off, data.size() - off, 0);
    ASSERT_GT(w, 0);
    off += static_cast<std::size_t>(w);
  }
  EXPECT_TRUE(wait_until([&] { return probe.bytes_read.load() == data.size(); }));
  std::string copy;
  run([&] { copy = received; });
  EXPECT_TRUE(copy == data);
  EXPECT_GT(probe.reads.load(), 1);
}

TEST_F(ConnectionTest, ForEachAndCountSeeTheConnectionsOfThisThreadOnly) {
  Probe& probe = this->probe();
  std::vector<TestConnection*> conns;
  for (int i = 0; i < 5; ++i) conns.push_back(connect(probe));
  EXPECT_EQ(Connection::count_on_this_thread(), 0u);  // the test thread owns none
  std::size_t count = 0;
  std::set<int> fds;
  run([&] {
    count = Connection::count_on_this_thread();
    Connection::for_each_on_this_thread([&](Connection& c) { fds.insert(c.fd()); });
  });
  EXPECT_EQ(count, 5u);
  std::set<int> expected;
  for (TestConnection* c : conns) expected.insert(c->fd());  // fds are stable while open
  EXPECT_EQ(fds, expected);

  // fn may close the connection it is given.
  run([&] {
    Connection::for_each_on_this_thread([](Connection& c) { c.close_now(); });
    EXPECT_EQ(Connection::count_on_this_thread(), 5u);  // closed at the end of the iteration
  });
  EXPECT_TRUE(wait_until([&] { return probe.closed.load() == 5; }));
  run([&] { count = Connection::count_on_this_thread(); });
  EXPECT_EQ(count, 0u);
  for (std::size_t i = 0; i < 5; ++i) EXPECT_TRUE(reads_eof(peer(i)));
}

TEST_F(ConnectionTest, DeletingAnOpenConnectionClosesItsSocket) {
  // What the server does with connections still open when a loop stops.
  Probe& probe = this->probe();
  TestConnection* c = connect(probe);
  std::size_t count = 1;
  run([&] {
    delete c;
    count = Connection::count_on_this_thread();
  });
  EXPECT_EQ(count, 0u);
  EXPECT_TRUE(reads_eof(peer()));
}

TEST_F(ConnectionTest, OnDrainedOnceWhenQueuedBytesFallBackToTheThreshold) {
  Probe& probe = this->probe();
  TestConnection* c = connect(probe);
  run([&] { c->set_drain_threshold(64 * 1024); });
  const std::string data = pattern(2 << 20);
  run([&] { c->send(data); });
  std::size_t queued = 0;
  run([&] { queued = c->queued_bytes(); });
  ASSERT_GT(queued, 64u * 1024);  // above the threshold: the peer has not read yet
  EXPECT_EQ(probe.drained.load(), 0);
  ASSERT_EQ(read_exact(peer(), data.size()).size(), data.size());
  EXPECT_TRUE(wait_until([&] { return probe.drained.load() >= 1; }));
  settle();
  EXPECT_EQ(probe.drained.load(), 1);

  // A small send that never passes the threshold does not report a drain.
  run([&] { c->send("small"); });
  EXPECT_EQ(read_exact(peer(), 5), "small");
  settle();
  EXPECT_EQ(probe.drained.load(), 1);

  // A second backlog, a second drain.
  run([&] { c->send(data); });
  ASSERT_EQ(read_exact(peer(), data.size()).size(), data.size());
  EXPECT_TRUE(wait_until([&] { return probe.drained.load() == 2; }));
  settle();
  EXPECT_EQ(probe.drained.load(), 2);
}

TEST_F(ConnectionTest, EchoQueuedBehindABacklogKeepsItsOrder) {
  // While output is queued, a read is not corked: the echo must go behind the backlog.
  Probe& probe = this->probe();
  probe.on_read = [](Connection& c, std::string_view in) { c.send(in); };
  TestConnection* c = connect(probe);
  const std::string data = pattern(2 << 20, 9);
  run([&] { c->send(data); });
  ASSERT_EQ(::send(peer(), "ECHO", 4, 0), 4);
  EXPECT_TRUE(wait_until([&] { return probe.reads.load() == 1; }));
  const std::string got = read_exact(peer(), data.size() + 4);
  ASSERT_EQ(got.size(), data.size() + 4);
  EXPECT_TRUE(got.compare(0, data.size(), data) == 0);
  EXPECT_EQ(got.substr(data.size()), "ECHO");
}

// A send while handling input goes to the cork; if the cork's one send() is partial, the
// rest is queued as a new slice that starts mid-frame but is flagged as a frame start
// with nothing written of it. The peer does not read, so nothing more of it is written.

TEST_F(ConnectionTest, ControlFrameDoesNotSplitTheRestOfAPartlyWrittenCorkedSend) {
  Probe& probe = this->probe();
  const std::string big = pattern(4 << 20, 11);  // far more than an AF_UNIX socket holds
  probe.on_read = [&](Connection& c, std::string_view) { c.send(big); };
  TestConnection* c = connect(probe);
  ASSERT_EQ(::send(peer(), "go", 2, 0), 2);
  ASSERT_TRUE(wait_until([&] { return probe.reads.load() == 1; }));
  settle();
  std::size_t queued = 0;
  run([&] {
    queued = c->queued_bytes();
    c->send_control("<CONTROL>");  // e.g. a pong: may go before unstarted frames only
  });
  ASSERT_GT(queued, 0u);
  ASSERT_LT(queued, big.size());  // part of the frame is already in the socket
  const std::string got = read_exact(peer(), big.size() + 9);
  ASSERT_EQ(got.size(), big.size() + 9);
  EXPECT_TRUE(got.compare(0, big.size(), big) == 0) << "the control frame was written inside the frame";
  EXPECT_EQ(got.substr(big.size()), "<CONTROL>");
}

TEST_F(ConnectionTest, DropOldestDoesNotDropTheRestOfAPartlyWrittenCorkedSend) {
  Probe& probe = this->probe();
  const std::string big = pattern(4 << 20, 12);
  probe.on_read = [&](Connection& c, std::string_view) { c.send(big); };
  TestConnection* c = connect(probe);
  ASSERT_EQ(::send(peer(), "go", 2, 0), 2);
  ASSERT_TRUE(wait_until([&] { return probe.reads.load() == 1; }));
  settle();
  std::size_t dropped = 1;
  run([&] { dropped = c->queue().drop_oldest_frames(0); });
  EXPECT_EQ(dropped, 0u) << "the tail of a frame whose head was written is not droppable";
  const std::string got = read_exact(peer(), big.size());
  EXPECT_EQ(got.size(), big.size());
  EXPECT_TRUE(got == big);
}


// send(head, body) with a large body while corked goes out with one sendmsg from where
// the bytes are (cork, head, body); what the socket does not take is queued. An AF_UNIX
// socket holds a few hundred KiB, so 4 MiB bodies come up short every time.
TEST_F(ConnectionTest, LargeCorkedFrameWrittenShortInsideItsBodyIsQueuedAsStartedAndArrivesWhole) {
  Probe& probe = this->probe();
  const std::string head = "HEAD";
  const std::string body = pattern(4 << 20, 13);
  probe.on_read = [&](Connection& c, std::string_view) { c.send(head, body); };
  TestConnection* c = connect(probe);
  ASSERT_EQ(::send(peer(), "go", 2, 0), 2);
  ASSERT_TRUE(wait_until([&] { return probe.reads.load() == 1; }));
  settle();
  std::size_t queued = 0, dropped = 1;
  run([&] {
    queued = c->queued_bytes();
    dropped = c->queue().drop_oldest_frames(0);
  });
  ASSERT_GT(queued, 0u);
  ASSERT_LT(queued, body.size());  // part of the body is in the socket already
  EXPECT_EQ(dropped, 0u) << "the rest of a frame already partly written is not droppable";
  const std::string got = read_exact(peer(), head.size() + body.size());
  ASSERT_EQ(got.size(), head.size() + body.size());
  EXPECT_TRUE(got == head + body);
}

TEST_F(ConnectionTest, LargeCorkedFrameBehindCorkedBytesWrittenShortInsideThemKeepsOrderAndStaysDroppable) {
  Probe& probe = this->probe();
  const std::string first = pattern(2 << 20, 14);  // corked: the socket cannot take it all
  const std::string head = "HEAD";
  const std::string body = pattern(1 << 20, 15);
  std::size_t dropped = 99;
  bool drop = false;
  probe.on_read = [&](Connection& c, std::string_view) {
    c.send(first);
    c.send(head, body);  // written only if the socket takes all of `first` first
    if (drop) dropped = c.queue().drop_oldest_frames(0);
  };
  TestConnection* c = connect(probe);
  (void)c;
  ASSERT_EQ(::send(peer(), "go", 2, 0), 2);
  ASSERT_TRUE(wait_until([&] { return probe.reads.load() == 1; }));
  std::string got = read_exact(peer(), first.size() + head.size() + body.size());
  ASSERT_EQ(got.size(), first.size() + head.size() + body.size());
  EXPECT_TRUE(got.compare(0, first.size(), first) == 0);
  EXPECT_TRUE(got.compare(first.size(), std::string::npos, head + body) == 0);

  // Again, dropping what can be dropped right after: the rest of the corked bytes has
  // started and stays; the large frame has not started and goes, as one frame.
  drop = true;
  ASSERT_EQ(::send(peer(), "go", 2, 0), 2);
  ASSERT_TRUE(wait_until([&] { return probe.reads.load() == 2; }));
  settle();
  EXPECT_EQ(dropped, 1u);
  got = read_exact(peer(), first.size());
  EXPECT_TRUE(got == first);
  EXPECT_TRUE(nothing_to_read(peer()));
}

}  // namespace
}  // namespace wirehub::net
