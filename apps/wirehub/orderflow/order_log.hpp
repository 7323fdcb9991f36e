#pragma once
// OrderLog: this node's link to the order log every node shares, a Redis Stream (ADR 0011
// section 4; the commands and the script are in order_log_wire.hpp).
//
// It runs an EventLoop on a thread of its own with two RedisConnections:
//  - the appender sends the orders this node accepted (they wait in the store's durable
//    outbox, and in the same order in `queue_` here) with the append script, pipelined,
//    in order; an order leaves the queue when Redis answers with its seq. When the
//    connection is lost, whatever was not answered is sent again, in order, on the next
//    one: the script recognises an order it already appended (by its id) and answers the
//    same seq, so a re-send never makes a second entry.
//  - the reader tails the stream with XREAD BLOCK after the last seq the replica holds,
//    hands each batch to the owner (on_entries) and reads the next batch only once the
//    owner says the replica stored it (stored()): the replica's position is the one
//    cursor, so a reconnect continues from it, never skipping or repeating an entry.
// Each connection reconnects on its own with exponential backoff and jitter. About once a
// second the appender also runs the age script (kAgeScript), unless max_age_ms is 0: every
// node does, so the log keeps its age bound while any node is up, and the script is
// idempotent, so several nodes running it cost only one EVAL each.
//
// "Up" means both connections are ready and the script is loaded. Whenever the link is
// not up while orders wait for their seq or their replica copy — a connection lost, or
// an order submitted while it is down — on_stalled runs: the owner answers those POSTs
// 202 (accepted, pending) instead of keeping them waiting.
//
// Callbacks run on the log thread; submit(), stored() and stats() may be called from any.

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "backplane/redis_connection.hpp"
#include "loop/event_loop.hpp"
#include "orderflow/order_log_wire.hpp"
#include "store/order_store.hpp"

namespace wirehub::orderflow {

struct OrderLogOptions {
  backplane::RedisEndpoint endpoint;                  // client_name is set per connection
  std::string key_prefix = "wirehub:orderflow:";
  AppendLimits limits;
  std::uint64_t max_age_ms = 7ull * 86'400'000;  // entries older are trimmed; 0: no age bound
  std::size_t read_count = 1000;      // entries per XREAD (and so per replica transaction)
  std::uint32_t reconnect_min_ms = 100;
  std::uint32_t reconnect_max_ms = 5'000;
};

class OrderLog {
 public:
  struct Callbacks {
    // Entries after the replica's last seq, oldest first. Store them, then call stored().
    std::function<void(std::vector<store::StoredOrder> entries)> on_entries;
    // Orders submitted may wait a while for their seq: answer whoever waits (202).
    std::function<void()> on_stalled;
  };
  struct Stats {
    bool up = false;
    std::int64_t head = 0;        // the newest seq this node has seen in Redis
    std::int64_t replica = 0;     // the replica's last seq
    std::size_t unsent = 0;       // submitted orders Redis has not given a seq yet
    std::uint64_t reconnects = 0; // connections (re)established after a loss
  };

  OrderLog(OrderLogOptions options, Callbacks callbacks);
  // stop()s.
  ~OrderLog();
  OrderLog(const OrderLog&) = delete;
  OrderLog& operator=(const OrderLog&) = delete;

  // Starts the thread: reads the stream after replica_last_seq, and appends outbox
  // (oldest first) before any order submitted later. Once.
  void start(std::int64_t replica_last_seq, std::vector<store::StoredOrder> outbox);
  // Stops the thread; afterwards nothing runs and calls are ignored. Idempotent.
  void stop();

  // Appends order (durably in the outbox already) after those submitted before it.
  void submit(store::StoredOrder order);
  // The replica now holds everything up to last_seq (ok), or storing the last batch
  // failed (the same entries are read again after a pause).
  void stored(std::int64_t last_seq, bool ok);

  Stats stats() const;

 private:
  class Retry;
  void on_append_up();
  void on_append_down(std::string_view why);
  void pump();
  void on_append_reply(const backplane::RedisValue* reply);
  // Runs the age script now (unless it is in flight or the appender is down) and again
  // about a second later.
  void age();
  void on_tail_up();
  void on_tail_down(std::string_view why);
  void read_next();
  void on_read_reply(const backplane::RedisValue* reply);
  // Ends conn after a reply it cannot go on from, and reconnects it.
  void drop(backplane::RedisConnection& conn, std::string_view why);
  bool link_up() const noexcept { return script_loaded_ && tail_.ready(); }
  void set_up();
  backplane::RedisEndpoint endpoint(std::string_view role) const;

  OrderLogOptions opt_;
  Callbacks cb_;
  LogKeys keys_;
  std::mt19937_64 rng_;
  loop::EventLoop loop_;  // before the connections: they unregister from it when destroyed
  backplane::RedisConnection append_;
  backplane::RedisConnection tail_;
  std::unique_ptr<Retry> append_retry_, tail_retry_, read_pause_, age_timer_;

  // Log thread only.
  std::deque<store::StoredOrder> queue_;  // not yet given a seq, in submit order
  std::size_t sent_ = 0;                  // of queue_'s front, sent on this connection
  std::string sha_;
  bool script_loaded_ = false;
  bool aging_ = false;                    // the age script is in flight
  std::int64_t cursor_ = 0;               // the replica's last seq
  bool reading_ = false, storing_ = false;
  bool ever_up_append_ = false, ever_up_tail_ = false;

  std::atomic<bool> up_{false};
  std::atomic<std::int64_t> head_{0}, replica_{0};
  std::atomic<std::size_t> unsent_{0};
  std::atomic<std::uint64_t> reconnects_{0};
  std::atomic<bool> started_{false}, stopped_{false};
  std::thread thread_;
};

}  // namespace wirehub::orderflow
