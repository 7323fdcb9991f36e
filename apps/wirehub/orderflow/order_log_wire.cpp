#include "orderflow/order_log_wire.hpp"

#include <charconv>
#include <cmath>

namespace wirehub::orderflow {

using backplane::RedisValue;

LogKeys LogKeys::with_prefix(std::string_view prefix) {
  const std::string p(prefix);
  return {p + "seq", p + "log", p + "id:", p + "times"};
}

const std::string_view kAppendScript = R"lua(
local known = redis.call('GET', KEYS[3])
if known then return tonumber(known) end
local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
local newest = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
if #newest > 0 then
  local top = tonumber(string.match(newest[1][1], '^(%d+)'))
  if top > seq then seq = top end
end
local floor = tonumber(ARGV[1])
if floor > seq then seq = floor end
seq = seq + 1
local id = string.format('%d', seq)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], id .. '-0', 'id', ARGV[4], 'customer', ARGV[5],
           'total', ARGV[6], 'items', ARGV[7], 'createdAt', ARGV[8])
redis.call('SET', KEYS[1], id)
redis.call('SET', KEYS[3], id, 'EX', ARGV[3])
return seq
)lua";

const std::string_view kAgeScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local next = tonumber(redis.call('GET', KEYS[1]) or '0')
local newest = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
if #newest > 0 then
  local top = tonumber(string.match(newest[1][1], '^(%d+)'))
  if top > next then next = top end
end
next = next + 1
local last = redis.call('ZREVRANGE', KEYS[3], 0, 0, 'WITHSCORES')
if #last == 0 or (now - tonumber(last[2]) >= tonumber(ARGV[2]) and next > tonumber(last[1])) then
  redis.call('ZADD', KEYS[3], now, string.format('%d', next))
end
local cut = redis.call('ZREVRANGEBYSCORE', KEYS[3], now - tonumber(ARGV[1]), '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
if #cut == 0 then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. cut[2])
return redis.call('XTRIM', KEYS[2], 'MINID', cut[1] .. '-0')
)lua";

std::vector<std::string> age_command(const LogKeys& keys, std::uint64_t max_age_ms, std::uint64_t mark_every_ms) {
  return {"EVAL",      std::string(kAgeScript),      "3", keys.seq, keys.stream, keys.times,
          std::to_string(max_age_ms), std::to_string(mark_every_ms)};
}

std::string total_text(double total) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, total);
  return ec == std::errc() ? std::string(buf, end) : "0";
}

std::vector<std::string> append_command(std::string_view sha, const LogKeys& keys, const store::StoredOrder& o,
                                        std::int64_t floor, const AppendLimits& limits) {
  return {"EVALSHA",
          std::string(sha),
          "3",
          keys.seq,
          keys.stream,
          keys.id_prefix + o.order_id,
          std::to_string(floor),
          std::to_string(limits.max_len),
          std::to_string(limits.dedupe_ttl_s),
          o.order_id,
          o.customer_id,
          total_text(o.total),
          o.items_json,
          o.created_at};
}

std::variant<std::int64_t, std::string> parse_append_reply(const RedisValue& reply) {
  if (reply.type == RedisValue::Type::Integer && reply.integer > 0) return static_cast<std::int64_t>(reply.integer);
  if (reply.is_error()) return reply.str;
  return std::string("unexpected reply to the append script");
}

std::vector<std::string> read_command(const LogKeys& keys, std::int64_t after, std::size_t count,
                                      std::uint32_t block_ms) {
  return {"XREAD",          "COUNT",     std::to_string(count), "BLOCK", std::to_string(block_ms),
          "STREAMS",        keys.stream, std::to_string(after) + "-0"};
}

namespace {

// The seq of an entry id "<seq>-0"; 0 when it is not one.
std::int64_t seq_of(std::string_view id) {
  if (id.size() < 3 || id.substr(id.size() - 2) != "-0") return 0;
  id.remove_suffix(2);
  std::int64_t seq = 0;
  auto [p, ec] = std::from_chars(id.data(), id.data() + id.size(), seq);
  if (ec != std::errc() || p != id.data() + id.size() || seq < 1) return 0;
  return seq;
}

}  // namespace

std::variant<std::vector<store::StoredOrder>, std::string> parse_read_reply(const RedisValue& reply) {
  using T = RedisValue::Type;
  std::vector<store::StoredOrder> out;
  if (reply.type == T::Nil) return out;
  if (reply.is_error()) return reply.str;
  // [[stream, [[id, [field, value, ...]], ...]]]: one stream asked, so one element.
  if (reply.type != T::Array || reply.elements.size() != 1) return std::string("XREAD reply is not one stream");
  const RedisValue& stream = reply.elements[0];
  if (stream.type != T::Array || stream.elements.size() != 2 || stream.elements[1].type != T::Array) {
    return std::string("XREAD reply has no entry list");
  }
  for (const RedisValue& entry : stream.elements[1].elements) {
    if (entry.type != T::Array || entry.elements.size() != 2 || entry.elements[0].type != T::String ||
        entry.elements[1].type != T::Array) {
      return std::string("XREAD entry is not [id, fields]");
    }
    store::StoredOrder o;
    o.seq = seq_of(entry.elements[0].str);
    if (o.seq == 0) return "XREAD entry id '" + entry.elements[0].str.substr(0, 40) + "' is not <seq>-0";
    const auto& f = entry.elements[1].elements;
    bool id = false, customer = false, total = false, created = false;
    for (std::size_t i = 0; i + 1 < f.size(); i += 2) {
      const std::string& name = f[i].str;
      const std::string& value = f[i + 1].str;
      if (name == "id") {
        o.order_id = value;
        id = true;
      } else if (name == "customer") {
        o.customer_id = value;
        customer = true;
      } else if (name == "total") {
        auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), o.total);
        if (ec != std::errc() || p != value.data() + value.size() || !std::isfinite(o.total)) {
          return "entry " + std::to_string(o.seq) + ": total '" + value.substr(0, 40) + "' is not a number";
        }
        total = true;
      } else if (name == "items") {
        o.items_json = value;
      } else if (name == "createdAt") {
        o.created_at = value;
        created = true;
      }
    }
    if (!id || !customer || !total || !created || o.order_id.empty()) {
      return "entry " + std::to_string(o.seq) + " lacks one of id, customer, total, createdAt";
    }
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace wirehub::orderflow
