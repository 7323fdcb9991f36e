#include "worker.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "wire.hpp"
#include "ws_client.hpp"

namespace wirehub::bench {

std::uint64_t mono_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

// One non-blocking connect() in progress: waits for the socket to become writable, then
// hands it to the worker, which builds the client (and registers the fd again, as a
// Connection). Lives on the worker's intrusive list so a forced stop can free it.
class Dialer final : public loop::Watcher, public loop::Timer, public loop::Disposable {
 public:
  static constexpr std::uint64_t kConnectTimeoutMs = 5'000;

  Dialer(Worker& w, int fd, std::size_t global_index, std::uint64_t start_ns)
      : worker_(w), fd_(fd), global_(global_index), start_ns_(start_ns) {
    worker_.loop_.add(fd_, EPOLLOUT, this);
    worker_.loop_.timers().arm(*this, worker_.loop_.now_ms(), kConnectTimeoutMs);
    next_ = w.dialers_;
    if (next_) next_->prev_ = this;
    w.dialers_ = this;
  }
  ~Dialer() override {
    worker_.loop_.timers().cancel(*this);
    if (fd_ >= 0) {
      worker_.loop_.remove(fd_);
      ::close(fd_);
    }
    unlink();
  }
  std::size_t global_index() const noexcept { return global_; }
  std::uint64_t start_ns() const noexcept { return start_ns_; }

 private:
  void on_events(std::uint32_t) override {
    if (fd_ < 0) return;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err == EINPROGRESS || err == EALREADY) return;  // not done yet
    finish(err);
  }
  void on_timer() override { finish(ETIMEDOUT); }

  void finish(int err) {
    const int fd = fd_;
    fd_ = -1;
    worker_.loop_.remove(fd);
    worker_.loop_.timers().cancel(*this);
    unlink();
    if (err != 0) ::close(fd);
    worker_.dial_done(*this, err == 0 ? fd : -1, err);
    worker_.loop_.dispose(this);
  }
  void unlink() noexcept {
    if (prev_) prev_->next_ = next_;
    else if (worker_.dialers_ == this) worker_.dialers_ = next_;
    if (next_) next_->prev_ = prev_;
    prev_ = next_ = nullptr;
  }

  Worker& worker_;
  int fd_;
  std::size_t global_;
  std::uint64_t start_ns_;
  Dialer* prev_ = nullptr;
  Dialer* next_ = nullptr;
};

Worker::Worker(WorkerConfig cfg)
    : cfg_(std::move(cfg)),
      // Large echoes arrive in big reads; a 256 KiB read buffer per thread is plenty.
      loop_(256 * 1024),
      scratch_(new char[cfg_.max_frame + 64]),
      rng_(random_seed()) {
  loop_.set_index(cfg_.index);
}

Worker::~Worker() { loop_.timers().cancel(*this); }

std::uint64_t Worker::next_random() noexcept {
  // splitmix64: each client seeds its own xorshift from this.
  std::uint64_t z = (rng_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void Worker::note_error(std::string_view what) {
  if (first_error_.empty()) first_error_ = std::string(what);
}

void Worker::run() {
  // Dial from inside the first iteration: what a new connection defers (its upgrade
  // request's flush) only runs at the end of an iteration, and before run() that would
  // wait for the first epoll_wait to time out.
  loop_.post([this] {
    refresh_clock();
    dial_start_ns_ = now_ns_;
    pump_dials();
    check_done();
  });
  loop_.run();
  // A forced stop leaves connections behind: they count as failed closes.
  std::size_t left = 0;
  net::Connection::for_each_on_this_thread([&](net::Connection& c) {
    ++left;
    delete &c;
  });
  if (left) {
    stats_.close_errors.add(left);
    note_error("close: connections still open when the run was stopped");
  }
  while (dialers_) delete dialers_;
  loop_.timers().cancel(*this);
  finished_.store(true, std::memory_order_release);
}

void Worker::set_window(std::uint64_t start_ns, std::uint64_t end_ns) noexcept {
  window_start_ns_ = start_ns;
  window_end_ns_ = end_ns;
}

void Worker::stop_sending() {
  sending_ = false;
  on_stop_sending();
}

void Worker::close_all() {
  sending_ = false;
  closing_ = true;
  net::Connection::for_each_on_this_thread([](net::Connection& c) { static_cast<WsClient&>(c).close_gracefully(); });
  check_done();
}

void Worker::check_done() {
  if (closing_ && dialers_ == nullptr && net::Connection::count_on_this_thread() == 0) loop_.stop();
}

void Worker::pump_dials() {
  if (closing_) return;
  std::size_t allowed = cfg_.connections;
  if (cfg_.dial_rate > 0) {
    const double elapsed = static_cast<double>(mono_ns() - dial_start_ns_) / 1e9;
    const auto budget = static_cast<std::size_t>(cfg_.dial_rate * elapsed) + 1;
    if (budget < allowed) allowed = budget;
  }
  while (dialed_ < allowed && pending_ < cfg_.max_pending) dial_one();
  // Paced dialing wakes itself; a full pending set resumes as handshakes finish.
  if (dialed_ < cfg_.connections && pending_ < cfg_.max_pending && !armed())
    loop_.timers().arm(*this, loop_.now_ms(), loop::TimerWheel::kTickMs);
}

void Worker::on_timer() { pump_dials(); }

void Worker::dial_one() {
  const std::size_t global = dialed_ * cfg_.workers + cfg_.index;
  ++dialed_;
  ++pending_;
  stats_.dials.add();
  const std::uint64_t start = mono_ns();
  std::uint64_t expected = 0;
  first_dial_ns_.compare_exchange_strong(expected, start, std::memory_order_relaxed);

  const net::Address& a = cfg_.target_for(global).address;
  int fd = ::socket(a.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  auto failed = [&](const char* what) {
    const int e = errno;
    if (fd >= 0) ::close(fd);
    --pending_;
    stats_.connect_errors.add();
    note_error(std::string("connect: ") + what + ": " + std::strerror(e));
  };
  if (fd < 0) return failed("socket");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (cfg_.source_ips > 1 && a.storage.ss_family == AF_INET) {
    // The 4-tuple limit is per source address: spreading over 127.0.0.x multiplies the
    // ~28k ephemeral ports. IP_BIND_ADDRESS_NO_PORT defers the port choice to connect(),
    // which can then reuse a port towards a different destination.
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl((127u << 24) | static_cast<std::uint32_t>(1 + global % cfg_.source_ips));
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&src), sizeof src) < 0) return failed("bind");
  }
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&a.storage), a.length) < 0) {
    if (errno != EINPROGRESS) return failed("connect");
    // On loopback the kernel usually runs the whole three-way handshake inside connect()
    // even though it reports EINPROGRESS; when it did, skip the Dialer and its three
    // epoll_ctl calls and one wake-up (a quarter of a handshake's syscalls).
    sockaddr_storage peer;
    socklen_t len = sizeof peer;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) {
      new Dialer(*this, fd, global, start);
      return;
    }
  }
  WsClient* c = make_client(fd, global, start);
  c->set_target(cfg_.target_for(global));
  c->start_handshake();
}

void Worker::dial_done(Dialer& d, int fd, int error) {
  if (fd < 0) {
    --pending_;
    if (!closing_) {
      stats_.connect_errors.add();
      note_error(std::string("connect: ") + std::strerror(error));
    }
    pump_dials();
    check_done();
    return;
  }
  if (closing_) {
    ::close(fd);
    --pending_;
    check_done();
    return;
  }
  // The client now owns the fd; pending_ drops when its handshake ends either way.
  WsClient* c = make_client(fd, d.global_index(), d.start_ns());
  c->set_target(cfg_.target_for(d.global_index()));
  c->start_handshake();
}

void Worker::client_opened(WsClient& c) {
  --pending_;
  stats_.opened.add();
  stats_.open.add();
  last_open_ns_.store(now_ns_, std::memory_order_relaxed);
  on_client_open(c);
  pump_dials();
}

void Worker::client_closed(WsClient&, bool was_pending) {
  if (was_pending) {
    --pending_;
    pump_dials();
  }
  check_done();
}

}  // namespace wirehub::bench
