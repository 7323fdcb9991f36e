#include "store/order_store.hpp"

#include <sqlite3.h>
#include <sys/random.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <stdexcept>

namespace wirehub::store {

namespace {

// Migration i takes a database from user_version i to i + 1. Append only: a step that
// has shipped is never edited, a later step changes what it made.
constexpr std::array<const char*, 2> kMigrations = {
    // 1: the orders. AUTOINCREMENT makes SQLite keep the highest rowid ever used in
    // sqlite_sequence, so a seq is never handed out twice, even after the newest order
    // is deleted (plain INTEGER PRIMARY KEY would reuse max(rowid) + 1).
    R"sql(
      CREATE TABLE orders (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        order_id    TEXT    NOT NULL UNIQUE,
        customer_id TEXT    NOT NULL,
        total       REAL    NOT NULL,
        items       TEXT,
        created_at  TEXT    NOT NULL
      );
    )sql",
    // 2: a replica of the shared order log. The outbox holds orders accepted while the log
    // was unreachable, in arrival order (AUTOINCREMENT: a deleted row's id is not reused,
    // so the order of what is left never changes); log_gaps the seqs this replica will
    // never hold.
    R"sql(
      CREATE TABLE outbox (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        order_id    TEXT    NOT NULL UNIQUE,
        customer_id TEXT    NOT NULL,
        total       REAL    NOT NULL,
        items       TEXT,
        created_at  TEXT    NOT NULL
      );
      CREATE TABLE log_gaps (
        first_seq   INTEGER NOT NULL,
        last_seq    INTEGER NOT NULL PRIMARY KEY
      );
    )sql",
};

constexpr int kBusyTimeoutMs = 5000;

// Resets a statement and drops its bindings when a use of it ends, however it ends.
class StmtUse {
 public:
  explicit StmtUse(sqlite3_stmt* s) noexcept : s_(s) {}
  ~StmtUse() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  StmtUse(const StmtUse&) = delete;
  StmtUse& operator=(const StmtUse&) = delete;

 private:
  sqlite3_stmt* s_;
};

// 128 bits from the kernel's CSPRNG, shaped as an RFC 9562 version 4 UUID.
std::string uuid_v4() {
  std::array<unsigned char, 16> b{};
  std::size_t got = 0;
  while (got < b.size()) {
    const ssize_t n = getrandom(b.data() + got, b.size() - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error("store: getrandom failed");
    }
    got += static_cast<std::size_t>(n);
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // variant 10
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  id.reserve(36);
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) id += '-';
    id += kHex[b[i] >> 4];
    id += kHex[b[i] & 0x0f];
  }
  return id;
}

// Binds order_id, customer_id, total, items, created_at to ?first .. ?first+4. SQLITE_STATIC
// (nullptr): o outlives the statement's step.
void bind_order(sqlite3_stmt* s, int first, const StoredOrder& o) {
  sqlite3_bind_text(s, first, o.order_id.data(), static_cast<int>(o.order_id.size()), nullptr);
  sqlite3_bind_text(s, first + 1, o.customer_id.data(), static_cast<int>(o.customer_id.size()), nullptr);
  sqlite3_bind_double(s, first + 2, o.total);
  if (o.items_json.empty()) {
    sqlite3_bind_null(s, first + 3);
  } else {
    sqlite3_bind_text(s, first + 3, o.items_json.data(), static_cast<int>(o.items_json.size()), nullptr);
  }
  sqlite3_bind_text(s, first + 4, o.created_at.data(), static_cast<int>(o.created_at.size()), nullptr);
}

void check_new_orders(std::span<const NewOrder> orders) {
  for (const NewOrder& order : orders) {
    if (!std::isfinite(order.total)) throw std::invalid_argument("store: order total is not finite");
    if (order.customer_id.size() > INT_MAX || order.items_json.size() > INT_MAX) {
      throw std::invalid_argument("store: order too large");
    }
  }
}

std::string column_text(sqlite3_stmt* s, int col) {
  const auto* p = sqlite3_column_text(s, col);
  if (!p) return {};
  return {reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(s, col))};
}

}  // namespace

std::string format_rfc3339_ms(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto ms = floor<milliseconds>(t);
  const auto secs = floor<seconds>(ms);
  const std::time_t tt = static_cast<std::time_t>(secs.time_since_epoch().count());
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>((ms - secs).count()));
  return buf;
}

void OrderStore::DbClose::operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
void OrderStore::StmtFinalize::operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }

int OrderStore::schema_version() noexcept { return static_cast<int>(kMigrations.size()); }

std::unique_ptr<OrderStore> OrderStore::open(const std::string& path, SystemClock clock) {
  sqlite3* raw = nullptr;
  // NOMUTEX: one thread at a time uses a store (see the header), so SQLite's own
  // per-connection mutex would only cost.
  const int rc = sqlite3_open_v2(path.c_str(), &raw,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 nullptr);
  Db db(raw);  // sqlite3_open_v2 may hand back a handle even when it fails
  if (rc != SQLITE_OK) {
    throw std::runtime_error("store " + path + ": cannot open: " +
                             (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  if (!clock) clock = [] { return std::chrono::system_clock::now(); };
  std::unique_ptr<OrderStore> store(new OrderStore(path, std::move(db), std::move(clock)));
  store->configure();
  store->migrate();
  store->prepare_statements();
  return store;
}

OrderStore::OrderStore(std::string path, Db db, SystemClock clock)
    : path_(std::move(path)), db_(std::move(db)), clock_(std::move(clock)) {}

OrderStore::~OrderStore() = default;

void OrderStore::fail(std::string_view what) const {
  throw std::runtime_error("store " + path_ + ": " + std::string(what) + ": " +
                           sqlite3_errmsg(db_.get()));
}

OrderStore::Stmt OrderStore::prepare(const char* sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_.get(), sql, -1, &s, nullptr) != SQLITE_OK) {
    sqlite3_finalize(s);
    fail("cannot prepare statement");
  }
  return Stmt(s);
}

void OrderStore::exec(const char* sql) {
  if (sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr) != SQLITE_OK) fail(sql);
}

void OrderStore::step_done(sqlite3_stmt* s, std::string_view what) {
  if (sqlite3_step(s) != SQLITE_DONE) fail(what);
}

void OrderStore::configure() {
  sqlite3_busy_timeout(db_.get(), kBusyTimeoutMs);

  // WAL: readers do not block the writer and a commit is one append to the log. The
  // pragma answers with the mode in force, which stays the old one when WAL cannot be
  // had (an in-memory database, a file system without shared memory), so check it.
  Stmt mode = prepare("PRAGMA journal_mode=WAL");
  const int rc = sqlite3_step(mode.get());
  if (rc != SQLITE_ROW) fail("cannot set journal_mode=WAL");
  const std::string answer = column_text(mode.get(), 0);
  if (answer != "wal") {
    throw std::runtime_error("store " + path_ + ": journal_mode is '" + answer +
                             "', WAL could not be enabled");
  }
  mode.reset();

  // synchronous=FULL: in WAL mode, NORMAL syncs the log only at checkpoints, so a commit
  // survives a crash of this process but may be lost on power failure or an OS crash.
  // FULL fsyncs the log at every commit, which is what "201 only once durably stored"
  // needs. The price is one fsync per order.
  exec("PRAGMA synchronous=FULL");
}

void OrderStore::migrate() {
  const int known = schema_version();
  // One transaction per step, and the version is read inside it: BEGIN IMMEDIATE takes
  // the write lock first, so two processes opening a fresh file at once cannot both
  // apply the same step.
  for (;;) {
    exec("BEGIN IMMEDIATE");
    try {
      Stmt v = prepare("PRAGMA user_version");
      if (sqlite3_step(v.get()) != SQLITE_ROW) fail("cannot read user_version");
      const int version = sqlite3_column_int(v.get(), 0);
      v.reset();
      if (version > known) {
        throw std::runtime_error("store " + path_ + ": schema version " +
                                 std::to_string(version) + " is newer than this build's " +
                                 std::to_string(known) + "; refusing to open it");
      }
      if (version == known) {
        exec("COMMIT");
        return;
      }
      exec(kMigrations[static_cast<std::size_t>(version)]);
      exec(("PRAGMA user_version = " + std::to_string(version + 1)).c_str());
      exec("COMMIT");
    } catch (...) {
      if (!sqlite3_get_autocommit(db_.get())) sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }
}

void OrderStore::prepare_statements() {
  begin_ = prepare("BEGIN IMMEDIATE");
  commit_ = prepare("COMMIT");
  rollback_ = prepare("ROLLBACK");
  insert_ = prepare(
      "INSERT INTO orders (order_id, customer_id, total, items, created_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5)");
  after_ = prepare(
      "SELECT seq, order_id, customer_id, total, items, created_at FROM orders "
      "WHERE seq > ?1 ORDER BY seq LIMIT ?2");
  get_ = prepare(
      "SELECT seq, order_id, customer_id, total, items, created_at FROM orders "
      "WHERE order_id = ?1");
  latest_ = prepare(
      "SELECT seq, order_id, customer_id, total, items, created_at FROM orders "
      "ORDER BY seq DESC LIMIT ?1");
  last_seq_ = prepare("SELECT seq FROM sqlite_sequence WHERE name = 'orders'");
  insert_seq_ = prepare(
      "INSERT INTO orders (seq, order_id, customer_id, total, items, created_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (order_id) DO NOTHING");
  // A replica's last seq may be a gap (no row): sqlite_sequence is moved up by hand, which
  // SQLite allows (https://sqlite.org/autoinc.html), so last_seq() stays the log position.
  set_last_seq_ = prepare("UPDATE sqlite_sequence SET seq = ?1 WHERE name = 'orders' AND seq < ?1");
  add_last_seq_ = prepare(
      "INSERT INTO sqlite_sequence (name, seq) SELECT 'orders', ?1 "
      "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'orders')");
  insert_gap_ = prepare("INSERT INTO log_gaps (first_seq, last_seq) VALUES (?1, ?2)");
  gap_after_ = prepare("SELECT first_seq, last_seq FROM log_gaps WHERE last_seq > ?1 ORDER BY last_seq LIMIT 1");
  outbox_insert_ = prepare(
      "INSERT INTO outbox (order_id, customer_id, total, items, created_at) VALUES (?1, ?2, ?3, ?4, ?5)");
  outbox_read_ = prepare(
      "SELECT 0, order_id, customer_id, total, items, created_at FROM outbox ORDER BY id LIMIT ?1");
  outbox_get_ = prepare(
      "SELECT 0, order_id, customer_id, total, items, created_at FROM outbox WHERE order_id = ?1");
  outbox_delete_ = prepare("DELETE FROM outbox WHERE order_id = ?1");
  outbox_count_ = prepare("SELECT count(*) FROM outbox");
}

template <typename Body>
void OrderStore::transaction(Body&& body) {
  {
    StmtUse use(begin_.get());
    step_done(begin_.get(), "cannot begin a transaction");
  }
  try {
    body();
    // Stored only when COMMIT has returned: with synchronous=FULL the log is fsynced then.
    StmtUse use(commit_.get());
    step_done(commit_.get(), "cannot commit");
  } catch (...) {
    if (!sqlite3_get_autocommit(db_.get())) {
      StmtUse use(rollback_.get());
      sqlite3_step(rollback_.get());
    }
    throw;
  }
}

std::vector<StoredOrder> OrderStore::read_all(sqlite3_stmt* s, std::string_view what) {
  std::vector<StoredOrder> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) out.push_back(read_row(s));
  if (rc != SQLITE_DONE) fail(what);
  return out;
}

StoredOrder OrderStore::read_row(sqlite3_stmt* s) const {
  StoredOrder o;
  o.seq = sqlite3_column_int64(s, 0);
  o.order_id = column_text(s, 1);
  o.customer_id = column_text(s, 2);
  o.total = sqlite3_column_double(s, 3);
  o.items_json = column_text(s, 4);
  o.created_at = column_text(s, 5);
  return o;
}

StoredOrder OrderStore::append(const NewOrder& order) {
  return std::move(append_all(std::span<const NewOrder>(&order, 1)).front());
}

StoredOrder OrderStore::stamp(const NewOrder& order) {
  StoredOrder o;
  o.order_id = uuid_v4();
  o.customer_id = order.customer_id;
  o.total = order.total;
  o.items_json = order.items_json;
  o.created_at = format_rfc3339_ms(clock_());
  return o;
}

std::vector<StoredOrder> OrderStore::append_all(std::span<const NewOrder> orders) {
  for (const NewOrder& order : orders) {
    if (!std::isfinite(order.total)) throw std::invalid_argument("store: order total is not finite");
    if (order.customer_id.size() > INT_MAX || order.items_json.size() > INT_MAX) {
      throw std::invalid_argument("store: order too large");
    }
  }
  std::vector<StoredOrder> out(orders.size());
  if (orders.empty()) return out;
  {
    StmtUse use(begin_.get());
    step_done(begin_.get(), "cannot begin a transaction");
  }
  try {
    for (std::size_t i = 0; i < orders.size(); ++i) {
      StoredOrder& o = out[i];
      o = stamp(orders[i]);
      sqlite3_stmt* s = insert_.get();
      StmtUse use(s);
      // SQLITE_STATIC (nullptr): the strings outlive the step below.
      sqlite3_bind_text(s, 1, o.order_id.data(), static_cast<int>(o.order_id.size()), nullptr);
      sqlite3_bind_text(s, 2, o.customer_id.data(), static_cast<int>(o.customer_id.size()), nullptr);
      sqlite3_bind_double(s, 3, o.total);
      if (o.items_json.empty()) {
        sqlite3_bind_null(s, 4);
      } else {
        sqlite3_bind_text(s, 4, o.items_json.data(), static_cast<int>(o.items_json.size()), nullptr);
      }
      sqlite3_bind_text(s, 5, o.created_at.data(), static_cast<int>(o.created_at.size()), nullptr);
      step_done(s, "cannot insert order");
      o.seq = sqlite3_last_insert_rowid(db_.get());
    }
    // The orders count as stored only when COMMIT has returned: with synchronous=FULL
    // the log is fsynced by then.
    StmtUse use(commit_.get());
    step_done(commit_.get(), "cannot commit order");
  } catch (...) {
    if (!sqlite3_get_autocommit(db_.get())) {
      StmtUse use(rollback_.get());
      sqlite3_step(rollback_.get());
    }
    throw;
  }
  return out;
}

std::vector<StoredOrder> OrderStore::after(std::int64_t after_seq, std::size_t limit) {
  std::vector<StoredOrder> out;
  if (limit == 0) return out;
  sqlite3_stmt* s = after_.get();
  StmtUse use(s);
  sqlite3_bind_int64(s, 1, after_seq);
  sqlite3_bind_int64(s, 2, limit > INT64_MAX ? INT64_MAX : static_cast<std::int64_t>(limit));
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) out.push_back(read_row(s));
  if (rc != SQLITE_DONE) fail("cannot read orders");
  return out;
}

std::vector<StoredOrder> OrderStore::latest(std::size_t limit) {
  std::vector<StoredOrder> out;
  if (limit == 0) return out;
  sqlite3_stmt* s = latest_.get();
  StmtUse use(s);
  sqlite3_bind_int64(s, 1, limit > INT64_MAX ? INT64_MAX : static_cast<std::int64_t>(limit));
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) out.push_back(read_row(s));
  if (rc != SQLITE_DONE) fail("cannot read orders");
  std::reverse(out.begin(), out.end());
  return out;
}

std::optional<StoredOrder> OrderStore::get(std::string_view order_id) {
  if (order_id.size() > INT_MAX) return std::nullopt;
  sqlite3_stmt* s = get_.get();
  StmtUse use(s);
  sqlite3_bind_text(s, 1, order_id.data(), static_cast<int>(order_id.size()), nullptr);
  const int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) return read_row(s);
  if (rc != SQLITE_DONE) fail("cannot read order");
  return std::nullopt;
}

std::vector<SeqGap> OrderStore::replicate(std::span<const StoredOrder> orders) {
  std::vector<SeqGap> gaps;
  if (orders.empty()) return gaps;
  const std::int64_t start = last_seq();
  std::int64_t prev = start;
  for (const StoredOrder& o : orders) {
    if (o.seq <= prev) {
      throw std::invalid_argument("store: replicated seq " + std::to_string(o.seq) + " is not above " +
                                  std::to_string(prev));
    }
    if (!std::isfinite(o.total)) throw std::invalid_argument("store: order total is not finite");
    if (o.order_id.size() > INT_MAX || o.customer_id.size() > INT_MAX || o.items_json.size() > INT_MAX ||
        o.created_at.size() > INT_MAX) {
      throw std::invalid_argument("store: order too large");
    }
    prev = o.seq;
  }
  transaction([&] {
    auto gap = [&](std::int64_t first, std::int64_t last) {
      // Adjacent gaps (a trimmed range, then a duplicate) are one range.
      if (!gaps.empty() && gaps.back().last + 1 == first) {
        gaps.back().last = last;
      } else {
        gaps.push_back({first, last});
      }
    };
    std::int64_t at = start;
    for (const StoredOrder& o : orders) {
      if (o.seq > at + 1) gap(at + 1, o.seq - 1);
      sqlite3_stmt* s = insert_seq_.get();
      StmtUse use(s);
      sqlite3_bind_int64(s, 1, o.seq);
      bind_order(s, 2, o);
      step_done(s, "cannot insert replicated order");
      if (sqlite3_changes(db_.get()) == 0) gap(o.seq, o.seq);  // a duplicate order_id
      sqlite3_stmt* d = outbox_delete_.get();
      StmtUse use_d(d);
      sqlite3_bind_text(d, 1, o.order_id.data(), static_cast<int>(o.order_id.size()), nullptr);
      step_done(d, "cannot delete from the outbox");
      at = o.seq;
    }
    for (const SeqGap& g : gaps) {
      sqlite3_stmt* s = insert_gap_.get();
      StmtUse use(s);
      sqlite3_bind_int64(s, 1, g.first);
      sqlite3_bind_int64(s, 2, g.last);
      step_done(s, "cannot record a gap");
    }
    for (sqlite3_stmt* s : {set_last_seq_.get(), add_last_seq_.get()}) {
      StmtUse use(s);
      sqlite3_bind_int64(s, 1, at);
      step_done(s, "cannot move the last seq");
    }
  });
  return gaps;
}

std::optional<SeqGap> OrderStore::gap_after(std::int64_t after_seq) {
  sqlite3_stmt* s = gap_after_.get();
  StmtUse use(s);
  sqlite3_bind_int64(s, 1, after_seq);
  const int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) return SeqGap{sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1)};
  if (rc != SQLITE_DONE) fail("cannot read gaps");
  return std::nullopt;
}

std::vector<StoredOrder> OrderStore::outbox_add_all(std::span<const NewOrder> orders) {
  check_new_orders(orders);
  std::vector<StoredOrder> out(orders.size());
  if (orders.empty()) return out;
  transaction([&] {
    for (std::size_t i = 0; i < orders.size(); ++i) {
      StoredOrder& o = out[i];
      o = stamp(orders[i]);
      sqlite3_stmt* s = outbox_insert_.get();
      StmtUse use(s);
      bind_order(s, 1, o);
      step_done(s, "cannot add to the outbox");
    }
  });
  return out;
}

std::vector<StoredOrder> OrderStore::outbox(std::size_t limit) {
  if (limit == 0) return {};
  sqlite3_stmt* s = outbox_read_.get();
  StmtUse use(s);
  sqlite3_bind_int64(s, 1, limit > INT64_MAX ? INT64_MAX : static_cast<std::int64_t>(limit));
  return read_all(s, "cannot read the outbox");
}

std::optional<StoredOrder> OrderStore::outbox_get(std::string_view order_id) {
  if (order_id.size() > INT_MAX) return std::nullopt;
  sqlite3_stmt* s = outbox_get_.get();
  StmtUse use(s);
  sqlite3_bind_text(s, 1, order_id.data(), static_cast<int>(order_id.size()), nullptr);
  const int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) return read_row(s);
  if (rc != SQLITE_DONE) fail("cannot read the outbox");
  return std::nullopt;
}

std::size_t OrderStore::outbox_size() {
  sqlite3_stmt* s = outbox_count_.get();
  StmtUse use(s);
  if (sqlite3_step(s) != SQLITE_ROW) fail("cannot count the outbox");
  return static_cast<std::size_t>(sqlite3_column_int64(s, 0));
}

std::int64_t OrderStore::last_seq() {
  // sqlite_sequence rather than max(seq): it keeps the highest seq ever assigned, so it
  // agrees with the next append (it gets last_seq() + 1) even after deletes.
  sqlite3_stmt* s = last_seq_.get();
  StmtUse use(s);
  const int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) return sqlite3_column_int64(s, 0);
  if (rc != SQLITE_DONE) fail("cannot read last seq");
  return 0;
}

}  // namespace wirehub::store
