#include "backplane/redis_backplane.hpp"

#include <algorithm>
#include <atomic>
#include <deque>
#include <functional>
#include <iterator>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "backplane/redis_connection.hpp"
#include "core/log.hpp"
#include "loop/event_loop.hpp"
#include "loop/timer_wheel.hpp"

namespace wirehub::backplane {
namespace {

constexpr std::size_t kEnvelopeBytes = 16;  // origin, sequence: two big-endian u64
// Counts passed to the scripts are capped here: Lua holds numbers as doubles, and Redis
// refuses a count past a signed 64-bit integer (an error reply would be retried forever).
constexpr std::uint64_t kMaxCount = std::uint64_t{1} << 53;
// While a flush waits for peers, how often it asks whether they subscribed again.
constexpr std::uint64_t kPeerPollMs = 50;

// The peer scan (redis_backplane.hpp). KEYS[1] the node set; ARGV[1] the presence channel
// prefix, ARGV[2] this node's id when its presence channel is subscribed ("" otherwise).
// Adds this node, removes members nobody subscribes for any more, returns the others.
constexpr std::string_view kScanScript = R"lua(
if ARGV[2] ~= '' then redis.call('SADD', KEYS[1], ARGV[2]) end
local live = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('PUBSUB', 'NUMSUB', ARGV[1] .. id)[2] > 0 then
    if id ~= ARGV[2] then live[#live + 1] = id end
  else
    redis.call('SREM', KEYS[1], id)
  end
end
return live
)lua";

// A sequenced publish (redis_backplane.hpp, "Sequenced channels"). KEYS[1] the channel's
// stream, KEYS[2] its counter ("<last number>:<epoch, 16 hex digits>"), KEYS[3] the
// origin's last applied sequence; ARGV[1] that sequence for this message, ARGV[2]
// max_messages, ARGV[3] max_age_ms, ARGV[4] the Redis channel, ARGV[5] the payload,
// ARGV[6] an epoch for the channel should its numbering start now (random, from the
// publisher). Returns the number given, or 0 for a re-send already applied. XADD is the first write: an error there (a key of another type, a Redis out
// of memory) leaves nothing half done for the retry.
constexpr std::string_view kSequencedScript = R"lua(
local applied = tonumber(redis.call('GET', KEYS[3]) or '0')
if tonumber(ARGV[1]) <= applied then return 0 end
local counter = redis.call('GET', KEYS[2])
local last, epoch
if counter then
  local n, e = string.match(counter, '^(%d+):(%x+)$')
  last, epoch = tonumber(n), e
else
  -- The counter is written with the stream and expires with it; should it be gone
  -- alone, the stream still knows the last number it took. Either way the numbering
  -- takes a new epoch: positions of the one before get a reset, never these messages.
  last, epoch = 0, ARGV[6]
  if redis.call('EXISTS', KEYS[1]) == 1 then
    local info = redis.call('XINFO', 'STREAM', KEYS[1])
    for i = 1, #info, 2 do
      if info[i] == 'last-generated-id' then last = tonumber(string.match(info[i + 1], '^(%d+)')) end
    end
  end
end
local seq = last + 1
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local id = string.format('%.0f', seq)
redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[2], id .. '-0', 't', now_ms, 'p', ARGV[5])
redis.call('SET', KEYS[2], id .. ':' .. epoch)
redis.call('SET', KEYS[3], ARGV[1], 'EX', 86400)
local max_age = tonumber(ARGV[3])
if max_age > 0 then
  -- Entries are in time order: drop the old head, looking at no more than it.
  local cutoff = now_ms - max_age
  local from, batch, young, old = '-', 1, nil, false
  while not young do
    local head = redis.call('XRANGE', KEYS[1], from, '+', 'COUNT', batch)
    if #head == 0 then break end
    for _, e in ipairs(head) do
      if tonumber(e[2][2]) >= cutoff then young = e[1] break end
      old = true
    end
    from, batch = '(' .. head[#head][1], 64
  end
  if young and old then redis.call('XTRIM', KEYS[1], 'MINID', young) end
  redis.call('PEXPIRE', KEYS[1], max_age * 2)
  redis.call('PEXPIRE', KEYS[2], max_age * 2)
else
  redis.call('PERSIST', KEYS[1])
  redis.call('PERSIST', KEYS[2])
end
local hi, lo = math.floor(seq / 4294967296), seq % 4294967296
local ehi, elo = tonumber(string.sub(epoch, 1, 8), 16), tonumber(string.sub(epoch, 9, 16), 16)
redis.call('PUBLISH', ARGV[4], string.rep('\0', 8) .. struct.pack('>I4I4I4I4', hi, lo, ehi, elo) .. ARGV[5])
return seq
)lua";

// A history read. KEYS[1] the stream, KEYS[2] the counter; ARGV[1] after, ARGV[2] max,
// ARGV[3] max_age_ms. Returns {first, last, {seq, payload, seq, payload, ...}, epoch}
// (epoch "" before the first message): one script, so they agree.
constexpr std::string_view kFetchScript = R"lua(
local counter = redis.call('GET', KEYS[2])
local last, epoch = 0, ''
if counter then
  local n, e = string.match(counter, '^(%d+):(%x+)$')
  last, epoch = tonumber(n), e
end
local cutoff = 0
local max_age = tonumber(ARGV[3])
if max_age > 0 then
  local now = redis.call('TIME')
  cutoff = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - max_age
end
local first = 0
local from, batch = '-', 1
while first == 0 do
  local head = redis.call('XRANGE', KEYS[1], from, '+', 'COUNT', batch)
  if #head == 0 then break end
  for _, e in ipairs(head) do
    if tonumber(e[2][2]) >= cutoff then first = tonumber(string.match(e[1], '^(%d+)')) break end
  end
  from, batch = '(' .. head[#head][1], 64
end
local after, max = tonumber(ARGV[1]), tonumber(ARGV[2])
local out = {}
if first > 0 and after < last and max > 0 then
  local start = string.format('%.0f', math.max(after + 1, first))
  for _, e in ipairs(redis.call('XRANGE', KEYS[1], start .. '-0', '+', 'COUNT', max)) do
    out[#out + 1] = tonumber(string.match(e[1], '^(%d+)'))
    out[#out + 1] = e[2][4]
  end
end
return {first, last, out, epoch}
)lua";

void put_u64(char* p, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

std::uint64_t get_u64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// An epoch as the scripts write it (16 hex digits); 0 for "" (nothing numbered yet).
std::uint64_t parse_epoch(std::string_view hex) {
  std::uint64_t v = 0;
  for (char c : hex) v = v << 4 | static_cast<std::uint64_t>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
  return v;
}

// Never 0: origin 0 marks a sequenced message (redis_backplane.hpp).
std::uint64_t random_node_id() {
  std::random_device rd;
  std::uint64_t id = 0;
  while (id == 0) id = (static_cast<std::uint64_t>(rd()) << 32) | rd();
  return id;
}

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

std::string hex_of(std::uint64_t v) {
  std::string id(16, '0');
  for (int i = 0; i < 16; ++i) id[i] = "0123456789abcdef"[(v >> (60 - 4 * i)) & 0xf];
  return id;
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out.append(out.empty() ? "" : ", ").append(s);
  return out;
}

// A timer that runs a function: the peer scan, the flush wait's poll.
class Ticker final : public loop::Timer {
 public:
  Ticker(loop::EventLoop& loop, std::function<void()> f) : loop_(loop), f_(std::move(f)) {}
  ~Ticker() override = default;
  void after(std::uint64_t ms) { loop_.timers().arm(*this, loop_.now_ms(), ms); }
  void cancel() noexcept { loop_.timers().cancel(*this); }

 private:
  void on_timer() override { f_(); }
  loop::EventLoop& loop_;
  std::function<void()> f_;
};

// One connection's reconnect schedule: exponential backoff with jitter.
class Retry final : public loop::Timer {
 public:
  Retry(loop::EventLoop& loop, RedisConnection& conn) : loop_(loop), conn_(conn) {}
  ~Retry() override = default;

  // Arms the next attempt; returns its delay.
  std::uint64_t schedule(std::uint32_t min_ms, std::uint32_t max_ms, std::mt19937_64& rng) {
    const std::uint64_t base =
        std::min<std::uint64_t>(max_ms, static_cast<std::uint64_t>(min_ms) << std::min(failures_, 20u));
    ++failures_;
    // Jitter in [base/2, base]: nodes that lost Redis together do not return together.
    const std::uint64_t delay = base / 2 + std::uniform_int_distribution<std::uint64_t>(0, base - base / 2)(rng);
    loop_.timers().arm(*this, loop_.now_ms(), delay);
    return delay;
  }
  void reset() noexcept { failures_ = 0; }
  void cancel() noexcept { loop_.timers().cancel(*this); }

 private:
  void on_timer() override { conn_.connect(); }
  loop::EventLoop& loop_;
  RedisConnection& conn_;
  unsigned failures_ = 0;
};

class RedisBackplane final : public Backplane {
 public:
  explicit RedisBackplane(RedisOptions o)
      : opt_(std::move(o)),
        rng_(std::random_device{}()),
        node_id_(random_node_id()),
        hex_id_(hex_of(node_id_)),
        presence_prefix_(opt_.channel_prefix + "node:"),
        presence_channel_(presence_prefix_ + hex_id_),
        nodes_key_(opt_.channel_prefix + "nodes"),
        origin_key_(opt_.channel_prefix + "origin:" + hex_id_),
        pub_(loop_, endpoint("pub")),
        sub_(loop_, endpoint("sub")),
        pub_retry_(loop_, pub_),
        sub_retry_(loop_, sub_) {
    pub_.set_handlers([this] { on_pub_up(); }, [this](std::string_view why) { on_pub_down(why); });
    sub_.set_handlers([this] { on_sub_up(); }, [this](std::string_view why) { on_sub_down(why); },
                      [this](const RedisPush& p) { on_push(p); });
  }
  ~RedisBackplane() override { stop(); }

  void set_handlers(MessageHandler on_message, StateHandler on_state) override {
    on_message_ = std::move(on_message);
    on_state_ = std::move(on_state);
  }
  void set_sequenced_handler(SequencedHandler on_sequenced) override { on_sequenced_ = std::move(on_sequenced); }

  void start() override {
    std::lock_guard lock(mu_);
    if (started_ || stopped_) return;
    started_ = true;
    // spdlog makes its default logger on first use; make it before this thread (and a
    // second node's) can log first, so that its creation is not raced (ThreadSanitizer
    // cannot see the guard of that static inside the spdlog library).
    spdlog::default_logger_raw();
    thread_ = std::thread([this] { run(); });
  }

  void stop() override {
    {
      std::lock_guard lock(mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    if (thread_.joinable()) {
      loop_.stop();
      thread_.join();
    }
  }

  PublishResult publish(std::string_view channel, std::string_view payload) override {
    return enqueue(channel, payload, nullptr);
  }

  PublishResult publish_sequenced(std::string_view channel, std::string_view payload, HistoryLimits limits) override {
    return enqueue(channel, payload, &limits);
  }

  void fetch_history(std::string_view channel, std::uint64_t after, std::size_t max, HistoryLimits limits,
                     std::function<void(HistoryRange)> done) override {
    bool queued = false;
    bool post = false;
    {
      std::lock_guard lock(mu_);
      if (!stopped_ && link_up_) {
        fetches_.push_back({std::string(channel), after, max, limits, std::move(done)});
        queued = true;
        post = !drain_posted_;
        drain_posted_ = true;
      }
    }
    if (!queued) {
      fail(done, "backplane not up");
      return;
    }
    if (post) loop_.post([this] { drain(); });
  }

  // publish() when limits is null, publish_sequenced() otherwise.
  PublishResult enqueue(std::string_view channel, std::string_view payload, const HistoryLimits* limits) {
    bool post = false;
    PublishResult result;
    {
      std::lock_guard lock(mu_);
      if (stopped_ || held_ + 1 > opt_.buffer_max_messages || held_bytes_ + payload.size() > opt_.buffer_max_bytes) {
        ++refused_;
        return PublishResult::Refused;
      }
      Outgoing m;
      m.channel.reserve(opt_.channel_prefix.size() + channel.size());
      m.channel.append(opt_.channel_prefix).append(channel);
      m.seq = ++seq_;
      if (limits != nullptr) {
        m.sequenced = true;
        m.limits = *limits;
        m.data.assign(payload);
      } else {
        m.data.resize(kEnvelopeBytes + payload.size());
        put_u64(m.data.data(), node_id_);
        put_u64(m.data.data() + 8, m.seq);
        std::copy(payload.begin(), payload.end(), m.data.begin() + kEnvelopeBytes);
      }
      outbox_.push_back(std::move(m));
      ++held_;
      held_bytes_ += payload.size();
      ++published_;
      post = !drain_posted_;
      drain_posted_ = true;
      result = link_up_ ? PublishResult::Sent : PublishResult::Buffered;
    }
    if (post) loop_.post([this] { drain(); });
    return result;
  }

  void subscribe(std::string_view channel, std::function<void()> on_active) override {
    loop_.post([this, ch = std::string(channel), cb = std::move(on_active)]() mutable {
      do_subscribe(std::move(ch), std::move(cb));
    });
  }

  void unsubscribe(std::string_view channel) override {
    loop_.post([this, ch = std::string(channel)] { do_unsubscribe(ch); });
  }

  Stats stats() const override {
    Stats s;
    {
      std::lock_guard lock(mu_);
      s.published = published_;
      s.refused = refused_;
      s.buffered = held_;
      s.buffered_bytes = held_bytes_;
    }
    s.state = up_.load(std::memory_order_acquire) ? State::Up : State::Connecting;
    s.delivered = delivered_.load(std::memory_order_relaxed);
    s.duplicates = duplicates_.load(std::memory_order_relaxed);
    s.reconnects = reconnects_.load(std::memory_order_relaxed);
    s.channels = channel_count_.load(std::memory_order_relaxed);
    s.peers = peer_count_.load(std::memory_order_relaxed);
    s.flush_waits = flush_waits_.load(std::memory_order_relaxed);
    s.peers_missed = peers_missed_.load(std::memory_order_relaxed);
    return s;
  }

  std::string_view kind() const noexcept override { return "redis"; }

 private:
  struct Outgoing {
    std::string channel;  // with the prefix
    std::string data;     // plain: envelope + payload; sequenced: the payload (the script wraps it)
    std::uint64_t seq = 0;  // this origin's sequence
    bool sequenced = false;
    HistoryLimits limits;  // sequenced only

    std::size_t payload_bytes() const noexcept { return sequenced ? data.size() : data.size() - kEnvelopeBytes; }
  };
  struct Fetch {
    std::string channel;  // without the prefix
    std::uint64_t after = 0;
    std::size_t max = 0;
    HistoryLimits limits;
    std::function<void(HistoryRange)> done;
  };
  // A SUBSCRIBE or UNSUBSCRIBE of one channel sent and not yet confirmed.
  struct Expected {
    bool subscribe = true;
    bool resubscribe = false;  // sent when the subscriber connection came (back) up
    std::vector<std::function<void()>> on_active;
  };
  struct Channel {
    std::size_t refs = 0;
    std::deque<Expected> expected;               // in send order; Redis confirms in that order
    std::vector<std::function<void()>> parked;   // on_active waiting for the connection
  };

  RedisEndpoint endpoint(std::string_view role) const {
    RedisEndpoint e;
    e.host = opt_.host;
    e.port = opt_.port;
    e.user = opt_.user;
    e.password = opt_.password;
    e.db = opt_.db;
    e.client_name = "wirehub-" + std::string(role) + "-" + hex_id_;
    e.connect_timeout_ms = opt_.connect_timeout_ms;
    e.command_timeout_ms = opt_.command_timeout_ms;
    return e;
  }
  std::string where() const { return opt_.host + ":" + std::to_string(opt_.port); }

  void run() {
    if (on_state_) on_state_(State::Connecting);
    pub_.connect();
    sub_.connect();
    loop_.run();
    // No handler may run once stop() returns: close without callbacks, on this thread.
    pub_retry_.cancel();
    sub_retry_.cancel();
    scan_timer_.cancel();
    poll_timer_.cancel();
    pub_.close();
    sub_.close();
    std::vector<Fetch> queued;
    {
      std::lock_guard lock(mu_);
      queued.swap(fetches_);
    }
    for (Fetch& f : queued) fail(f.done, "backplane stopped");
    for (auto& [id, done] : reading_) fail(done, "backplane stopped");
    reading_.clear();
  }

  static void fail(const std::function<void(HistoryRange)>& done, std::string why) {
    HistoryRange r;
    r.error = std::move(why);
    done(std::move(r));
  }

  // --- publishing (loop thread) ---

  void drain() {
    std::vector<Fetch> fetches;
    take_outbox(&fetches);
    if (up_.load(std::memory_order_relaxed)) flush();
    read_histories(fetches);
  }

  // Moves what callers published into the backlog, in order, and, if fetches is given,
  // the history reads they asked for into it. Both at one instant: every publish a thread
  // made before a read it asked for is in the backlog then, so the read goes after it.
  void take_outbox(std::vector<Fetch>* fetches = nullptr) {
    {
      std::lock_guard lock(mu_);
      draining_.swap(outbox_);
      if (fetches != nullptr) fetches->swap(fetches_);
      drain_posted_ = false;
    }
    for (Outgoing& m : draining_) backlog_.push_back(std::move(m));
    draining_.clear();
  }

  void flush() {
    while (!backlog_.empty()) {
      Outgoing& m = backlog_.front();
      if (!(m.sequenced ? send_sequenced(m) : send_plain(m))) return;
      inflight_.push_back(std::move(m));
      backlog_.pop_front();
    }
  }

  bool send_plain(const Outgoing& m) {
    const std::string_view argv[] = {"PUBLISH", m.channel, m.data};
    return pub_.command(argv, [this](const RedisValue* r) { on_published(r); });
  }

  bool send_sequenced(const Outgoing& m) {
    const std::string_view name = std::string_view(m.channel).substr(opt_.channel_prefix.size());
    const std::string stream = stream_key(name);
    const std::string counter = counter_key(name);
    const std::string seq = std::to_string(m.seq);
    const std::string max_messages = std::to_string(std::clamp<std::uint64_t>(m.limits.max_messages, 1, kMaxCount));
    const std::string max_age = std::to_string(m.limits.max_age_ms);
    // Used by the script only if the channel's numbering starts with this message.
    std::uint64_t fresh = 0;
    while (fresh == 0) fresh = rng_();
    char epoch[17];
    std::snprintf(epoch, sizeof epoch, "%016llx", static_cast<unsigned long long>(fresh));
    const std::string_view argv[] = {"EVALSHA", sequenced_sha_, "3",     stream,    counter, origin_key_, seq,
                                     max_messages, max_age,     m.channel, m.data,  std::string_view(epoch, 16)};
    return pub_.command(argv, [this](const RedisValue* r) { on_published(r); });
  }

  std::string stream_key(std::string_view name) const { return opt_.channel_prefix + "h:" + std::string(name); }
  std::string counter_key(std::string_view name) const { return opt_.channel_prefix + "hseq:" + std::string(name); }

  void on_published(const RedisValue* r) {
    if (r == nullptr) return;  // the connection is lost: on_pub_down re-queues in flight
    if (r->is_error()) {
      // Not taken (a permission, a loading Redis, scripts flushed since the connection
      // loaded them): keep the message first in line and treat the link as failed, so it
      // is retried with backoff — after the scripts are loaded again — instead of
      // dropped. The script numbers a re-sent message at most once.
      std::string why = (inflight_.front().sequenced ? "sequenced publish refused: " : "PUBLISH refused: ") + r->str;
      pub_.close();
      on_pub_down(why);
      return;
    }
    // 0: a re-send the script had applied already (numbered and published once).
    if (inflight_.front().sequenced && r->type == RedisValue::Type::Integer && r->integer == 0) {
      duplicates_.fetch_add(1, std::memory_order_relaxed);
    }
    const std::size_t bytes = inflight_.front().payload_bytes();
    inflight_.pop_front();
    std::lock_guard lock(mu_);
    --held_;
    held_bytes_ -= bytes;
  }

  void on_pub_up() {
    pub_retry_.reset();
    if (pub_was_up_) reconnects_.fetch_add(1, std::memory_order_relaxed);
    pub_was_up_ = true;
    log::info("redis backplane: publish connection to {} up", where());
    // Loaded on every connection (a restarted Redis has none), before any EVALSHA: the
    // link counts as up only once both are in.
    load_script(kSequencedScript, sequenced_sha_);
    load_script(kFetchScript, fetch_sha_);
  }

  void load_script(std::string_view script, std::string& sha) {
    const std::string_view argv[] = {"SCRIPT", "LOAD", script};
    pub_.command(argv, [this, &sha](const RedisValue* r) {
      if (r == nullptr) return;  // lost: on_pub_down has run
      if (r->type != RedisValue::Type::String) {
        std::string why = "SCRIPT LOAD failed: " + r->str;
        pub_.close();
        on_pub_down(why);
        return;
      }
      sha = r->str;
      if (++scripts_loaded_ == 2) update_state();
    });
  }

  bool pub_ready() const noexcept { return pub_.ready() && scripts_loaded_ == 2; }

  // --- history reads (loop thread) ---

  // Sends the reads, after the publishes taken with them (take_outbox).
  void read_histories(std::vector<Fetch>& fetches) {
    for (Fetch& f : fetches) {
      if (!up_.load(std::memory_order_relaxed)) {
        fail(f.done, "backplane not up");
        continue;
      }
      const std::string stream = stream_key(f.channel);
      const std::string counter = counter_key(f.channel);
      const std::string after = std::to_string(f.after);
      const std::string max = std::to_string(std::min<std::uint64_t>(f.max, kMaxCount));
      const std::string max_age = std::to_string(f.limits.max_age_ms);
      const std::string_view argv[] = {"EVALSHA", fetch_sha_, "2", stream, counter, after, max, max_age};
      const std::uint64_t id = ++reads_;
      if (!pub_.command(argv, [this, id](const RedisValue* r) { on_history(id, r); })) {
        fail(f.done, "backplane not up");
        continue;
      }
      reading_.emplace(id, std::move(f.done));
    }
  }

  void on_history(std::uint64_t id, const RedisValue* r) {
    auto it = reading_.find(id);
    if (it == reading_.end()) return;
    const std::function<void(HistoryRange)> done = std::move(it->second);
    reading_.erase(it);
    HistoryRange range;
    if (r == nullptr) {
      range.error = "connection lost";
    } else if (r->type != RedisValue::Type::Array || r->elements.size() != 4 ||
               r->elements[2].type != RedisValue::Type::Array) {
      range.error = r->str.empty() ? "unexpected reply" : r->str;
    } else {
      range.ok = true;
      range.first = static_cast<std::uint64_t>(r->elements[0].integer);
      range.last = static_cast<std::uint64_t>(r->elements[1].integer);
      range.epoch = parse_epoch(r->elements[3].str);
      const auto& flat = r->elements[2].elements;
      range.messages.reserve(flat.size() / 2);
      for (std::size_t i = 0; i + 1 < flat.size(); i += 2) {
        range.messages.emplace_back(static_cast<std::uint64_t>(flat[i].integer), flat[i + 1].str);
      }
    }
    done(std::move(range));
    // Scripts flushed since this connection loaded them: load them again on a new one.
    if (r != nullptr && r->is_error() && r->str.starts_with("NOSCRIPT") && pub_.ready()) {
      pub_.close();
      on_pub_down("history read refused: " + r->str);
    }
  }

  void on_pub_down(std::string_view why) {
    scripts_loaded_ = 0;
    // Reads the connection still owed an answer when it was closed on our side (a lost
    // connection has answered them with nullptr already).
    std::unordered_map<std::uint64_t, std::function<void(HistoryRange)>> unanswered;
    unanswered.swap(reading_);
    for (auto& [id, done] : unanswered) fail(done, "connection lost");
    // Redis may or may not have taken what was in flight: send it again first.
    backlog_.insert(backlog_.begin(), std::make_move_iterator(inflight_.begin()),
                    std::make_move_iterator(inflight_.end()));
    inflight_.clear();
    const std::uint64_t delay = pub_retry_.schedule(opt_.reconnect_min_ms, opt_.reconnect_max_ms, rng_);
    log::warn("redis backplane: publish connection to {} down: {}; retrying in {} ms", where(), why, delay);
    update_state();
  }

  // --- subscribing (loop thread) ---

  void do_subscribe(std::string ch, std::function<void()> on_active) {
    auto it = channels_.find(ch);
    if (it == channels_.end()) it = channels_.emplace(std::move(ch), Channel{}).first;
    Channel& c = it->second;
    if (++c.refs == 1) {
      channel_count_.fetch_add(1, std::memory_order_relaxed);
      if (sub_.ready() && sub_.subscribe(opt_.channel_prefix + it->first)) {
        Expected e;
        if (on_active) e.on_active.push_back(std::move(on_active));
        c.expected.push_back(std::move(e));
      } else if (on_active) {
        c.parked.push_back(std::move(on_active));
      }
      return;
    }
    if (!on_active) return;
    if (!c.expected.empty() && c.expected.back().subscribe) {
      c.expected.back().on_active.push_back(std::move(on_active));
    } else if (!sub_.ready()) {
      c.parked.push_back(std::move(on_active));
    } else {
      on_active();  // confirmed already
    }
  }

  void do_unsubscribe(const std::string& ch) {
    auto it = channels_.find(ch);
    if (it == channels_.end() || it->second.refs == 0) return;  // one too many: ignored
    Channel& c = it->second;
    if (--c.refs > 0) return;
    channel_count_.fetch_sub(1, std::memory_order_relaxed);
    c.parked.clear();
    if (sub_.ready() && sub_.unsubscribe(opt_.channel_prefix + it->first)) c.expected.push_back(Expected{false, false, {}});
    if (c.expected.empty()) channels_.erase(it);
  }

  void on_sub_up() {
    sub_retry_.reset();
    if (sub_was_up_) reconnects_.fetch_add(1, std::memory_order_relaxed);
    sub_was_up_ = true;
    awaiting_resubscribe_ = 0;
    for (auto& [name, c] : channels_) {
      if (c.refs == 0) continue;
      if (!sub_.subscribe(opt_.channel_prefix + name)) break;  // lost again: on_sub_down follows
      Expected e;
      e.resubscribe = true;
      e.on_active = std::move(c.parked);
      c.parked.clear();
      c.expected.push_back(std::move(e));
      ++awaiting_resubscribe_;
    }
    log::info("redis backplane: subscriber connection to {} up, {} channel(s) to subscribe", where(),
              awaiting_resubscribe_);
    // Last: once Redis has run this, it has run every SUBSCRIBE above (one connection's
    // commands run in order), so peers that see it know this node gets what they send.
    if (sub_.ready() && sub_.subscribe(presence_channel_)) ++awaiting_resubscribe_;
    update_state();
  }

  void on_sub_down(std::string_view why) {
    awaiting_resubscribe_ = 0;
    present_ = false;
    for (auto it = channels_.begin(); it != channels_.end();) {
      Channel& c = it->second;
      if (c.refs == 0) {
        it = channels_.erase(it);
        continue;
      }
      for (Expected& e : c.expected) {
        for (auto& f : e.on_active) c.parked.push_back(std::move(f));
      }
      c.expected.clear();
      ++it;
    }
    const std::uint64_t delay = sub_retry_.schedule(opt_.reconnect_min_ms, opt_.reconnect_max_ms, rng_);
    log::warn("redis backplane: subscriber connection to {} down: {}; retrying in {} ms", where(), why, delay);
    update_state();
  }

  void on_push(const RedisPush& p) {
    if (p.channel == presence_channel_) {
      if (p.kind == RedisPush::Kind::Subscribe) {
        present_ = true;
        if (awaiting_resubscribe_ > 0 && --awaiting_resubscribe_ == 0) update_state();
      }
      return;
    }
    if (p.channel.substr(0, opt_.channel_prefix.size()) != opt_.channel_prefix) return;
    const std::string_view name = p.channel.substr(opt_.channel_prefix.size());
    auto it = channels_.find(name);
    if (p.kind == RedisPush::Kind::Message) {
      deliver(it == channels_.end() ? 0 : it->second.refs, name, p.payload);
      return;
    }
    if (it == channels_.end() || it->second.expected.empty()) return;
    Channel& c = it->second;
    Expected e = std::move(c.expected.front());
    c.expected.pop_front();
    if (e.subscribe) {
      if (e.resubscribe && awaiting_resubscribe_ > 0 && --awaiting_resubscribe_ == 0) update_state();
      for (auto& f : e.on_active) f();
    }
    if (c.refs == 0 && c.expected.empty()) channels_.erase(it);
  }

  void deliver(std::size_t refs, std::string_view channel, std::string_view data) {
    if (data.size() < kEnvelopeBytes) {
      log::warn("redis backplane: dropped a message without an envelope on channel {}{}", opt_.channel_prefix,
                channel);
      return;
    }
    const std::uint64_t origin = get_u64(data.data());
    const std::uint64_t seq = get_u64(data.data() + 8);
    if (origin == 0) {
      // Sequenced: the script numbered it once (re-sends are skipped there), and Redis
      // sends every subscriber a channel's messages in the order it ran the scripts, so
      // there is nothing to drop here; it reaches the publishing node too.
      if (refs == 0) return;
      delivered_.fetch_add(1, std::memory_order_relaxed);
      if (data.size() < kEnvelopeBytes + 8) {
        log::warn("redis backplane: dropped a sequenced message without its epoch on channel {}{}",
                  opt_.channel_prefix, channel);
        return;
      }
      if (on_sequenced_) {
        on_sequenced_(channel, get_u64(data.data() + kEnvelopeBytes), seq, data.substr(kEnvelopeBytes + 8));
      }
      return;
    }
    std::uint64_t& last = last_seq_[origin];
    if (seq <= last) {
      duplicates_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    last = seq;
    // A message still in flight after the last local unsubscribe: nobody here wants it.
    if (refs == 0) return;
    if (origin == node_id_ && !opt_.deliver_own) return;  // this node served its own already
    delivered_.fetch_add(1, std::memory_order_relaxed);
    if (on_message_) on_message_(channel, data.substr(kEnvelopeBytes));
  }

  // --- state (loop thread) ---

  void update_state() {
    const bool link = pub_ready() && sub_.ready() && awaiting_resubscribe_ == 0;
    if (!link) {
      poll_timer_.cancel();
      wait_ = Wait::Undecided;  // decided afresh once the link is back
    } else if (wait_ == Wait::Undecided) {
      take_outbox();
      if (!backlog_.empty() && !known_peers_.empty()) {
        begin_wait();
      } else {
        wait_ = Wait::Done;
      }
    }
    const bool up = link && wait_ == Wait::Done;
    if (up == up_.load(std::memory_order_relaxed)) {
      if (up) flush();
      return;
    }
    {
      // Both under the lock, link_up_ first: whoever has seen the state change (stats())
      // and then publishes gets the answer of the new state, never the old one.
      std::lock_guard lock(mu_);
      link_up_ = up;
      up_.store(up, std::memory_order_release);
    }
    if (up) flush();
    log::info("redis backplane: {} ({})", up ? "up" : "connecting", where());
    if (on_state_) on_state_(up ? State::Up : State::Connecting);
    if (up) scan();  // adds this node to the set at once, and learns who is there
  }

  // --- peers (loop thread; redis_backplane.hpp) ---

  // Runs the scan script now (unless one is in flight) and every peer_scan_ms from now.
  void scan() {
    scan_timer_.after(opt_.peer_scan_ms);
    if (scanning_ || !pub_.ready()) return;
    const std::string_view argv[] = {"EVAL", kScanScript, "1", nodes_key_, presence_prefix_,
                                     present_ ? std::string_view(hex_id_) : std::string_view()};
    scanning_ = pub_.command(argv, [this](const RedisValue* r) { on_scan(r); });
  }

  void on_scan(const RedisValue* r) {
    scanning_ = false;
    if (r == nullptr) return;  // lost: on_pub_down has run
    if (r->type != RedisValue::Type::Array) {
      log::warn("redis backplane: peer scan failed: {}", r->str);
      return;
    }
    // Only peers seen while this node is Up are the ones its held publishes wait for: a
    // scan during an outage or a wait would list only the peers already back.
    if (!up_.load(std::memory_order_relaxed)) return;
    std::vector<std::string> peers;
    for (const RedisValue& e : r->elements) peers.push_back(e.str);
    std::sort(peers.begin(), peers.end());
    if (peers == known_peers_) return;
    known_peers_ = std::move(peers);
    peer_count_.store(known_peers_.size(), std::memory_order_relaxed);
    log::info("redis backplane: peers subscribed now: {}", known_peers_.empty() ? "none" : joined(known_peers_));
  }

  void begin_wait() {
    wait_ = Wait::Waiting;
    missing_ = known_peers_;
    wait_started_ms_ = loop_.now_ms();
    flush_waits_.fetch_add(1, std::memory_order_relaxed);
    log::info("redis backplane: back with {} message(s) held; waiting up to {} ms for {} peer(s) to subscribe again",
              backlog_.size(), opt_.flush_wait_ms, missing_.size());
    poll_peers();
  }

  void poll_peers() {
    std::vector<std::string> channels;
    std::vector<std::string_view> argv = {"PUBSUB", "NUMSUB"};
    channels.reserve(missing_.size());
    for (const std::string& id : missing_) channels.push_back(presence_prefix_ + id);
    argv.insert(argv.end(), channels.begin(), channels.end());
    // Not sent only when the connection is gone: update_state ends the wait then.
    pub_.command(argv, [this](const RedisValue* r) { on_poll(r); });
  }

  void on_poll(const RedisValue* r) {
    if (r == nullptr || wait_ != Wait::Waiting) return;
    const std::uint64_t waited = loop_.now_ms() - wait_started_ms_;
    if (r->type != RedisValue::Type::Array) {
      // Without an answer the wait could only run out: do not hold the messages for it.
      log::warn("redis backplane: cannot tell whether the peers subscribed again ({}); sending {} message(s)",
                r->str, backlog_.size());
      end_wait();
      return;
    }
    // [channel, count, channel, count, ...]
    for (std::size_t i = 0; i + 1 < r->elements.size(); i += 2) {
      if (r->elements[i + 1].integer <= 0) continue;
      const std::string_view id = std::string_view(r->elements[i].str).substr(presence_prefix_.size());
      std::erase(missing_, id);
    }
    if (missing_.empty()) {
      log::info("redis backplane: every peer subscribed again after {} ms; sending {} held message(s)", waited,
                backlog_.size());
      end_wait();
    } else if (waited >= opt_.flush_wait_ms) {
      peers_missed_.fetch_add(missing_.size(), std::memory_order_relaxed);
      log::warn("redis backplane: peer(s) {} did not subscribe again within {} ms; sending {} held message(s) "
                "without them",
                joined(missing_), opt_.flush_wait_ms, backlog_.size());
      end_wait();
    } else {
      poll_timer_.after(std::min<std::uint64_t>(kPeerPollMs, opt_.flush_wait_ms - waited));
    }
  }

  void end_wait() {
    wait_ = Wait::Done;
    missing_.clear();
    update_state();
  }

  const RedisOptions opt_;
  std::mt19937_64 rng_;  // loop thread, after construction
  const std::uint64_t node_id_;
  const std::string hex_id_;
  const std::string presence_prefix_;   // channel_prefix + "node:"
  const std::string presence_channel_;  // presence_prefix_ + hex_id_
  const std::string nodes_key_;         // the set of node ids
  const std::string origin_key_;        // this node's last applied sequenced publish
  MessageHandler on_message_;
  StateHandler on_state_;
  SequencedHandler on_sequenced_;

  // Callers' side, guarded by mu_.
  mutable std::mutex mu_;
  std::vector<Outgoing> outbox_;
  std::vector<Fetch> fetches_;  // accepted while Up, not yet sent
  bool drain_posted_ = false;
  bool link_up_ = false;  // what publish() answers: Sent when up, Buffered otherwise
  bool started_ = false;
  bool stopped_ = false;
  std::uint64_t seq_ = 0;
  std::uint64_t held_ = 0;  // published, not yet acknowledged by Redis
  std::uint64_t held_bytes_ = 0;
  std::uint64_t published_ = 0;
  std::uint64_t refused_ = 0;

  std::atomic<bool> up_{false};
  std::atomic<std::uint64_t> delivered_{0};
  std::atomic<std::uint64_t> duplicates_{0};
  std::atomic<std::uint64_t> reconnects_{0};
  std::atomic<std::uint64_t> channel_count_{0};
  std::atomic<std::uint64_t> peer_count_{0};
  std::atomic<std::uint64_t> flush_waits_{0};
  std::atomic<std::uint64_t> peers_missed_{0};

  // Loop thread only. The loop is declared before the connections so that it outlives them.
  loop::EventLoop loop_{64 * 1024};
  RedisConnection pub_;
  RedisConnection sub_;
  Retry pub_retry_;
  Retry sub_retry_;
  bool pub_was_up_ = false;
  bool sub_was_up_ = false;
  int scripts_loaded_ = 0;  // on the current publish connection, of the two
  std::string sequenced_sha_;
  std::string fetch_sha_;
  std::uint64_t reads_ = 0;  // history reads sent, ever: their ids
  std::unordered_map<std::uint64_t, std::function<void(HistoryRange)>> reading_;  // sent, not answered
  std::vector<Outgoing> draining_;
  std::deque<Outgoing> backlog_;   // not yet sent, in publish order
  std::deque<Outgoing> inflight_;  // sent, not yet acknowledged, in publish order
  std::unordered_map<std::string, Channel, StringHash, std::equal_to<>> channels_;
  std::size_t awaiting_resubscribe_ = 0;  // channel and presence confirmations to come
  bool present_ = false;                  // the presence channel is subscribed
  // Whether held publishes wait for peers: decided each time the link comes back.
  enum class Wait : std::uint8_t { Undecided, Waiting, Done };
  Wait wait_ = Wait::Undecided;
  std::vector<std::string> known_peers_;  // ids, sorted: the last scan while Up
  std::vector<std::string> missing_;      // of known_peers_, not subscribed again yet
  std::uint64_t wait_started_ms_ = 0;
  bool scanning_ = false;
  Ticker scan_timer_{loop_, [this] { scan(); }};
  Ticker poll_timer_{loop_, [this] { poll_peers(); }};
  std::unordered_map<std::uint64_t, std::uint64_t> last_seq_;  // per origin: highest sequence seen
  std::thread thread_;
};

}  // namespace

std::unique_ptr<Backplane> make_redis_backplane(RedisOptions options) {
  return std::make_unique<RedisBackplane>(std::move(options));
}

}  // namespace wirehub::backplane
