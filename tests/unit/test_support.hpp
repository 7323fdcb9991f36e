#pragma once
// Helpers every unit test binary uses: counting this process's file descriptors (each
// test that opens sockets ends with the count it started with) and waiting for a
// condition with a deadline instead of sleeping and hoping.

#include <dirent.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
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

}  // namespace wirehub::test
