#pragma once
// Helpers every unit test binary uses: counting this process's file descriptors (each
// test that opens sockets ends with the count it started with), waiting for a condition
// with a deadline instead of sleeping and hoping, and plain blocking client sockets:
// connecting to a loopback port, sending everything, reading a socket to its end.

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>

namespace wirehub::test {

// Entries of /proc/self/fd; max_fd, when given, receives the highest descriptor number.
inline int open_fd_count(int* max_fd = nullptr) {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0;
  int hi = -1;
  while (dirent* e = readdir(d)) {
    ++n;
    if (e->d_name[0] != '.') hi = std::max(hi, std::atoi(e->d_name));
  }
  closedir(d);
  if (max_fd) *max_fd = hi;
  return n;
}

// Polls pred every millisecond; false if it did not hold within limit.
template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Everything a socket receives until EOF, an error, or quiet_ms without a byte.
inline std::string read_until_eof(int fd, int quiet_ms = 5000) {
  std::string out;
  char buf[4096];
  pollfd p{fd, POLLIN, 0};
  while (::poll(&p, 1, quiet_ms) > 0) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

// A blocking TCP socket connected to 127.0.0.1:port (-1 on failure). rcvbuf > 0 shrinks
// its receive buffer first: a small TCP window, as a slow consumer has.
inline int connect_loopback(std::uint16_t port, int rcvbuf = 0) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Sends all of bytes, in writes of at most 4 KiB (so a large body spans the server's
// reads); false on an error.
inline bool send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t w = ::send(fd, bytes.data(), std::min<std::size_t>(bytes.size(), 4096), MSG_NOSIGNAL);
    if (w <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(w));
  }
  return true;
}

// Sends request on a fresh connection and returns everything the server sends back until
// it closes (see read_until_eof).
inline std::string exchange(std::uint16_t port, std::string_view request) {
  const int fd = connect_loopback(port);
  if (fd < 0) return {};
  std::string out;
  if (send_all(fd, request)) out = read_until_eof(fd);
  ::close(fd);
  return out;
}

}  // namespace wirehub::test
