#pragma once
// TopicHistory: the numbered recent messages of an endpoint's topics, so that a
// connection that comes back after a reconnect gets exactly what it missed, or is told
// that it cannot.
//
// A topic numbers its messages 1, 2, 3, ... within an epoch: a random 64-bit id the
// topic takes when its numbering starts. A client's position in a topic is the pair,
// written "<epoch: 16 hex digits>-<seq>" (format_position). A resume from a position of
// another epoch — the numbering started over: the server restarted, Redis lost its data,
// or every message of the topic aged out and it was forgotten — is answered with a reset,
// never with messages of another numbering.
//
// Who numbers: Here (one node: append() gives the next number) or Elsewhere (several
// nodes: the backplane numbers, and accept() takes messages with their numbers; the
// history then only caches what this node has seen since it began to watch the topic,
// and a resume goes to the backplane: replay_after_read). A node
// that misses numbers — its subscription lapsed while Redis stayed up — holds what comes
// after the hole until the caller brought the missing ones from the backplane (fill).
//
// Thread-safe, one mutex. append(), accept() and read_after() run the caller's function
// under it, so what the caller posts to its loops there — a message's delivery, a
// resuming connection's replay — reaches every loop in number order, and a replay posted
// after message n is followed on its loop by the deliveries of n + 1 onwards.
//
// Bounds, per topic: max_messages, and max_age_ms (0: none) on the caller's clock. A
// topic whose messages have all aged out is forgotten, as is one a resume named but no
// message was numbered in (after a second or so); a topic without an age bound keeps its
// numbering (a few dozen bytes) as long as the history lives.

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/shared_buffer.hpp"

namespace wirehub::fanout {

struct HistoryPosition {
  std::uint64_t epoch = 0;
  std::uint64_t seq = 0;
};

// "<epoch as 16 lowercase hex digits>-<seq in decimal>".
std::string format_position(HistoryPosition p);
// The position a string names; nullopt unless exactly that form (seq up to 2^64 - 1).
std::optional<HistoryPosition> parse_position(std::string_view s);

class TopicHistory {
 public:
  enum class Numbering : std::uint8_t { Here, Elsewhere };
  struct Limits {
    std::size_t max_messages = 1000;  // >= 1
    std::uint32_t max_age_ms = 0;     // 0: no age bound
  };

  TopicHistory(Numbering numbering, Limits limits);

  Numbering numbering() const noexcept { return numbering_; }
  const Limits& limits() const noexcept { return limits_; }

  // Numbering Here: gives topic's next number, keeps make(position) — the message as the
  // endpoint sends it, which may carry its position — and calls deliver(message,
  // position), under the lock.
  template <class Make, class Deliver>
  void append(std::string_view topic, std::uint64_t now_ms, Make&& make, Deliver&& deliver) {
    std::lock_guard lock(mu_);
    Topic& t = topic_here(topic, now_ms);
    const HistoryPosition p{t.epoch, t.last + 1};
    BufferRef message = make(p);
    keep(t, p.seq, now_ms, message);
    deliver(message, p);
  }

  enum class Accepted : std::uint8_t {
    Delivered,  // the next message of the topic (or the first this node sees): kept, deliver ran
    Duplicate,  // not newer than the last one taken: dropped, nothing ran
    Gap,        // messages are missing before it (this node's subscription lapsed): it is
                // held, and so is every later one, until fill() brings the missing ones;
                // the caller reads them from the backplane after `last` (in the result)
    Held,       // a fill is pending: held behind it
    Broken,     // of another epoch (the numbering started over): on_break(position before
                // it) ran, the cache restarted from it, then deliver ran
  };
  struct Acceptance {
    Accepted kind;
    std::uint64_t last = 0;  // Gap: the newest number taken before it
  };
  // Numbering Elsewhere: a message numbered by the backplane, in the order it arrives.
  // make(position) builds the message as the endpoint sends it.
  template <class Make, class Deliver, class OnBreak>
  Acceptance accept(std::string_view topic, HistoryPosition p, std::uint64_t now_ms, Make&& make, Deliver&& deliver,
                    OnBreak&& on_break) {
    std::lock_guard lock(mu_);
    Topic* t = find(topic);
    Accepted result = Accepted::Delivered;
    if (t == nullptr) {
      t = &add(topic, p.epoch, p.seq - 1, now_ms);
    } else if (t->epoch != p.epoch) {
      reset_topic(*t, p.epoch, p.seq - 1);
      breaks_.fetch_add(1, std::memory_order_relaxed);
      on_break(HistoryPosition{p.epoch, p.seq - 1});
      result = Accepted::Broken;
    } else if (t->filling) {
      if (p.seq <= (t->held.empty() ? t->last : t->held.back().seq)) return {Accepted::Duplicate};
      t->held.push_back({p.seq, now_ms, make(p)});
      return {Accepted::Held};
    } else if (p.seq <= t->last) {
      return {Accepted::Duplicate};
    } else if (p.seq != t->last + 1) {
      t->filling = true;
      t->held.push_back({p.seq, now_ms, make(p)});
      return {Accepted::Gap, t->last};
    }
    BufferRef message = make(p);
    keep(*t, p.seq, now_ms, message);
    deliver(message, p);
    return {result};
  }

  // Numbering Elsewhere, after a Gap: the backplane's messages after the gap's `last`
  // (ok false: it could not say). Delivers, in order, those that continue the topic, then
  // what was held; where a hole remains (they were trimmed, or the read failed)
  // on_break(position before the next held one) runs first. make(position, payload) builds
  // a fetched message.
  struct Fetched {
    bool ok = false;
    std::uint64_t epoch = 0;
    const std::vector<std::pair<std::uint64_t, std::string>>* messages = nullptr;
  };
  template <class Make, class Deliver, class OnBreak>
  void fill(std::string_view topic, const Fetched& fetched, std::uint64_t now_ms, Make&& make, Deliver&& deliver,
            OnBreak&& on_break) {
    std::lock_guard lock(mu_);
    Topic* t = find(topic);
    if (t == nullptr || !t->filling) return;
    t->filling = false;
    std::deque<Entry> held;
    held.swap(t->held);
    if (fetched.ok && fetched.epoch == t->epoch && fetched.messages != nullptr) {
      for (const auto& [seq, payload] : *fetched.messages) {
        if (seq != t->last + 1 || seq >= held.front().seq) continue;
        const HistoryPosition p{t->epoch, seq};
        BufferRef message = make(p, std::string_view(payload));
        keep(*t, seq, now_ms, message);
        deliver(message, p);
      }
    }
    bool broke = false;
    for (Entry& e : held) {
      if (e.seq <= t->last) continue;
      if (e.seq != t->last + 1) {
        broke = true;
        breaks_.fetch_add(1, std::memory_order_relaxed);
        on_break(HistoryPosition{t->epoch, e.seq - 1});
        t->last = e.seq - 1;
        t->entries.clear();  // contiguous, or nothing
      }
      keep(*t, e.seq, e.at_ms, e.message);
      deliver(e.message, HistoryPosition{t->epoch, e.seq});
    }
    if (!broke) gaps_filled_.fetch_add(1, std::memory_order_relaxed);
  }

  struct Replay {
    enum class Kind : std::uint8_t {
      Messages,  // messages: every message after the position, in order (maybe none)
      Reset,     // some are gone (or the position is of no numbering of this topic)
    };
    Kind kind = Kind::Messages;
    HistoryPosition now;  // the topic's position: its epoch and newest number (0: none yet)
    std::vector<BufferRef> messages;
  };
  // Numbering Here: what a connection resuming topic after `from` gets; then(Replay&&)
  // runs under the lock.
  template <class Then>
  void read_after(std::string_view topic, const std::optional<HistoryPosition>& from, std::uint64_t now_ms, Then&& then) {
    std::lock_guard lock(mu_);
    Replay r = replay(topic, from, now_ms);
    count(r);
    then(std::move(r));
  }

  // What this node delivered after number `through` of epoch (the cached messages), so a
  // resume's replay reaches exactly the newest message delivered here.
  struct Cached {
    // false: the cache cannot say — it holds another epoch, or starts after through + 1
    // while newer messages were taken (some were trimmed meanwhile).
    bool complete = true;
    HistoryPosition now;  // the newest message delivered here (through when none newer)
    std::vector<BufferRef> messages;
  };

  // Numbering Elsewhere: the replay of a resume from `from`, once the backplane read the
  // topic after it (`read`, taken while this node watched the topic): the read's messages
  // (make(position, payload) builds each) and the cached ones after it, or a reset when the
  // read cannot serve the position (another epoch, trimmed, failed) or the cache cannot
  // continue it. then(Replay&&) runs under the lock; its `now` is the floor to subscribe
  // with: the newest message delivered on this node.
  struct Read {
    bool ok = false;
    std::uint64_t epoch = 0, first = 0, last = 0;
    const std::vector<std::pair<std::uint64_t, std::string>>* messages = nullptr;
  };
  template <class Make, class Then>
  void replay_after_read(std::string_view topic, const std::optional<HistoryPosition>& from, const Read& read,
                         std::uint64_t now_ms, Make&& make, Then&& then) {
    std::lock_guard lock(mu_);
    Cached c = cached(topic, {read.epoch, read.last}, now_ms);
    Replay r;
    r.now = c.now;
    const bool kept = read.ok && c.complete && from && from->epoch == read.epoch && from->seq <= read.last &&
                      (from->seq == read.last || (read.first != 0 && read.first <= from->seq + 1));
    if (!kept) {
      r.kind = Replay::Kind::Reset;
    } else {
      if (read.messages != nullptr) {
        for (const auto& [seq, payload] : *read.messages) {
          if (seq > from->seq && seq <= read.last) r.messages.push_back(make(HistoryPosition{read.epoch, seq}, payload));
        }
      }
      for (BufferRef& m : c.messages) r.messages.push_back(std::move(m));
    }
    count(r);
    then(std::move(r));
  }

  std::size_t topic_count() const;

  // For metrics: resumes answered with messages (maybe none) or with a reset; gaps in
  // arriving numbers filled from the backplane, and breaks (a reset sent to a topic's
  // subscribers: a hole that could not be filled, or a new epoch).
  struct Counts {
    std::uint64_t resumed = 0, reset = 0, gaps_filled = 0, breaks = 0;
  };
  Counts counts() const {
    return {resumed_.load(std::memory_order_relaxed), reset_.load(std::memory_order_relaxed),
            gaps_filled_.load(std::memory_order_relaxed), breaks_.load(std::memory_order_relaxed)};
  }

 private:
  struct Entry {
    std::uint64_t seq;
    std::uint64_t at_ms;
    BufferRef message;
  };
  struct Topic {
    std::uint64_t epoch = 0;
    std::uint64_t last = 0;     // newest number taken (0: none)
    std::deque<Entry> entries;  // ascending and contiguous, ending at last (or empty)
    bool filling = false;       // a Gap's fill is pending: arrivals wait in held
    std::deque<Entry> held;     // ascending, all after last + 1
  };
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };

  Topic* find(std::string_view topic);
  Topic& add(std::string_view topic, std::uint64_t epoch, std::uint64_t last, std::uint64_t now_ms);
  Topic& topic_here(std::string_view topic, std::uint64_t now_ms);
  static void reset_topic(Topic& t, std::uint64_t epoch, std::uint64_t last);
  void keep(Topic& t, std::uint64_t seq, std::uint64_t now_ms, const BufferRef& message);
  void trim_age(Topic& t, std::uint64_t now_ms) const;
  static constexpr std::uint64_t kSweepMs = 1000;
  // At most once per kSweepMs: trims every topic by age and forgets what it can (see the
  // .cpp).
  void sweep(std::uint64_t now_ms);
  Replay replay(std::string_view topic, const std::optional<HistoryPosition>& from, std::uint64_t now_ms);
  Cached cached(std::string_view topic, HistoryPosition through, std::uint64_t now_ms);

  const Numbering numbering_;
  Limits limits_;  // max_messages at least 1
  mutable std::mutex mu_;
  std::unordered_map<std::string, Topic, StringHash, std::equal_to<>> topics_;
  std::mt19937_64 epochs_;
  std::uint64_t next_sweep_ms_ = 0;
  std::atomic<std::uint64_t> resumed_{0}, reset_{0}, gaps_filled_{0}, breaks_{0};
  // A resume's outcome, counted.
  void count(const Replay& r) { (r.kind == Replay::Kind::Reset ? reset_ : resumed_).fetch_add(1, std::memory_order_relaxed); }
};

}  // namespace wirehub::fanout
