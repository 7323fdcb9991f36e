#pragma once
// OrderStore: the OrderFlow orders in one SQLite file, in WAL mode.
//
// Each order gets `seq`, the sequence number of its ORDER_CREATED event: strictly
// increasing, never reused (not even after the newest row is deleted), so a feed client
// can resume after the last seq it saw. `append` returns only once the row is committed
// and synced, so whoever acknowledges an order (201) or publishes its event after
// `append` returns never announces an order a crash could lose.
//
// Not thread-safe: one thread at a time uses a store (the connection is opened without
// SQLite's mutex, and the prepared statements are shared). Errors are exceptions: the
// store is reached at start-up and from the REST handler, never on the per-message path.
// Input validation is the REST layer's job; the store only refuses a non-finite total.
//
// With a shared order log (OrderFlow across nodes, ADR 0011) the store is a replica: the
// seqs come from the log (`replicate`), orders accepted while the log is unreachable wait
// in a durable outbox (`outbox_add_all`), and seqs the log dropped before this replica
// read them are kept as gaps, so a resume across them can be refused instead of silently
// skipping them. A file is used in one mode: `append` and `replicate` both advance the
// same seq, and `replicate` refuses a seq not above the last one.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace wirehub::store {

struct NewOrder {
  std::string customer_id;
  double total = 0;
  std::string items_json;  // a JSON array as text, or empty for "no items"
};

struct StoredOrder {
  std::int64_t seq = 0;
  std::string order_id;     // UUIDv4 from the kernel's CSPRNG
  std::string customer_id;
  double total = 0;
  std::string items_json;   // as given to append; empty when there were none
  std::string created_at;   // RFC 3339 UTC with milliseconds: 2026-01-31T12:00:00.123Z

  bool operator==(const StoredOrder&) const = default;
};

// Seqs first..last (inclusive) that this replica will never hold: the shared log had
// trimmed them before the replica read them (or held a duplicate of an order it has).
struct SeqGap {
  std::int64_t first = 0;
  std::int64_t last = 0;

  bool operator==(const SeqGap&) const = default;
};

// The clock append stamps created_at with; tests pass a fixed one.
using SystemClock = std::function<std::chrono::system_clock::time_point()>;

// The RFC 3339 form of t used for created_at (UTC, milliseconds, 'Z').
std::string format_rfc3339_ms(std::chrono::system_clock::time_point t);

class OrderStore {
 public:
  // The schema version this build writes; open migrates older files up to it.
  static int schema_version() noexcept;

  // Opens (creating the file, not its directory) and migrates the database at path.
  // Throws std::runtime_error naming the path and SQLite's message: missing directory,
  // not a database, WAL refused, or a schema newer than this build knows.
  static std::unique_ptr<OrderStore> open(const std::string& path, SystemClock clock = {});

  ~OrderStore();
  OrderStore(const OrderStore&) = delete;
  OrderStore& operator=(const OrderStore&) = delete;

  // Stores a new order and returns it once committed durably. Throws
  // std::invalid_argument for a NaN or infinite total, std::runtime_error if SQLite fails
  // (nothing is stored then).
  StoredOrder append(const NewOrder& order);
  // Stores every order in one transaction (one fsync), all or none, with increasing
  // seqs in the given order. Throws as append does, and then nothing is stored.
  std::vector<StoredOrder> append_all(std::span<const NewOrder> orders);

  // Up to limit orders with seq > after_seq, oldest first.
  std::vector<StoredOrder> after(std::int64_t after_seq, std::size_t limit);

  // The newest limit orders, oldest first.
  std::vector<StoredOrder> latest(std::size_t limit);

  // The order with this id, if there is one.
  std::optional<StoredOrder> get(std::string_view order_id);

  // The highest seq ever assigned (0 before the first order); never goes down. For a
  // replica: the highest seq of the shared log it has read (stored or a gap).
  std::int64_t last_seq();

  // Replica: stores orders that carry their seq from the shared log, in one transaction
  // (one fsync), all or none, and deletes the outbox row of each (same order_id) in it.
  // Seqs must be increasing and above last_seq() (std::invalid_argument otherwise, and
  // nothing is stored). A seq that skips ahead of the previous one records the skipped
  // range as a gap; an order whose order_id is already stored is not stored again and its
  // seq is recorded as a gap. Returns the gaps recorded, oldest first. Throws as append.
  std::vector<SeqGap> replicate(std::span<const StoredOrder> orders);
  // The oldest gap that has a seq above after_seq: a resume after after_seq would miss it.
  std::optional<SeqGap> gap_after(std::int64_t after_seq);

  // Outbox: stores new orders durably without a seq (seq 0 in the result), with their
  // order_id and created_at, in one transaction, all or none, in the given order. Throws
  // as append_all.
  std::vector<StoredOrder> outbox_add_all(std::span<const NewOrder> orders);
  // Up to limit outbox orders, oldest first.
  std::vector<StoredOrder> outbox(std::size_t limit);
  // The outbox order with this id, if it is still waiting.
  std::optional<StoredOrder> outbox_get(std::string_view order_id);
  std::size_t outbox_size();

 private:
  // A new order as it will be stored: a fresh id and the creation time (seq not yet set).
  StoredOrder stamp(const NewOrder& order);
  struct DbClose {
    void operator()(sqlite3* db) const noexcept;
  };
  struct StmtFinalize {
    void operator()(sqlite3_stmt* s) const noexcept;
  };
  using Db = std::unique_ptr<sqlite3, DbClose>;
  using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalize>;

  OrderStore(std::string path, Db db, SystemClock clock);
  void configure();
  void migrate();
  void prepare_statements();
  Stmt prepare(const char* sql);
  void exec(const char* sql);
  [[noreturn]] void fail(std::string_view what) const;
  void step_done(sqlite3_stmt* s, std::string_view what);
  StoredOrder read_row(sqlite3_stmt* s) const;
  // Runs body between BEGIN IMMEDIATE and COMMIT; rolls back and rethrows if it throws.
  template <typename Body>
  void transaction(Body&& body);
  std::vector<StoredOrder> read_all(sqlite3_stmt* s, std::string_view what);

  std::string path_;
  Db db_;
  SystemClock clock_;
  Stmt begin_, commit_, rollback_, insert_, after_, latest_, get_, last_seq_;
  Stmt insert_seq_, set_last_seq_, add_last_seq_, insert_gap_, gap_after_, outbox_insert_, outbox_read_, outbox_get_,
      outbox_delete_, outbox_count_;
};

}  // namespace wirehub::store
