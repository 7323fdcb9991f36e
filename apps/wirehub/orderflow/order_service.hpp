#pragma once
// OrderService: the one thread that owns the order store.
//
// SQLite is used from one thread (store::OrderStore is not thread-safe), and an append
// waits for fsync, which must never stall an event loop. So every use of the store — REST
// handlers, feed subscriptions, resumes — is a job queued here and run in order on this
// thread. That order is also what makes feed resumption exact: the events of committed
// orders are published from this thread right after their commit, so a job that reads
// the history "after N" and then subscribes a connection runs between two publishes, and
// the connection gets every event once (history up to the read, live after it).
//
// Appends that are queued together are committed together (one transaction, one fsync),
// which is what lets the service keep up with many concurrent POSTs.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <variant>
#include <vector>

#include "store/order_store.hpp"

namespace wirehub::orderflow {

class OrderService {
 public:
  // Where append() puts an order: in the store with the next seq (one node), or in the
  // store's outbox without one (a replica of the shared log: the seq comes from the log,
  // and the order is published when it comes back from there, not by the service).
  enum class Appends : std::uint8_t { Store, Outbox };
  // Called on the service thread for each new order, after its commit and before the
  // append's callback: publish its event here.
  using OnCreated = std::function<void(const store::StoredOrder&)>;
  // An append's outcome: the stored order, or the reason it is not stored.
  using AppendResult = std::variant<store::StoredOrder, std::string>;
  using AppendDone = std::function<void(AppendResult)>;

  OrderService(std::unique_ptr<store::OrderStore> store, OnCreated on_created, Appends appends = Appends::Store);
  // Runs what is queued, then stops the thread.
  ~OrderService();
  OrderService(const OrderService&) = delete;
  OrderService& operator=(const OrderService&) = delete;

  // Stores order; done runs on the service thread once it is committed (or failed). With
  // Appends::Outbox the stored order has seq 0 and on_created does not run.
  void append(store::NewOrder order, AppendDone done);
  // Runs job on the service thread with the store, in queue order. Exceptions are logged
  // and swallowed (the job reports its own outcome).
  void run(std::function<void(store::OrderStore&)> job);

  // Jobs queued and not started (for /metrics and tests).
  std::size_t backlog() const;
  std::uint64_t orders_created() const noexcept;
  std::uint64_t append_failures() const noexcept;

 private:
  struct Append {
    store::NewOrder order;
    AppendDone done;
  };
  using Job = std::variant<Append, std::function<void(store::OrderStore&)>>;
  void loop();
  void run_appends(std::vector<Append>& batch);

  std::unique_ptr<store::OrderStore> store_;
  OnCreated on_created_;
  Appends appends_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::atomic<std::uint64_t> created_{0}, failed_{0};
  std::thread thread_;  // last: starts once everything above exists
};

}  // namespace wirehub::orderflow
