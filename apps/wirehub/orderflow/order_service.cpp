#include "orderflow/order_service.hpp"

#include <spdlog/spdlog.h>

#include <exception>

namespace wirehub::orderflow {

namespace {
// At most this many queued appends share one transaction: bounds the latency the first
// of them sees and the size of one commit.
constexpr std::size_t kMaxBatch = 256;
}  // namespace

OrderService::OrderService(std::unique_ptr<store::OrderStore> store, OnCreated on_created, Appends appends)
    : store_(std::move(store)), on_created_(std::move(on_created)), appends_(appends), thread_([this] { loop(); }) {}

OrderService::~OrderService() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void OrderService::append(store::NewOrder order, AppendDone done) {
  {
    std::lock_guard lock(mu_);
    queue_.emplace_back(Append{std::move(order), std::move(done)});
  }
  cv_.notify_one();
}

void OrderService::run(std::function<void(store::OrderStore&)> job) {
  {
    std::lock_guard lock(mu_);
    queue_.emplace_back(std::move(job));
  }
  cv_.notify_one();
}

std::size_t OrderService::backlog() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

std::uint64_t OrderService::orders_created() const noexcept { return created_.load(std::memory_order_relaxed); }
std::uint64_t OrderService::append_failures() const noexcept { return failed_.load(std::memory_order_relaxed); }

void OrderService::loop() {
  std::vector<Append> batch;
  for (;;) {
    std::function<void(store::OrderStore&)> job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued has run
      // Consecutive appends at the head of the queue go in one transaction; a job
      // behind them waits for their commit, so queue order is kept.
      while (!queue_.empty() && batch.size() < kMaxBatch && std::holds_alternative<Append>(queue_.front())) {
        batch.push_back(std::move(std::get<Append>(queue_.front())));
        queue_.pop_front();
      }
      if (batch.empty()) {
        job = std::move(std::get<1>(queue_.front()));
        queue_.pop_front();
      }
    }
    if (!batch.empty()) {
      run_appends(batch);
      batch.clear();
      continue;
    }
    try {
      job(*store_);
    } catch (const std::exception& e) {
      spdlog::error("order store job failed: {}", e.what());
    }
  }
}

void OrderService::run_appends(std::vector<Append>& batch) {
  std::vector<store::NewOrder> orders;
  orders.reserve(batch.size());
  for (Append& a : batch) orders.push_back(std::move(a.order));
  std::vector<store::StoredOrder> stored;
  try {
    stored = appends_ == Appends::Store ? store_->append_all(orders) : store_->outbox_add_all(orders);
  } catch (const std::exception& e) {
    // Nothing of the batch is stored; say so to every waiting client.
    failed_.fetch_add(batch.size(), std::memory_order_relaxed);
    spdlog::error("storing {} order(s) failed: {}", batch.size(), e.what());
    for (Append& a : batch) {
      try {
        a.done(std::string(e.what()));
      } catch (const std::exception& e2) {
        spdlog::error("answering for a failed order failed: {}", e2.what());
      }
    }
    return;
  }
  created_.fetch_add(stored.size(), std::memory_order_relaxed);
  for (std::size_t i = 0; i < stored.size(); ++i) {
    // A callback that throws must not take the thread (and every later order) down.
    try {
      if (on_created_ && appends_ == Appends::Store) on_created_(stored[i]);
    } catch (const std::exception& e) {
      spdlog::error("publishing order {} failed: {}", stored[i].seq, e.what());
    }
    try {
      batch[i].done(std::move(stored[i]));
    } catch (const std::exception& e) {
      spdlog::error("answering for order {} failed: {}", stored[i].seq, e.what());
    }
  }
}

}  // namespace wirehub::orderflow
