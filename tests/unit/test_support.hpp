#pragma once
// Helpers every unit test binary uses: counting this process's file descriptors (each
// test that opens sockets ends with the count it started with), waiting for a condition
// with a deadline instead of sleeping and hoping, and reading a socket to its end.

#include <dirent.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
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

}  // namespace wirehub::test
