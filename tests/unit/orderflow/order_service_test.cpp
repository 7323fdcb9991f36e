#include "orderflow/order_service.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <set>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

namespace wirehub::orderflow {
namespace {

namespace fs = std::filesystem;

class OrderServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("wirehub-service-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::unique_ptr<store::OrderStore> open() { return store::OrderStore::open((dir_ / "orders.db").string()); }

  fs::path dir_;
};

// Appends from many threads at once: each is answered with its own stored order, the
// publish hook sees every order once in seq order, before that order's answer.
TEST_F(OrderServiceTest, ConcurrentAppendsArePublishedInSeqOrderBeforeTheirAnswer) {
  std::mutex mu;
  std::vector<std::int64_t> published;
  auto service = std::make_unique<OrderService>(open(), [&](const store::StoredOrder& o) {
    std::lock_guard lock(mu);
    published.push_back(o.seq);
  });
  constexpr int kThreads = 8, kPerThread = 50;
  std::vector<std::promise<std::vector<store::StoredOrder>>> results(kThreads);
  std::vector<std::thread> threads;
  std::atomic<int> answered_before_published{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::promise<OrderService::AppendResult>> ps(kPerThread);
      for (int i = 0; i < kPerThread; ++i) {
        service->append({"c" + std::to_string(t), double(i), ""}, [&, p = &ps[i]](OrderService::AppendResult r) {
          if (auto* o = std::get_if<store::StoredOrder>(&r)) {
            std::lock_guard lock(mu);
            if (std::find(published.begin(), published.end(), o->seq) == published.end()) ++answered_before_published;
          }
          p->set_value(std::move(r));
        });
      }
      std::vector<store::StoredOrder> mine;
      for (auto& p : ps) mine.push_back(std::get<store::StoredOrder>(p.get_future().get()));
      results[t].set_value(std::move(mine));
    });
  }
  std::set<std::int64_t> seqs;
  for (int t = 0; t < kThreads; ++t) {
    auto mine = results[t].get_future().get();
    for (int i = 0; i < kPerThread; ++i) {
      EXPECT_EQ(mine[i].customer_id, "c" + std::to_string(t));
      EXPECT_EQ(mine[i].total, double(i));
      if (i > 0) {
        EXPECT_GT(mine[i].seq, mine[i - 1].seq);  // one thread's orders keep their order
      }
      seqs.insert(mine[i].seq);
    }
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(seqs.size(), std::size_t{kThreads * kPerThread});
  EXPECT_EQ(answered_before_published.load(), 0);
  service.reset();  // joins: nothing runs any more
  ASSERT_EQ(published.size(), seqs.size());
  EXPECT_TRUE(std::is_sorted(published.begin(), published.end()));
  EXPECT_EQ(*seqs.begin(), 1);
  EXPECT_EQ(*seqs.rbegin(), kThreads * kPerThread);
}

// A job queued behind appends sees them committed; one queued before does not.
TEST_F(OrderServiceTest, JobsRunInQueueOrderWithAppends) {
  OrderService service(open(), nullptr);
  std::promise<std::int64_t> before, after;
  service.run([&](store::OrderStore& s) { before.set_value(s.last_seq()); });
  for (int i = 0; i < 5; ++i) service.append({"c", 1, ""}, [](OrderService::AppendResult) {});
  service.run([&](store::OrderStore& s) { after.set_value(s.last_seq()); });
  EXPECT_EQ(before.get_future().get(), 0);
  EXPECT_EQ(after.get_future().get(), 5);
  EXPECT_EQ(service.orders_created(), 5u);
}

// A failing store answers every waiting append with the reason, and the service goes on.
TEST_F(OrderServiceTest, AFailedCommitIsReportedAndLaterOrdersStillWork) {
  OrderService service(open(), nullptr);
  std::promise<void> blocked;
  std::promise<void> release;
  // Hold the thread so the next appends queue up together, then make their insert fail.
  service.run([&](store::OrderStore&) {
    blocked.set_value();
    release.get_future().wait();
  });
  blocked.get_future().wait();
  std::vector<std::promise<OrderService::AppendResult>> ps(3);
  service.append({"c", std::nan(""), ""}, [&](OrderService::AppendResult r) { ps[0].set_value(std::move(r)); });
  service.append({"c", 2, ""}, [&](OrderService::AppendResult r) { ps[1].set_value(std::move(r)); });
  release.set_value();
  for (int i = 0; i < 2; ++i) {
    auto r = ps[i].get_future().get();
    ASSERT_TRUE(std::holds_alternative<std::string>(r)) << i;  // one transaction: neither is stored
  }
  service.append({"c", 3, ""}, [&](OrderService::AppendResult r) { ps[2].set_value(std::move(r)); });
  auto ok = ps[2].get_future().get();
  ASSERT_TRUE(std::holds_alternative<store::StoredOrder>(ok));
  EXPECT_EQ(std::get<store::StoredOrder>(ok).seq, 1);
  EXPECT_EQ(service.append_failures(), 2u);
  EXPECT_EQ(service.orders_created(), 1u);
}

// The destructor runs what is queued before it returns.
TEST_F(OrderServiceTest, DestructionDrainsTheQueue) {
  std::atomic<int> answered{0};
  {
    OrderService service(open(), nullptr);
    for (int i = 0; i < 20; ++i) service.append({"c", 1, ""}, [&](OrderService::AppendResult) { ++answered; });
  }
  EXPECT_EQ(answered.load(), 20);
  EXPECT_EQ(open()->last_seq(), 20);
}

}  // namespace
}  // namespace wirehub::orderflow
