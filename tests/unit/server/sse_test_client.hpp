#pragma once
// A blocking Server-Sent Events client for the server tests: one GET, then everything the
// server sends after it.

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "test_support.hpp"

namespace wirehub::test {

using namespace std::chrono_literals;

// A blocking client that sends one GET and keeps everything the server sends after it.
class SseClient {
 public:
  explicit SseClient(std::uint16_t port, std::string_view target = "/sse", std::string_view headers = {},
                     int rcvbuf = 0) {
    fd_ = test::connect_loopback(port, rcvbuf);
    if (fd_ < 0) return;
    test::send_all(fd_, "GET " + std::string(target) + " HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n" +
                            std::string(headers) + "\r\n");
  }
  ~SseClient() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd() const { return fd_; }

  // Reads until pred(all bytes so far) holds, EOF, or the deadline.
  template <class Pred>
  bool read_until(Pred pred, std::chrono::milliseconds limit = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred(in_)) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
      if (left <= 0 || eof_) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      char buf[65536];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        eof_ = true;
        continue;
      }
      in_.append(buf, static_cast<std::size_t>(n));
    }
    return true;
  }
  bool read_until_text(std::string_view s) {
    return read_until([s](const std::string& in) { return in.find(s) != std::string::npos; });
  }
  bool read_until_eof(std::chrono::milliseconds limit = 5s) {
    read_until([](const std::string&) { return false; }, limit);
    return eof_;
  }
  // The data of every complete event after the head (one data line each in these tests).
  std::vector<std::string> events() const {
    std::vector<std::string> out;
    std::size_t pos = in_.find("\r\n\r\n");
    if (pos == std::string::npos) return out;
    pos += 4;
    for (std::size_t end; (end = in_.find("\n\n", pos)) != std::string::npos; pos = end + 2) {
      std::string_view block(in_.data() + pos, end - pos);
      std::size_t d = block.find("data: ");
      if (d != std::string_view::npos && (d == 0 || block[d - 1] == '\n')) {
        std::string_view rest = block.substr(d + 6);
        out.emplace_back(rest.substr(0, rest.find('\n')));
      }
    }
    return out;
  }
  bool has_events(std::size_t n) { return read_until([&](const std::string&) { return events().size() >= n; }); }
  const std::string& bytes() const { return in_; }

 private:
  int fd_ = -1;
  std::string in_;
  bool eof_ = false;
};

}  // namespace wirehub::test
