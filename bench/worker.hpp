#pragma once
// Worker: one generator thread — an event loop, the client connections it owns, and the
// counters and histograms only it writes.
//
// The main thread never touches a connection: it reads the counters (single-writer
// atomics), and steers a worker with a handful of posted tasks per run (set the
// measurement window, stop sending, close everything). Each mode subclasses Worker to
// say which client to build for each connection and what "stop sending" means.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/counter.hpp"
#include "histogram.hpp"
#include "loop/event_loop.hpp"
#include "target.hpp"

namespace wirehub::bench {

class WsClient;
class Dialer;

// Monotonic nanoseconds (CLOCK_MONOTONIC, the clock every worker and the main thread share).
std::uint64_t mono_ns() noexcept;

// Counters of one worker. Written by its loop thread only, read by anyone.
struct WorkerStats {
  Counter dials;             // connect() calls made
  Counter opened;            // handshakes completed
  Counter open;              // connections open right now (gauge)
  Counter connect_errors;    // TCP connect failed or timed out
  Counter handshake_errors;  // bad or missing 101 response, or the connection died in it
  Counter protocol_errors;   // the server broke RFC 6455 framing
  Counter dropped;           // an open connection ended without our close handshake
  Counter mismatches;        // a message that is not what was expected
  Counter close_errors;      // our close handshake did not complete cleanly
  Counter closed_clean;      // close handshakes completed
  Counter sent;              // data messages sent
  Counter received;          // data messages received (all, including warm-up)
  Counter window_received;   // ... whose arrival fell in the measurement window
  Counter window_completed;  // broadcast: messages that reached every subscriber in the window
  Counter pings;             // server pings answered
  Counter abandoned;         // messages still awaited when their connection ended

  std::uint64_t errors() const noexcept {
    return connect_errors.get() + handshake_errors.get() + protocol_errors.get() + dropped.get() +
           mismatches.get() + close_errors.get();
  }
};

struct WorkerConfig {
  Target target;
  // broadcast --also-url: connection i goes to target when i % (1 + more_targets.size())
  // is 0, else to more_targets[that - 1] (connection 0, the publisher, to target).
  std::vector<Target> more_targets;
  const Target& target_for(std::size_t global_index) const noexcept {
    const std::size_t k = global_index % (1 + more_targets.size());
    return k == 0 ? target : more_targets[k - 1];
  }
  unsigned index = 0;         // this worker's position
  unsigned workers = 1;       // how many workers share the connections round-robin
  std::size_t connections = 0;  // connections this worker opens
  unsigned source_ips = 1;    // bind to 127.0.0.(1 + n % source_ips) when > 1
  double dial_rate = 0;       // connects per second for this worker; 0 = as fast as possible
  std::size_t max_pending = 256;  // connects + handshakes in progress at once
  std::size_t max_frame = 0;  // largest frame this worker's clients send
};

class Worker : private loop::Timer {
 public:
  explicit Worker(WorkerConfig cfg);
  ~Worker() override;
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Thread body: starts dialing, runs the loop until close_all() has finished (or the
  // loop is stopped from outside), then frees whatever is left.
  void run();
  // Thread-safe: the worker's loop, for posting.
  loop::EventLoop& loop() noexcept { return loop_; }
  const Target& target() const noexcept { return cfg_.target; }
  bool finished() const noexcept { return finished_.load(std::memory_order_acquire); }

  // --- steering, each posted to the loop by the main thread ---------------------------
  // Samples arriving at a time in [start, end) are measured.
  void set_window(std::uint64_t start_ns, std::uint64_t end_ns) noexcept;
  // No new data messages from now on; what is in flight may still arrive.
  void stop_sending();
  // Stops dialing and runs the close handshake on every connection; the loop stops once
  // all are closed.
  void close_all();

  // --- for clients (loop thread) ------------------------------------------------------
  WorkerStats& stats() noexcept { return stats_; }
  const WorkerStats& stats() const noexcept { return stats_; }
  Histogram& latency() noexcept { return latency_; }
  Histogram& completion() noexcept { return completion_; }
  Histogram& handshake() noexcept { return handshake_; }
  const Histogram& latency() const noexcept { return latency_; }
  const Histogram& completion() const noexcept { return completion_; }
  const Histogram& handshake() const noexcept { return handshake_; }

  // The time of the read being handled (refreshed once per read, not per message).
  std::uint64_t now_ns() const noexcept { return now_ns_; }
  std::uint64_t refresh_clock() noexcept { return now_ns_ = mono_ns(); }
  bool in_window(std::uint64_t t) const noexcept { return t >= window_start_ns_ && t < window_end_ns_; }
  bool sending() const noexcept { return sending_; }
  bool closing() const noexcept { return closing_; }
  // Room for a frame of up to WorkerConfig::max_frame bytes; the worker's clients take
  // turns with it, since Connection::send copies what it is given.
  char* scratch() noexcept { return scratch_.get(); }
  std::uint64_t next_random() noexcept;

  // Keeps the first error's description for the report.
  void note_error(std::string_view what);
  const std::string& first_error() const noexcept { return first_error_; }
  // Times of the first connect() and of the last completed handshake (0 = none yet).
  std::uint64_t first_dial_ns() const noexcept { return first_dial_ns_.load(std::memory_order_relaxed); }
  std::uint64_t last_open_ns() const noexcept { return last_open_ns_.load(std::memory_order_relaxed); }

  // Client life-cycle reports (WsClient calls these).
  void client_opened(WsClient& c);
  void client_closed(WsClient& c, bool was_pending);

 protected:
  // Builds the client for connection number global_index (0-based over all workers) on
  // the connected socket fd, whose connect() began at dial_start_ns.
  virtual WsClient* make_client(int fd, std::size_t global_index, std::uint64_t dial_start_ns) = 0;
  // Mode hooks, on the loop thread.
  virtual void on_client_open(WsClient&) {}
  virtual void on_stop_sending() {}

  const WorkerConfig& config() const noexcept { return cfg_; }

 private:
  friend class Dialer;
  void on_timer() override;
  // Starts as many connects as the rate and the pending cap allow.
  void pump_dials();
  void dial_one();
  void dial_done(Dialer& d, int fd, int error);
  void check_done();

  WorkerConfig cfg_;
  loop::EventLoop loop_;
  WorkerStats stats_;
  Histogram latency_, completion_, handshake_;
  std::unique_ptr<char[]> scratch_;
  std::uint64_t rng_;
  std::uint64_t now_ns_ = 0;
  std::uint64_t window_start_ns_ = ~std::uint64_t{0}, window_end_ns_ = ~std::uint64_t{0};
  std::uint64_t dial_start_ns_ = 0;
  std::size_t dialed_ = 0;   // connects started
  std::size_t pending_ = 0;  // dials and handshakes in progress
  Dialer* dialers_ = nullptr;  // intrusive list of connects in progress
  bool sending_ = true;
  bool closing_ = false;
  std::atomic<bool> finished_{false};
  std::atomic<std::uint64_t> first_dial_ns_{0}, last_open_ns_{0};
  std::string first_error_;
};

}  // namespace wirehub::bench
