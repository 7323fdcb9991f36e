#pragma once
// What OrderLog says to Redis and reads back, without I/O: the append script, the
// commands, and the parsing of their replies. The shared order log is a Redis Stream
// whose entry ids are the seqs ("<seq>-0"): an entry's id says its seq, and "read after
// seq N" is XREAD after id N-0, with no field to look up and no second index.
//
// Keys (prefix + name): "seq" the last seq handed out, "log" the stream, "id:<orderId>"
// one per appended order (its seq, expiring after the dedupe window), which makes an
// append idempotent: a node that lost its connection before the reply re-sends the
// order, and gets the seq it already has instead of a second entry; "times" the marks of
// the age bound (kAgeScript), a sorted set whose member (t, s) says every entry below
// seq s was appended before Redis time t (ms).

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "backplane/redis_connection.hpp"
#include "store/order_store.hpp"

namespace wirehub::orderflow {

struct LogKeys {
  std::string seq;
  std::string stream;
  std::string id_prefix;
  std::string times;

  static LogKeys with_prefix(std::string_view prefix);
};

// The Lua script: KEYS seq, stream, id key; ARGV floor, max length, dedupe seconds,
// orderId, customer, total, items, createdAt. Returns the order's seq. The next seq is one
// above the highest of the counter, the stream's newest entry and the floor (the caller's
// replica position), so a Redis that lost its counter, or its data, never hands out a seq
// a replica already holds. Reads come before the first write: a failing XADD leaves
// nothing half done (Redis does not roll back a script's earlier writes).
extern const std::string_view kAppendScript;

struct AppendLimits {
  std::size_t max_len = 1'000'000;       // XADD MAXLEN ~ (approximate: whole nodes are trimmed)
  std::uint32_t dedupe_ttl_s = 86'400;   // how long a re-sent order is recognised
};

// The age bound, run by every node about once a second (it needs no append to run, so an
// idle log ages too). KEYS seq, stream, times; ARGV max age, mark interval (both ms).
// With Redis' clock: adds the mark (now, next seq) unless the newest mark is younger than
// the interval or nothing was appended since it; then trims the stream to MINID s of the
// newest mark (t, s) with t <= now - max age — every entry removed is older than the
// bound, and each goes within about two intervals of passing it — and drops the marks
// before that one. Returns the entries trimmed.
extern const std::string_view kAgeScript;

// EVAL kAgeScript 3 <keys> max_age_ms mark_every_ms.
std::vector<std::string> age_command(const LogKeys& keys, std::uint64_t max_age_ms, std::uint64_t mark_every_ms);

// EVALSHA sha 3 <keys> <args> for appending o (its seq is ignored).
std::vector<std::string> append_command(std::string_view sha, const LogKeys& keys, const store::StoredOrder& o,
                                        std::int64_t floor, const AppendLimits& limits);
// The seq an append was given, or the reason there is none (an error reply, "NOSCRIPT ...").
std::variant<std::int64_t, std::string> parse_append_reply(const backplane::RedisValue& reply);

// XREAD COUNT count BLOCK block_ms STREAMS stream <after>-0.
std::vector<std::string> read_command(const LogKeys& keys, std::int64_t after, std::size_t count,
                                      std::uint32_t block_ms);
// The entries of an XREAD reply, oldest first (none when it timed out: a nil reply), or
// the reason the reply is not one (an error, an entry id that is not "<seq>-0", a missing
// field or a total that is not a number).
std::variant<std::vector<store::StoredOrder>, std::string> parse_read_reply(const backplane::RedisValue& reply);

// The text a total travels as: the shortest that reads back as the same double.
std::string total_text(double total);

}  // namespace wirehub::orderflow
