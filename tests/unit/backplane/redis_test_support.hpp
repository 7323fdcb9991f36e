#pragma once
// What the Redis tests share: a real redis-server of the test's own on a free port
// (started, killed, restarted on the same port, stopped and continued), a blocking
// client over RedisConnection for checking what Redis sees, and a log capture.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "backplane/redis_connection.hpp"
#include "loop/event_loop.hpp"
#include "test_support.hpp"

extern char** environ;

namespace wirehub::test {

// The redis-server binary on PATH (or Debian's path); empty when there is none.
inline std::string redis_server_binary() {
  if (::access("/usr/bin/redis-server", X_OK) == 0) return "/usr/bin/redis-server";
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "";
  std::size_t start = 0;
  while (start <= p.size()) {
    const std::size_t end = std::min(p.find(':', start), p.size());
    std::string candidate = p.substr(start, end - start) + "/redis-server";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return {};
}

// Runs f on loop's thread and returns once it has run (the loop must be running).
template <class F>
void run_on(loop::EventLoop& loop, F& f) {
  std::promise<void> done;
  loop.post([&] {
    f();
    done.set_value();
  });
  done.get_future().wait();
}

// A loopback port nothing listens on at the time of the call.
inline std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// True when something on port answers a RESP PING (+PONG, or an error such as NOAUTH).
inline bool redis_answers(std::uint16_t port) {
  const int fd = connect_loopback(port);
  if (fd < 0) return false;
  bool ok = false;
  if (send_all(fd, "PING\r\n")) {
    pollfd p{fd, POLLIN, 0};
    char c = 0;
    ok = ::poll(&p, 1, 200) > 0 && ::recv(fd, &c, 1, 0) == 1 && (c == '+' || c == '-');
  }
  ::close(fd);
  return ok;
}

// One redis-server process: --port P --save '' --appendonly no --bind 127.0.0.1, plus
// the test's arguments. The port is chosen once, so restart() comes back on the same one.
class RedisServer {
 public:
  explicit RedisServer(std::vector<std::string> extra = {}) : extra_(std::move(extra)), port_(free_port()) {}
  ~RedisServer() { kill(); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // Starts it and waits until it answers PING; on failure, error() says why.
  bool start() {
    const std::string bin = redis_server_binary();
    if (bin.empty()) {
      error_ = "redis-server is not installed (Debian package redis-server; scripts/install-deps installs it)";
      return false;
    }
    std::vector<std::string> args = {bin, "--port", std::to_string(port_), "--save", "", "--appendonly", "no",
                                     "--bind", "127.0.0.1", "--daemonize", "no"};
    args.insert(args.end(), extra_.begin(), extra_.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    const int rc = posix_spawn(&pid_, bin.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
      pid_ = -1;
      error_ = "cannot run " + bin;
      return false;
    }
    const bool up = wait_until(
        [&] {
          int status = 0;
          if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return true;  // exited: reported below
          }
          return redis_answers(port_);
        },
        std::chrono::seconds(10));
    if (!up || pid_ < 0) {
      error_ = "redis-server did not answer PING on port " + std::to_string(port_);
      kill();
      return false;
    }
    return true;
  }

  // SIGKILL, and reaped before this returns: the server is gone for certain. A stopped
  // server dies stopped (SIGKILL needs no SIGCONT), so it answers nothing more.
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  void pause() { ::kill(pid_, SIGSTOP); }
  void resume() { ::kill(pid_, SIGCONT); }

  std::uint16_t port() const noexcept { return port_; }
  const std::string& error() const noexcept { return error_; }

 private:
  std::vector<std::string> extra_;
  std::uint16_t port_;
  pid_t pid_ = -1;
  std::string error_;
};

// A RedisConnection on a loop thread of its own, used blocking: call() waits for the reply.
class RedisClient {
 public:
  explicit RedisClient(backplane::RedisEndpoint ep) {
    thread_ = std::thread([this] { loop_.run(); });
    on_loop([&] {
      conn_ = std::make_unique<backplane::RedisConnection>(loop_, ep);
      conn_->set_handlers([this] { up_.store(true); }, [this](std::string_view) { up_.store(false); });
      conn_->connect();
    });
  }
  ~RedisClient() {
    on_loop([&] { conn_.reset(); });
    loop_.stop();
    thread_.join();
  }

  bool wait_up() { return wait_until([&] { return up_.load(); }); }

  // The reply, or nullopt when there was none within 5 s (or the connection is down).
  std::optional<backplane::RedisValue> call(std::vector<std::string> args) {
    auto done = std::make_shared<std::promise<std::optional<backplane::RedisValue>>>();
    auto result = done->get_future();
    loop_.post([this, args = std::move(args), done] {
      const std::vector<std::string_view> argv(args.begin(), args.end());
      const bool sent = conn_->command(argv, [done](const backplane::RedisValue* r) {
        done->set_value(r ? std::optional<backplane::RedisValue>(*r) : std::nullopt);
      });
      if (!sent) done->set_value(std::nullopt);
    });
    if (result.wait_for(std::chrono::seconds(5)) != std::future_status::ready) return std::nullopt;
    return result.get();
  }

 private:
  template <class F>
  void on_loop(F f) {
    run_on(loop_, f);
  }

  loop::EventLoop loop_;
  std::unique_ptr<backplane::RedisConnection> conn_;
  std::atomic<bool> up_{false};
  std::thread thread_;
};

inline backplane::RedisEndpoint endpoint_of(const RedisServer& s) {
  backplane::RedisEndpoint ep;
  ep.port = s.port();
  return ep;
}

// Copies of the default logger's messages while it lives.
class LogCapture {
 public:
  LogCapture() : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1000)) {
    spdlog::default_logger()->sinks().push_back(sink_);
  }
  ~LogCapture() {
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
  }
  // How many captured lines contain every one of the words.
  std::size_t count(std::initializer_list<std::string_view> words) const {
    std::size_t n = 0;
    for (const std::string& line : sink_->last_formatted()) {
      bool all = true;
      for (std::string_view w : words) all = all && line.find(w) != std::string::npos;
      n += all ? 1 : 0;
    }
    return n;
  }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
};

}  // namespace wirehub::test
