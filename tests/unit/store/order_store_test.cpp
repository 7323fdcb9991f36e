// OrderStore against real SQLite files, one temporary directory per test.

#include "store/order_store.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace wirehub::store {
namespace {

// Whether text has the shape of pattern, character by character: 'd' a digit, 'x' a
// lower-case hex digit, 'v' one of 8 9 a b, anything else itself. (std::regex trips
// GCC 12's -Wmaybe-uninitialized under the sanitizers.)
bool has_shape(std::string_view text, std::string_view pattern) {
  if (text.size() != pattern.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool digit = c >= '0' && c <= '9';
    const bool ok = pattern[i] == 'd'   ? digit
                    : pattern[i] == 'x' ? digit || (c >= 'a' && c <= 'f')
                    : pattern[i] == 'v' ? c == '8' || c == '9' || c == 'a' || c == 'b'
                                        : c == pattern[i];
    if (!ok) return false;
  }
  return true;
}

namespace fs = std::filesystem;

class OrderStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "wirehub-store-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = (dir_ / "orders.db").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A second, raw connection, for looking behind the store's back.
  struct Raw {
    sqlite3* db = nullptr;
    explicit Raw(const std::string& path) {
      EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    }
    ~Raw() { sqlite3_close(db); }
    void exec(const std::string& sql) {
      char* err = nullptr;
      ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << err;
    }
    std::string text(const std::string& sql) {
      sqlite3_stmt* s = nullptr;
      std::string out;
      EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr), SQLITE_OK);
      if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0)) {
        out = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
      }
      sqlite3_finalize(s);
      return out;
    }
  };

  // The message of the std::runtime_error opening path throws; a failure if it opens.
  static std::string open_error(const std::string& path) {
    try {
      OrderStore::open(path);
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    ADD_FAILURE() << "open did not throw";
    return {};
  }

  static NewOrder order(std::string customer = "c-1", double total = 9.5,
                        std::string items = R"([{"sku":"A","qty":1}])") {
    return NewOrder{std::move(customer), total, std::move(items)};
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(OrderStoreTest, MigrationsCreateTheSchemaAndSetUserVersion) {
  ASSERT_GE(OrderStore::schema_version(), 1);
  OrderStore::open(path_);
  Raw raw(path_);
  EXPECT_EQ(raw.text("PRAGMA user_version"), std::to_string(OrderStore::schema_version()));
  const std::string sql = raw.text("SELECT sql FROM sqlite_master WHERE name = 'orders'");
  EXPECT_NE(sql.find("AUTOINCREMENT"), std::string::npos) << sql;
  for (const char* col : {"seq", "order_id", "customer_id", "total", "items", "created_at"}) {
    EXPECT_EQ(raw.text(std::string("SELECT count(*) FROM pragma_table_info('orders') WHERE name = '") +
                       col + "'"),
              "1")
        << col;
  }
}

TEST_F(OrderStoreTest, AppendReturnsTheStoredOrder) {
  auto store = OrderStore::open(path_);
  const StoredOrder a = store->append(order("alice", 12.25));
  EXPECT_EQ(a.seq, 1);
  EXPECT_EQ(a.customer_id, "alice");
  EXPECT_EQ(a.total, 12.25);
  EXPECT_EQ(a.items_json, R"([{"sku":"A","qty":1}])");
  EXPECT_EQ(store->get(a.order_id), a);
  EXPECT_EQ(store->last_seq(), 1);
}

TEST_F(OrderStoreTest, OrderWithoutItemsReadsBackEmpty) {
  auto store = OrderStore::open(path_);
  const StoredOrder a = store->append(order("bob", 1, ""));
  ASSERT_TRUE(store->get(a.order_id));
  EXPECT_EQ(store->get(a.order_id)->items_json, "");
}

TEST_F(OrderStoreTest, ReopeningKeepsTheOrdersAndSeqContinues) {
  std::vector<StoredOrder> before;
  {
    auto store = OrderStore::open(path_);
    for (int i = 0; i < 3; ++i) before.push_back(store->append(order("c" + std::to_string(i))));
  }
  auto store = OrderStore::open(path_);
  EXPECT_EQ(store->after(0, 100), before);
  EXPECT_EQ(store->last_seq(), 3);
  EXPECT_EQ(store->append(order()).seq, 4);
}

TEST_F(OrderStoreTest, SeqIsStrictlyIncreasingAndNeverReusedAfterDeletingTheNewest) {
  auto store = OrderStore::open(path_);
  std::int64_t prev = 0;
  for (int i = 0; i < 5; ++i) {
    const auto seq = store->append(order()).seq;
    EXPECT_GT(seq, prev);
    prev = seq;
  }
  {
    Raw raw(path_);
    raw.exec("DELETE FROM orders WHERE seq = " + std::to_string(prev));
  }
  EXPECT_EQ(store->last_seq(), prev);  // the highest ever assigned, not max(seq)
  EXPECT_EQ(store->append(order()).seq, prev + 1);
}

TEST_F(OrderStoreTest, WalModeIsOnAndTheLogExistsAfterAWrite) {
  auto store = OrderStore::open(path_);
  store->append(order());
  EXPECT_TRUE(fs::exists(path_ + "-wal"));
  Raw raw(path_);
  EXPECT_EQ(raw.text("PRAGMA journal_mode"), "wal");
}

TEST_F(OrderStoreTest, AfterPagesOldestFirstWithinTheLimit) {
  auto store = OrderStore::open(path_);
  for (int i = 0; i < 10; ++i) store->append(order("c" + std::to_string(i)));

  const auto first = store->after(0, 4);
  ASSERT_EQ(first.size(), 4u);
  for (std::size_t i = 0; i < first.size(); ++i) EXPECT_EQ(first[i].seq, static_cast<std::int64_t>(i) + 1);
  EXPECT_EQ(first[0].customer_id, "c0");

  const auto next = store->after(first.back().seq, 4);
  ASSERT_EQ(next.size(), 4u);
  EXPECT_EQ(next.front().seq, 5);

  const auto last = store->after(8, 4);  // only two left
  ASSERT_EQ(last.size(), 2u);
  EXPECT_EQ(last.front().seq, 9);
  EXPECT_EQ(last.back().seq, 10);

  EXPECT_TRUE(store->after(10, 4).empty());
  EXPECT_TRUE(store->after(0, 0).empty());
  EXPECT_EQ(store->after(-5, 100).size(), 10u);
  EXPECT_EQ(store->after(0, std::numeric_limits<std::size_t>::max()).size(), 10u);
}

TEST_F(OrderStoreTest, LatestGivesTheNewestOldestFirst) {
  auto store = OrderStore::open(path_);
  EXPECT_TRUE(store->latest(5).empty());
  std::vector<StoredOrder> all;
  for (int i = 0; i < 6; ++i) all.push_back(store->append(order("c" + std::to_string(i))));
  EXPECT_EQ(store->latest(3), std::vector<StoredOrder>(all.begin() + 3, all.end()));
  EXPECT_EQ(store->latest(100), all);
  EXPECT_TRUE(store->latest(0).empty());
}

TEST_F(OrderStoreTest, GetFindsPresentOrdersOnly) {
  auto store = OrderStore::open(path_);
  const auto a = store->append(order("alice"));
  const auto b = store->append(order("bob"));
  ASSERT_TRUE(store->get(b.order_id));
  EXPECT_EQ(store->get(b.order_id)->customer_id, "bob");
  EXPECT_EQ(*store->get(a.order_id), a);
  EXPECT_FALSE(store->get("00000000-0000-4000-8000-000000000000"));
  EXPECT_FALSE(store->get(""));
}

TEST_F(OrderStoreTest, CreatedAtIsRfc3339UtcWithMilliseconds) {
  auto store = OrderStore::open(path_);
  const auto a = store->append(order());
  EXPECT_TRUE(has_shape(a.created_at, "dddd-dd-ddTdd:dd:dd.dddZ")) << a.created_at;
}

TEST_F(OrderStoreTest, CreatedAtComesFromTheInjectedClock) {
  using namespace std::chrono;
  // 2024-02-29T23:59:59.007Z, plus 0.9 ms that must be truncated, not rounded.
  const auto t = system_clock::time_point(seconds(1709251199)) + microseconds(7900);
  auto store = OrderStore::open(path_, [t] { return t; });
  EXPECT_EQ(store->append(order()).created_at, "2024-02-29T23:59:59.007Z");
  EXPECT_EQ(format_rfc3339_ms(system_clock::time_point{}), "1970-01-01T00:00:00.000Z");
}

TEST_F(OrderStoreTest, OrderIdsAreUniqueUuidV4s) {
  auto store = OrderStore::open(path_);
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    const auto id = store->append(order()).order_id;
    // Version 4, variant 10xx (RFC 9562 5.4): lower-case hex.
    ASSERT_TRUE(has_shape(id, "xxxxxxxx-xxxx-4xxx-vxxx-xxxxxxxxxxxx")) << id;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 1000u);
}

TEST_F(OrderStoreTest, NonFiniteTotalsAreRefusedAndNothingIsStored) {
  auto store = OrderStore::open(path_);
  EXPECT_THROW(store->append(order("x", std::nan(""))), std::invalid_argument);
  EXPECT_THROW(store->append(order("x", std::numeric_limits<double>::infinity())),
               std::invalid_argument);
  EXPECT_THROW(store->append(order("x", -std::numeric_limits<double>::infinity())),
               std::invalid_argument);
  EXPECT_EQ(store->last_seq(), 0);
  EXPECT_EQ(store->append(order()).seq, 1);
}

TEST_F(OrderStoreTest, AFailedInsertLeavesNoTransactionOpen) {
  auto store = OrderStore::open(path_);
  {
    Raw raw(path_);  // a trigger that refuses the next insert
    raw.exec(
        "CREATE TRIGGER refuse BEFORE INSERT ON orders "
        "BEGIN SELECT RAISE(ABORT, 'refused by test'); END");
  }
  try {
    store->append(order());
    FAIL() << "append did not throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("refused by test"), std::string::npos) << e.what();
  }
  {
    Raw raw(path_);
    raw.exec("DROP TRIGGER refuse");
  }
  EXPECT_EQ(store->append(order()).seq, 1);  // the failed insert took no seq
}

TEST_F(OrderStoreTest, AppendAllStoresABatchInOrderInOneTransaction) {
  auto store = OrderStore::open(path_);
  store->append(order("first"));
  const std::vector<NewOrder> batch = {order("a", 1), order("b", 2, ""), order("c", 3)};
  const std::vector<StoredOrder> stored = store->append_all(batch);
  ASSERT_EQ(stored.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(stored[i].seq, static_cast<std::int64_t>(i) + 2);
    EXPECT_EQ(stored[i].customer_id, batch[i].customer_id);
    EXPECT_EQ(store->get(stored[i].order_id), stored[i]);
  }
  EXPECT_EQ(store->after(1, 100), stored);
  EXPECT_TRUE(store->append_all({}).empty());
}

TEST_F(OrderStoreTest, AppendAllIsAllOrNothing) {
  auto store = OrderStore::open(path_);
  // A bad total anywhere in the batch: refused before anything is written.
  std::vector<NewOrder> batch = {order("a"), order("b", std::nan(""))};
  EXPECT_THROW(store->append_all(batch), std::invalid_argument);
  EXPECT_EQ(store->last_seq(), 0);
  {
    Raw raw(path_);  // the second insert of the batch fails inside the transaction
    raw.exec(
        "CREATE TRIGGER refuse BEFORE INSERT ON orders WHEN NEW.customer_id = 'bad' "
        "BEGIN SELECT RAISE(ABORT, 'refused by test'); END");
  }
  batch = {order("a"), order("bad"), order("c")};
  EXPECT_THROW(store->append_all(batch), std::runtime_error);
  EXPECT_TRUE(store->after(0, 100).empty());  // the first insert was rolled back too
  EXPECT_EQ(store->append(order("d")).seq, 1);
}

TEST_F(OrderStoreTest, ADatabaseFromANewerVersionIsRefused) {
  {
    Raw raw(path_);
    raw.exec("PRAGMA user_version = 99");
  }
  const std::string what = open_error(path_);
  EXPECT_NE(what.find(path_), std::string::npos) << what;
  EXPECT_NE(what.find("99"), std::string::npos) << what;
  EXPECT_NE(what.find("newer"), std::string::npos) << what;
  Raw raw(path_);  // and left as it was
  EXPECT_EQ(raw.text("PRAGMA user_version"), "99");
  EXPECT_EQ(raw.text("SELECT count(*) FROM sqlite_master"), "0");
}

TEST_F(OrderStoreTest, APathInAMissingDirectoryGivesAClearError) {
  const std::string path = (dir_ / "no-such-dir" / "orders.db").string();
  const std::string what = open_error(path);
  EXPECT_NE(what.find(path), std::string::npos) << what;
  EXPECT_NE(what.find("unable to open"), std::string::npos) << what;
  EXPECT_FALSE(fs::exists(dir_ / "no-such-dir"));
}

TEST_F(OrderStoreTest, AFileThatIsNotADatabaseIsRefused) {
  {
    std::FILE* f = std::fopen(path_.c_str(), "w");
    ASSERT_NE(f, nullptr);
    for (int i = 0; i < 128; ++i) std::fputs("this is not an SQLite database, not even close\n", f);
    std::fclose(f);
  }
  EXPECT_THROW(OrderStore::open(path_), std::runtime_error);
}

// Durability of acknowledged writes: a child appends orders and reports each seq on a
// pipe only after append returned; the parent kills it with SIGKILL at a random point.
// Every reported seq must be in the database afterwards. (SIGKILL loses the process, not
// the page cache; power loss is what synchronous=FULL is for, and is not simulated.)
TEST_F(OrderStoreTest, EveryAcknowledgedOrderSurvivesSigkill) {
  OrderStore::open(path_);  // migrate first, so the child spends its time appending
  std::mt19937 rng(std::random_device{}());
  const int kill_after = std::uniform_int_distribution<int>(1, 150)(rng);

  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    try {
      auto store = OrderStore::open(path_);
      for (int i = 0; i < 100000; ++i) {
        const std::int64_t seq = store->append(order("crash", i)).seq;
        if (write(fds[1], &seq, sizeof seq) != sizeof seq) _exit(3);
      }
    } catch (...) {
      _exit(2);
    }
    _exit(0);
  }
  close(fds[1]);

  std::vector<std::int64_t> acked;
  std::int64_t seq;
  while (static_cast<int>(acked.size()) < kill_after &&
         read(fds[0], &seq, sizeof seq) == sizeof seq) {
    acked.push_back(seq);
  }
  kill(pid, SIGKILL);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  // Seqs written between our last read and the kill were acknowledged too.
  while (read(fds[0], &seq, sizeof seq) == sizeof seq) acked.push_back(seq);
  close(fds[0]);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited early, status " << status;
  ASSERT_GE(static_cast<int>(acked.size()), kill_after);

  auto store = OrderStore::open(path_);
  for (const auto s : acked) {
    const auto got = store->after(s - 1, 1);
    ASSERT_EQ(got.size(), 1u) << "acknowledged seq " << s << " lost";
    EXPECT_EQ(got[0].seq, s);
  }
  EXPECT_GE(store->last_seq(), acked.back());
}

// --- a replica of the shared order log: replicate, gaps, outbox ---

// An order as it comes from the shared log: its seq and everything else set by the node
// that took it.
StoredOrder logged(std::int64_t seq, std::string id = "") {
  StoredOrder o;
  o.seq = seq;
  o.order_id = id.empty() ? "id-" + std::to_string(seq) : std::move(id);
  o.customer_id = "cust-" + std::to_string(seq);
  o.total = static_cast<double>(seq) + 0.25;
  o.items_json = seq % 2 ? R"([{"sku":"A"}])" : "";
  o.created_at = "2026-01-31T12:00:00.123Z";
  return o;
}

TEST_F(OrderStoreTest, AFileFromSchemaVersionOneIsMigratedAndKeepsItsOrders) {
  StoredOrder a;
  {
    auto store = OrderStore::open(path_);
    a = store->append(order("old"));
    Raw raw(path_);  // as a version-1 build left it
    raw.exec("DROP TABLE outbox; DROP TABLE log_gaps; PRAGMA user_version = 1");
  }
  auto store = OrderStore::open(path_);
  EXPECT_EQ(store->get(a.order_id), a);
  EXPECT_EQ(store->outbox_size(), 0u);
  EXPECT_EQ(store->gap_after(0), std::nullopt);
}

TEST_F(OrderStoreTest, ReplicateStoresOrdersWithTheirOwnSeqs) {
  auto store = OrderStore::open(path_);
  const std::vector<StoredOrder> batch = {logged(1), logged(2), logged(3)};
  EXPECT_TRUE(store->replicate(batch).empty());
  EXPECT_EQ(store->after(0, 100), batch);
  EXPECT_EQ(store->get("id-2"), batch[1]);
  EXPECT_EQ(store->last_seq(), 3);
  EXPECT_EQ(store->gap_after(0), std::nullopt);
  EXPECT_TRUE(store->replicate({}).empty());
}

TEST_F(OrderStoreTest, ReplicateRefusesASeqNotAboveTheLastOneAndStoresNothing) {
  auto store = OrderStore::open(path_);
  store->replicate(std::vector<StoredOrder>{logged(5)});
  EXPECT_THROW(store->replicate(std::vector<StoredOrder>{logged(6), logged(5, "again")}), std::invalid_argument);
  EXPECT_THROW(store->replicate(std::vector<StoredOrder>{logged(7), logged(7, "twice")}), std::invalid_argument);
  EXPECT_EQ(store->last_seq(), 5);
  EXPECT_EQ(store->after(5, 10).size(), 0u);
}

TEST_F(OrderStoreTest, ASkippedRangeIsRecordedAsAGapAndSurvivesReopening) {
  {
    auto store = OrderStore::open(path_);
    store->replicate(std::vector<StoredOrder>{logged(1), logged(2)});
    const auto gaps = store->replicate(std::vector<StoredOrder>{logged(10), logged(11), logged(15)});
    EXPECT_EQ(gaps, (std::vector<SeqGap>{{3, 9}, {12, 14}}));
  }
  auto store = OrderStore::open(path_);
  EXPECT_EQ(store->last_seq(), 15);
  EXPECT_EQ(store->gap_after(0), (SeqGap{3, 9}));
  EXPECT_EQ(store->gap_after(2), (SeqGap{3, 9}));
  EXPECT_EQ(store->gap_after(5), (SeqGap{3, 9}));  // inside the gap: 6..9 are missing too
  EXPECT_EQ(store->gap_after(9), (SeqGap{12, 14}));
  EXPECT_EQ(store->gap_after(14), std::nullopt);
  EXPECT_EQ(store->gap_after(15), std::nullopt);
}

TEST_F(OrderStoreTest, AFreshReplicaOfATrimmedLogHasAGapFromSeqOne) {
  auto store = OrderStore::open(path_);
  EXPECT_EQ(store->replicate(std::vector<StoredOrder>{logged(100)}), (std::vector<SeqGap>{{1, 99}}));
  EXPECT_EQ(store->gap_after(0), (SeqGap{1, 99}));
}

TEST_F(OrderStoreTest, ADuplicateOrderIdIsStoredOnceAndItsSeqBecomesAGap) {
  auto store = OrderStore::open(path_);
  store->replicate(std::vector<StoredOrder>{logged(1, "same")});
  // Last in its batch: the seq still moves on, so the next batch sees no second gap.
  EXPECT_EQ(store->replicate(std::vector<StoredOrder>{logged(2), logged(3, "same")}),
            (std::vector<SeqGap>{{3, 3}}));
  EXPECT_EQ(store->last_seq(), 3);
  EXPECT_TRUE(store->replicate(std::vector<StoredOrder>{logged(4)}).empty());
  EXPECT_EQ(store->get("same")->seq, 1);
  EXPECT_EQ(store->after(0, 10).size(), 3u);
}

TEST_F(OrderStoreTest, OutboxKeepsOrdersWithoutSeqInArrivalOrderAcrossReopening) {
  std::vector<StoredOrder> added;
  {
    auto store = OrderStore::open(path_, [] { return std::chrono::system_clock::time_point{}; });
    const std::vector<NewOrder> batch = {order("a", 1), order("b", 2, "")};
    added = store->outbox_add_all(batch);
    ASSERT_EQ(added.size(), 2u);
    EXPECT_EQ(added[0].seq, 0);
    EXPECT_EQ(added[0].customer_id, "a");
    EXPECT_EQ(added[1].items_json, "");
    EXPECT_EQ(added[0].created_at, "1970-01-01T00:00:00.000Z");
    EXPECT_NE(added[0].order_id, added[1].order_id);
    EXPECT_EQ(store->last_seq(), 0);          // no seq taken
    EXPECT_TRUE(store->after(0, 10).empty());  // not an order of the replica yet
  }
  auto store = OrderStore::open(path_);
  EXPECT_EQ(store->outbox_size(), 2u);
  EXPECT_EQ(store->outbox(10), added);
  EXPECT_EQ(store->outbox(1), std::vector<StoredOrder>{added[0]});
  EXPECT_EQ(store->outbox_get(added[1].order_id), added[1]);
  EXPECT_EQ(store->outbox_get("nope"), std::nullopt);
}

TEST_F(OrderStoreTest, ReplicatingAnOutboxOrderTakesItOutOfTheOutbox) {
  auto store = OrderStore::open(path_);
  const std::vector<NewOrder> batch = {order("a"), order("b"), order("c")};
  const auto added = store->outbox_add_all(batch);
  StoredOrder b = added[1];
  b.seq = 7;
  store->replicate(std::vector<StoredOrder>{b});
  EXPECT_EQ(store->outbox(10), (std::vector<StoredOrder>{added[0], added[2]}));
  EXPECT_EQ(store->outbox_size(), 2u);
  EXPECT_EQ(store->get(b.order_id), b);
}

TEST_F(OrderStoreTest, OutboxAddIsAllOrNothing) {
  auto store = OrderStore::open(path_);
  std::vector<NewOrder> batch = {order("a"), order("b", std::nan(""))};
  EXPECT_THROW(store->outbox_add_all(batch), std::invalid_argument);
  {
    Raw raw(path_);
    raw.exec(
        "CREATE TRIGGER refuse BEFORE INSERT ON outbox WHEN NEW.customer_id = 'bad' "
        "BEGIN SELECT RAISE(ABORT, 'refused by test'); END");
  }
  batch = {order("a"), order("bad")};
  EXPECT_THROW(store->outbox_add_all(batch), std::runtime_error);
  EXPECT_EQ(store->outbox_size(), 0u);
}

TEST_F(OrderStoreTest, AFailedReplicateStoresNothingAndRecordsNoGap) {
  auto store = OrderStore::open(path_);
  const auto added = store->outbox_add_all(std::vector<NewOrder>{order("a")});
  {
    Raw raw(path_);
    raw.exec(
        "CREATE TRIGGER refuse BEFORE INSERT ON orders WHEN NEW.seq = 9 "
        "BEGIN SELECT RAISE(ABORT, 'refused by test'); END");
  }
  StoredOrder a = added[0];
  a.seq = 5;
  EXPECT_THROW(store->replicate(std::vector<StoredOrder>{a, logged(9)}), std::runtime_error);
  EXPECT_EQ(store->last_seq(), 0);
  EXPECT_EQ(store->gap_after(0), std::nullopt);
  EXPECT_EQ(store->outbox_size(), 1u);
  EXPECT_EQ(store->get(a.order_id), std::nullopt);
}

}  // namespace
}  // namespace wirehub::store
