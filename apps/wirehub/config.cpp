#include "config.hpp"

#include <toml++/toml.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace wirehub::app {

namespace {

struct Reader {
  const toml::table& root;
  std::string* error;
  bool ok = true;

  void fail(const std::string& msg) {
    if (ok && error) *error = msg;
    ok = false;
  }

  template <class T>
  void integer(const toml::table& t, std::string_view section, std::string_view key, T& out, std::int64_t min,
               std::int64_t max) {
    const toml::node* n = t.get(key);
    if (!n) return;
    auto v = n->value<std::int64_t>();
    if (!n->is_integer() || !v) return fail(std::string(section) + "." + std::string(key) + ": expected an integer");
    if (*v < min || *v > max)
      return fail(std::string(section) + "." + std::string(key) + ": out of range [" + std::to_string(min) + ", " +
                  std::to_string(max) + "]");
    out = static_cast<T>(*v);
  }

  void string(const toml::table& t, std::string_view section, std::string_view key, std::string& out) {
    const toml::node* n = t.get(key);
    if (!n) return;
    if (!n->is_string()) return fail(std::string(section) + "." + std::string(key) + ": expected a string");
    out = *n->value<std::string>();
  }

  void boolean(const toml::table& t, std::string_view section, std::string_view key, bool& out) {
    const toml::node* n = t.get(key);
    if (!n) return;
    if (!n->is_boolean()) return fail(std::string(section) + "." + std::string(key) + ": expected true or false");
    out = *n->value<bool>();
  }

  void strings(const toml::table& t, std::string_view section, std::string_view key, std::vector<std::string>& out) {
    const toml::node* n = t.get(key);
    if (!n) return;
    const std::string name = std::string(section) + "." + std::string(key);
    const toml::array* a = n->as_array();
    if (!a) return fail(name + ": expected an array of strings");
    std::vector<std::string> values;
    for (const toml::node& e : *a) {
      if (!e.is_string()) return fail(name + ": expected an array of strings");
      values.push_back(*e.value<std::string>());
    }
    out = std::move(values);
  }

  void only_keys(const toml::table& t, std::string_view section, std::set<std::string_view> known) {
    for (const auto& [k, v] : t) {
      if (!known.count(k.str())) fail("unknown key " + std::string(section) + "." + std::string(k.str()));
    }
  }
};

constexpr std::int64_t kMaxMs = 24LL * 3600 * 1000;

}  // namespace

bool load_config_file(const std::string& path, Config& cfg, std::string* error) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    if (error) {
      *error = path + ":" + std::to_string(e.source().begin.line) + ": " + std::string(e.description());
    }
    return false;
  }
  Reader r{root, error};
  for (const auto& [k, v] : root) {
    static const std::set<std::string_view> sections = {"server", "http", "websocket", "jwt", "log", "tls", "orderflow", "sse", "hub", "topics"};
    if (!sections.count(k.str())) r.fail("unknown section [" + std::string(k.str()) + "]");
    else if (!v.is_table()) r.fail(std::string(k.str()) + ": expected a table");
  }
  if (!r.ok) return false;

  if (auto* t = root["server"].as_table()) {
    r.only_keys(*t, "server", {"listen", "threads", "shutdown_timeout_ms", "app", "redis"});
    r.string(*t, "server", "listen", cfg.server.listen);
    r.integer(*t, "server", "threads", cfg.server.threads, 0, 256);
    r.integer(*t, "server", "shutdown_timeout_ms", cfg.server.shutdown_timeout_ms, 0, kMaxMs);
    r.string(*t, "server", "app", cfg.app);
    r.string(*t, "server", "redis", cfg.server.backplane);
  }
  if (auto* t = root["http"].as_table()) {
    r.only_keys(*t, "http", {"header_timeout_ms", "keep_alive_timeout_ms", "max_head_bytes", "max_headers",
                             "max_body_bytes", "handler_timeout_ms"});
    r.integer(*t, "http", "header_timeout_ms", cfg.server.header_timeout_ms, 1, kMaxMs);
    r.integer(*t, "http", "keep_alive_timeout_ms", cfg.server.keep_alive_timeout_ms, 1, kMaxMs);
    r.integer(*t, "http", "max_head_bytes", cfg.server.max_head_bytes, 256, 1 << 24);
    r.integer(*t, "http", "max_headers", cfg.server.max_headers, 1, 10000);
    r.integer(*t, "http", "max_body_bytes", cfg.server.max_body_bytes, 0, std::int64_t{1} << 32);
    r.integer(*t, "http", "handler_timeout_ms", cfg.server.handler_timeout_ms, 1, kMaxMs);
  }
  if (auto* t = root["websocket"].as_table()) {
    r.only_keys(*t, "websocket", {"max_message_bytes", "ping_interval_ms", "idle_timeout_ms", "close_timeout_ms",
                                  "send_soft_limit", "send_hard_limit", "slow_consumer", "allowed_origins",
                                  "compression", "broadcast_compression", "compression_level",
                                  "compression_min_bytes", "compression_server_max_window_bits",
                                  "compression_client_max_window_bits", "compression_mem_level"});
    WebSocketOptions& w = cfg.websocket;
    r.integer(*t, "websocket", "max_message_bytes", w.max_message_bytes, 0, std::int64_t{1} << 31);
    r.integer(*t, "websocket", "ping_interval_ms", w.ping_interval_ms, 0, kMaxMs);
    r.integer(*t, "websocket", "idle_timeout_ms", w.idle_timeout_ms, 0, kMaxMs);
    r.integer(*t, "websocket", "close_timeout_ms", w.close_timeout_ms, 1, kMaxMs);
    r.integer(*t, "websocket", "send_soft_limit", w.send_soft_limit, 0, std::int64_t{1} << 32);
    r.integer(*t, "websocket", "send_hard_limit", w.send_hard_limit, 1, std::int64_t{1} << 32);
    r.strings(*t, "websocket", "allowed_origins", w.allowed_origins);
    std::string policy;
    r.string(*t, "websocket", "slow_consumer", policy);
    if (!policy.empty()) {
      static const std::map<std::string, SlowConsumerPolicy> names = {
          {"close", SlowConsumerPolicy::Close},
          {"drop_newest", SlowConsumerPolicy::DropNewest},
          {"drop_oldest", SlowConsumerPolicy::DropOldest},
          {"keep_latest", SlowConsumerPolicy::KeepLatest}};
      auto it = names.find(policy);
      if (it == names.end()) r.fail("websocket.slow_consumer: expected close, drop_newest, drop_oldest or keep_latest");
      else w.slow_consumer = it->second;
    }
    // permessage-deflate: "off", "per_connection" or "shared", for the echo endpoints
    // (compression) and for /ws/broadcast (broadcast_compression).
    auto mode = [&r, t](std::string_view key, bool& enabled, CompressionMode& m) {
      std::string v;
      r.string(*t, "websocket", key, v);
      if (v.empty()) return;
      if (v == "off") {
        enabled = false;
      } else if (v == "per_connection" || v == "shared") {
        enabled = true;
        m = v == "shared" ? CompressionMode::Shared : CompressionMode::PerConnection;
      } else {
        r.fail("websocket." + std::string(key) + ": expected off, per_connection or shared");
      }
    };
    CompressionOptions& c = w.compression;
    mode("compression", c.enabled, c.mode);
    mode("broadcast_compression", cfg.broadcast_compression, cfg.broadcast_compression_mode);
    r.integer(*t, "websocket", "compression_level", c.level, 0, 9);
    r.integer(*t, "websocket", "compression_min_bytes", c.min_size, 0, std::int64_t{1} << 31);
    r.integer(*t, "websocket", "compression_server_max_window_bits", c.server_max_window_bits, 8, 15);
    r.integer(*t, "websocket", "compression_client_max_window_bits", c.client_max_window_bits, 8, 15);
    r.integer(*t, "websocket", "compression_mem_level", c.mem_level, 1, 9);
  }
  if (auto* t = root["jwt"].as_table()) {
    r.only_keys(*t, "jwt", {"secret", "secret_file", "public_key_file", "issuer", "audience", "leeway_s", "require",
                            "close_on_expiry"});
    JwtConfig& j = cfg.jwt;
    r.string(*t, "jwt", "secret", j.secret);
    r.string(*t, "jwt", "secret_file", j.secret_file);
    r.string(*t, "jwt", "public_key_file", j.public_key_file);
    r.string(*t, "jwt", "issuer", j.issuer);
    r.string(*t, "jwt", "audience", j.audience);
    r.integer(*t, "jwt", "leeway_s", j.leeway_s, 0, 3600);
    r.strings(*t, "jwt", "require", j.require);
    r.boolean(*t, "jwt", "close_on_expiry", j.close_on_expiry);
  }
  if (auto* t = root["tls"].as_table()) {
    r.only_keys(*t, "tls", {"cert_file", "key_file", "listen", "sni"});
    r.string(*t, "tls", "cert_file", cfg.server.tls.cert_file);
    r.string(*t, "tls", "key_file", cfg.server.tls.key_file);
    r.string(*t, "tls", "listen", cfg.tls_listen);
    if (const toml::node* n = t->get("sni")) {
      // [[tls.sni]] tables or an array of inline tables: {cert_file = "...", key_file = "..."}
      const toml::array* a = n->as_array();
      if (!a) r.fail("tls.sni: expected an array of tables with cert_file and key_file");
      for (std::size_t i = 0; a && i < a->size(); ++i) {
        const toml::table* e = a->get(i)->as_table();
        const std::string name = "tls.sni[" + std::to_string(i) + "]";
        if (!e) {
          r.fail(name + ": expected a table with cert_file and key_file");
          break;
        }
        TlsCertificate c;
        r.only_keys(*e, name, {"cert_file", "key_file"});
        r.string(*e, name, "cert_file", c.cert_file);
        r.string(*e, name, "key_file", c.key_file);
        if (c.cert_file.empty() || c.key_file.empty()) r.fail(name + ": needs both cert_file and key_file");
        cfg.server.tls.sni.push_back(std::move(c));
      }
    }
  }
  if (auto* t = root["orderflow"].as_table()) {
    r.only_keys(*t, "orderflow", {"data_dir", "max_body_bytes", "default_page", "max_page", "max_replay",
                                  "max_backlog", "api_key", "require_jwt", "log_key_prefix", "log_max_len",
                                  "log_max_age_s", "log_dedupe_ttl_s", "max_outbox"});
    orderflow::OrderFlowOptions& o = cfg.orderflow;
    r.string(*t, "orderflow", "data_dir", o.data_dir);
    r.integer(*t, "orderflow", "max_body_bytes", o.max_body_bytes, 64, std::int64_t{1} << 30);
    r.integer(*t, "orderflow", "max_page", o.max_page, 1, 100'000);
    r.integer(*t, "orderflow", "default_page", o.default_page, 1, 100'000);
    r.integer(*t, "orderflow", "max_replay", o.max_replay, 0, std::int64_t{1} << 32);
    r.integer(*t, "orderflow", "max_backlog", o.max_backlog, 1, std::int64_t{1} << 32);
    r.string(*t, "orderflow", "api_key", o.api_key);
    r.boolean(*t, "orderflow", "require_jwt", cfg.orderflow_require_jwt);
    r.string(*t, "orderflow", "log_key_prefix", o.log_key_prefix);
    r.integer(*t, "orderflow", "log_max_len", o.log_max_len, 1, std::int64_t{1} << 40);
    r.integer(*t, "orderflow", "log_max_age_s", o.log_max_age_s, 0, std::int64_t{1} << 31);
    r.integer(*t, "orderflow", "log_dedupe_ttl_s", o.log_dedupe_ttl_s, 1, std::int64_t{1} << 31);
    r.integer(*t, "orderflow", "max_outbox", o.max_outbox, 1, std::int64_t{1} << 32);
    if (o.default_page > o.max_page) r.fail("orderflow.default_page: must not exceed orderflow.max_page");
  }
  if (auto* t = root["sse"].as_table()) {
    r.only_keys(*t, "sse", {"retry_ms", "heartbeat_ms", "send_hard_limit", "allowed_origins"});
    SseOptions& o = cfg.orderflow.sse;
    r.integer(*t, "sse", "retry_ms", o.retry_ms, 0, kMaxMs);
    r.integer(*t, "sse", "heartbeat_ms", o.heartbeat_ms, 0, kMaxMs);
    r.integer(*t, "sse", "send_hard_limit", o.send_hard_limit, 1, std::int64_t{1} << 32);
    r.strings(*t, "sse", "allowed_origins", o.allowed_origins);
  }
  if (auto* t = root["topics"].as_table()) {
    r.only_keys(*t, "topics", {"history_messages", "history_max_age_s"});
    TopicHistoryOptions& o = cfg.topics_history;
    r.integer(*t, "topics", "history_messages", o.max_messages, 1, 1'000'000);
    std::uint32_t age_s = o.max_age_ms / 1000;
    r.integer(*t, "topics", "history_max_age_s", age_s, 0, 30 * 24 * 3600);
    o.max_age_ms = age_s * 1000;
  }
  if (auto* t = root["hub"].as_table()) {
    r.only_keys(*t, "hub", {"websockets", "server_sent_events", "long_polling", "messagepack", "stateful_reconnect",
                            "stateful_reconnect_buffer_bytes", "keep_alive_ms", "client_timeout_ms",
                            "handshake_timeout_ms", "disconnect_timeout_ms", "long_poll_timeout_ms",
                            "max_message_bytes", "send_hard_limit", "detailed_errors", "allowed_origins",
                            "user_claim"});
    HubOptions& o = cfg.hub;
    r.boolean(*t, "hub", "websockets", o.websockets);
    r.boolean(*t, "hub", "server_sent_events", o.server_sent_events);
    r.boolean(*t, "hub", "long_polling", o.long_polling);
    r.boolean(*t, "hub", "messagepack", o.messagepack);
    r.boolean(*t, "hub", "stateful_reconnect", o.stateful_reconnect);
    r.integer(*t, "hub", "stateful_reconnect_buffer_bytes", o.stateful_reconnect_buffer_bytes, 1, std::int64_t{1} << 32);
    r.integer(*t, "hub", "keep_alive_ms", o.keep_alive_ms, 0, kMaxMs);
    r.integer(*t, "hub", "client_timeout_ms", o.client_timeout_ms, 1, kMaxMs);
    r.integer(*t, "hub", "handshake_timeout_ms", o.handshake_timeout_ms, 1, kMaxMs);
    r.integer(*t, "hub", "disconnect_timeout_ms", o.disconnect_timeout_ms, 1, kMaxMs);
    r.integer(*t, "hub", "long_poll_timeout_ms", o.long_poll_timeout_ms, 1, kMaxMs);
    r.integer(*t, "hub", "max_message_bytes", o.max_message_bytes, 64, std::int64_t{1} << 30);
    r.integer(*t, "hub", "send_hard_limit", o.send_hard_limit, 1, std::int64_t{1} << 32);
    r.boolean(*t, "hub", "detailed_errors", o.detailed_errors);
    r.strings(*t, "hub", "allowed_origins", o.allowed_origins);
    r.string(*t, "hub", "user_claim", o.user_claim);
    if (!o.websockets && !o.server_sent_events && !o.long_polling)
      r.fail("hub: at least one of websockets, server_sent_events, long_polling must be true");
  }
  if (auto* t = root["log"].as_table()) {
    r.only_keys(*t, "log", {"level", "format"});
    r.string(*t, "log", "level", cfg.log_level);
    r.string(*t, "log", "format", cfg.log_format);
  }
  return r.ok;
}

namespace {
bool read_file(const std::string& path, std::string& out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  out.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return !f.bad();
}
}  // namespace

bool resolve_jwt(const JwtConfig& in, std::optional<JwtAuthOptions>& out, std::string* error) {
  auto fail = [&](std::string msg) {
    if (error) *error = "jwt: " + std::move(msg);
    return false;
  };
  const int keys = !in.secret.empty() + !in.secret_file.empty() + !in.public_key_file.empty();
  if (keys == 0) {
    out.reset();
    return true;
  }
  if (keys > 1) return fail("give one key: a secret, a secret file or a public key file");
  JwtAuthOptions o;
  o.hs256_secret = in.secret;
  if (!in.secret_file.empty()) {
    if (!read_file(in.secret_file, o.hs256_secret)) return fail(in.secret_file + ": cannot read");
    while (!o.hs256_secret.empty() && (o.hs256_secret.back() == '\n' || o.hs256_secret.back() == '\r')) {
      o.hs256_secret.pop_back();
    }
  }
  if (!in.public_key_file.empty() && !read_file(in.public_key_file, o.public_key_pem)) {
    return fail(in.public_key_file + ": cannot read");
  }
  o.issuer = in.issuer;
  o.audience = in.audience;
  o.leeway_s = in.leeway_s;
  o.close_on_expiry = in.close_on_expiry;
  o.require_subject = true;  // /ws/secure greets the subject
  for (const std::string& req : in.require) {
    const std::size_t eq = req.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == req.size()) {
      return fail("require: expected claim=value, got '" + req + "'");
    }
    o.required_claims.emplace_back(req.substr(0, eq), req.substr(eq + 1));
  }
  out = std::move(o);
  return true;
}

}  // namespace wirehub::app
