#include "orderflow/order_log.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <variant>

#include "loop/timer_wheel.hpp"

namespace wirehub::orderflow {

using backplane::RedisValue;

namespace {
// Pipelined appends not yet answered, at most: a long outbox goes out in slices, so the
// oldest command's reply is never stuck behind thousands of others (command timeout).
constexpr std::size_t kMaxInFlight = 512;
// After the replica failed to store a batch, the same entries are read again this much later.
constexpr std::uint64_t kStorePauseMs = 1'000;
// How often the age script runs, and so the spacing of its time marks.
constexpr std::uint64_t kAgeEveryMs = 1'000;
}  // namespace

// A timer that runs action: after a fixed delay, or after an exponentially growing one
// with jitter (reconnects: nodes that lost Redis together do not all return together).
class OrderLog::Retry final : public loop::Timer {
 public:
  Retry(loop::EventLoop& loop, std::function<void()> action) : loop_(loop), action_(std::move(action)) {}
  ~Retry() override { loop_.timers().cancel(*this); }

  std::uint64_t backoff(std::uint32_t min_ms, std::uint32_t max_ms, std::mt19937_64& rng) {
    const std::uint64_t base =
        std::min<std::uint64_t>(max_ms, static_cast<std::uint64_t>(min_ms) << std::min(failures_, 20u));
    ++failures_;
    const std::uint64_t delay = base / 2 + std::uniform_int_distribution<std::uint64_t>(0, base - base / 2)(rng);
    after(delay);
    return delay;
  }
  void after(std::uint64_t ms) { loop_.timers().arm(*this, loop_.now_ms(), ms); }
  void reset() noexcept { failures_ = 0; }

 private:
  void on_timer() override { action_(); }
  loop::EventLoop& loop_;
  std::function<void()> action_;
  unsigned failures_ = 0;
};

OrderLog::OrderLog(OrderLogOptions options, Callbacks callbacks)
    : opt_(std::move(options)),
      cb_(std::move(callbacks)),
      keys_(LogKeys::with_prefix(opt_.key_prefix)),
      rng_(std::random_device{}()),
      append_(loop_, endpoint("append")),
      tail_(loop_, endpoint("tail")) {
  append_retry_ = std::make_unique<Retry>(loop_, [this] { append_.connect(); });
  tail_retry_ = std::make_unique<Retry>(loop_, [this] { tail_.connect(); });
  read_pause_ = std::make_unique<Retry>(loop_, [this] { read_next(); });
  age_timer_ = std::make_unique<Retry>(loop_, [this] { age(); });
  append_.set_handlers([this] { on_append_up(); }, [this](std::string_view why) { on_append_down(why); });
  tail_.set_handlers([this] { on_tail_up(); }, [this](std::string_view why) { on_tail_down(why); });
}

OrderLog::~OrderLog() { stop(); }

backplane::RedisEndpoint OrderLog::endpoint(std::string_view role) const {
  backplane::RedisEndpoint e = opt_.endpoint;
  e.client_name = "wirehub-orderlog-" + std::string(role);
  return e;
}

void OrderLog::start(std::int64_t replica_last_seq, std::vector<store::StoredOrder> outbox) {
  if (started_.exchange(true) || stopped_.load()) return;
  cursor_ = replica_last_seq;
  replica_.store(replica_last_seq);
  head_.store(replica_last_seq);
  queue_.assign(std::make_move_iterator(outbox.begin()), std::make_move_iterator(outbox.end()));
  unsent_.store(queue_.size());
  loop_.post([this] {
    append_.connect();
    tail_.connect();
    if (opt_.max_age_ms > 0) age();
  });
  thread_ = std::thread([this] { loop_.run(); });
}

void OrderLog::stop() {
  if (stopped_.exchange(true)) return;
  if (thread_.joinable()) {
    loop_.stop();
    thread_.join();
  }
  // The loop no longer runs: end the connections here, with their handlers unrun.
  append_.close();
  tail_.close();
}

void OrderLog::submit(store::StoredOrder order) {
  if (stopped_.load()) return;
  loop_.post([this, o = std::move(order)]() mutable {
    queue_.push_back(std::move(o));
    unsent_.store(queue_.size(), std::memory_order_relaxed);
    if (link_up()) {
      pump();
    } else if (cb_.on_stalled) {
      cb_.on_stalled();
    }
  });
}

void OrderLog::stored(std::int64_t last_seq, bool ok) {
  if (stopped_.load()) return;
  loop_.post([this, last_seq, ok] {
    storing_ = false;
    cursor_ = std::max(cursor_, last_seq);
    replica_.store(cursor_, std::memory_order_relaxed);
    if (ok) {
      read_next();
    } else {
      read_pause_->after(kStorePauseMs);
    }
  });
}

OrderLog::Stats OrderLog::stats() const {
  Stats s;
  s.up = up_.load(std::memory_order_acquire);
  s.replica = replica_.load(std::memory_order_relaxed);
  s.head = std::max(head_.load(std::memory_order_relaxed), s.replica);
  s.unsent = unsent_.load(std::memory_order_relaxed);
  s.reconnects = reconnects_.load(std::memory_order_relaxed);
  return s;
}

void OrderLog::set_up() {
  const bool up = link_up();
  if (up_.exchange(up, std::memory_order_acq_rel) != up) {
    spdlog::info("order log at redis {}:{} {}", opt_.endpoint.host, opt_.endpoint.port, up ? "up" : "down");
  }
}

void OrderLog::drop(backplane::RedisConnection& conn, std::string_view why) {
  spdlog::warn("order log: {}; reconnecting", why);
  conn.close();  // no handler of it runs: report the loss ourselves
  if (&conn == &append_) {
    on_append_down(why);
  } else {
    on_tail_down(why);
  }
}

// --- appending ---

void OrderLog::on_append_up() {
  if (ever_up_append_) reconnects_.fetch_add(1, std::memory_order_relaxed);
  ever_up_append_ = true;
  append_retry_->reset();
  // Loaded on every connection: a restarted Redis has no scripts. EVALSHA is only sent
  // after this reply, so a NOSCRIPT means someone flushed the scripts since: the
  // connection is dropped and the next one loads it again (see on_append_reply).
  append_.command({"SCRIPT", "LOAD", kAppendScript}, [this](const RedisValue* reply) {
    if (reply == nullptr) return;  // lost: on_append_down has run
    if (reply->type != RedisValue::Type::String) {
      drop(append_, "SCRIPT LOAD failed: " + reply->str);
      return;
    }
    sha_ = reply->str;
    script_loaded_ = true;
    sent_ = 0;
    set_up();
    pump();
  });
}

void OrderLog::on_append_down(std::string_view why) {
  const bool was_up = link_up();
  script_loaded_ = false;
  sent_ = 0;  // whatever was not answered goes again, first, on the next connection
  set_up();
  if (was_up) spdlog::warn("order log append connection lost: {}", why);
  const std::uint64_t delay = append_retry_->backoff(opt_.reconnect_min_ms, opt_.reconnect_max_ms, rng_);
  spdlog::debug("order log append connection: {}; retrying in {} ms", why, delay);
  if (!queue_.empty() && cb_.on_stalled) cb_.on_stalled();
}

void OrderLog::pump() {
  if (!link_up()) return;
  while (sent_ < queue_.size() && sent_ < kMaxInFlight) {
    const std::vector<std::string> argv = append_command(sha_, keys_, queue_[sent_], cursor_, opt_.limits);
    const std::vector<std::string_view> views(argv.begin(), argv.end());
    if (!append_.command(views, [this](const RedisValue* reply) { on_append_reply(reply); })) return;
    ++sent_;
  }
}

void OrderLog::on_append_reply(const RedisValue* reply) {
  if (reply == nullptr) return;  // lost: on_append_down has run and reset sent_
  auto result = parse_append_reply(*reply);
  if (auto* why = std::get_if<std::string>(&result)) {
    // NOSCRIPT, an out-of-memory Redis, a stream written by something else: nothing was
    // appended; drop the connection and send this order and the rest again on a new one.
    drop(append_, "append refused: " + *why);
    return;
  }
  // Replies come in command order, and the commands went in queue order.
  const std::int64_t seq = std::get<std::int64_t>(result);
  queue_.pop_front();
  --sent_;
  unsent_.store(queue_.size(), std::memory_order_relaxed);
  if (seq > head_.load(std::memory_order_relaxed)) head_.store(seq, std::memory_order_relaxed);
  pump();
}

void OrderLog::age() {
  age_timer_->after(kAgeEveryMs);
  if (aging_ || !append_.ready()) return;
  const std::vector<std::string> argv = age_command(keys_, opt_.max_age_ms, kAgeEveryMs);
  const std::vector<std::string_view> views(argv.begin(), argv.end());
  aging_ = append_.command(views, [this](const RedisValue* reply) {
    aging_ = false;
    if (reply == nullptr) return;  // lost: on_append_down has run; the next tick tries again
    if (reply->is_error()) {
      // The appends do not depend on it: keep the connection, say why, try again later.
      spdlog::warn("order log: age trim failed: {}", reply->str);
    } else if (reply->integer > 0) {
      spdlog::info("order log: {} entr{} older than {} s trimmed", reply->integer, reply->integer == 1 ? "y" : "ies",
                   opt_.max_age_ms / 1000.0);
    }
  });
}

// --- tailing ---

void OrderLog::on_tail_up() {
  if (ever_up_tail_) reconnects_.fetch_add(1, std::memory_order_relaxed);
  ever_up_tail_ = true;
  tail_retry_->reset();
  set_up();
  pump();  // held back while the reader was down
  read_next();
}

void OrderLog::on_tail_down(std::string_view why) {
  const bool was_up = link_up();
  reading_ = false;
  set_up();
  if (was_up) spdlog::warn("order log read connection lost: {}", why);
  tail_retry_->backoff(opt_.reconnect_min_ms, opt_.reconnect_max_ms, rng_);
  if (cb_.on_stalled) cb_.on_stalled();
}

void OrderLog::read_next() {
  if (reading_ || storing_ || !tail_.ready()) return;
  // Blocks on Redis for at most half the command timeout, so an idle stream is never
  // mistaken for a dead connection.
  const std::uint32_t block = std::max<std::uint32_t>(1, std::min<std::uint32_t>(1'000, opt_.endpoint.command_timeout_ms / 2));
  const std::vector<std::string> argv = read_command(keys_, cursor_, opt_.read_count, block);
  const std::vector<std::string_view> views(argv.begin(), argv.end());
  reading_ = tail_.command(views, [this](const RedisValue* reply) { on_read_reply(reply); });
}

void OrderLog::on_read_reply(const RedisValue* reply) {
  if (reply == nullptr) return;  // lost: on_tail_down has run
  reading_ = false;
  auto result = parse_read_reply(*reply);
  if (auto* why = std::get_if<std::string>(&result)) {
    drop(tail_, "XREAD: " + *why);
    return;
  }
  auto& entries = std::get<std::vector<store::StoredOrder>>(result);
  if (entries.empty()) {
    read_next();
    return;
  }
  if (entries.back().seq > head_.load(std::memory_order_relaxed)) {
    head_.store(entries.back().seq, std::memory_order_relaxed);
  }
  storing_ = true;
  cb_.on_entries(std::move(entries));
}

}  // namespace wirehub::orderflow
