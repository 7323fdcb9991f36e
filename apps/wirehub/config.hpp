#pragma once
// The wirehub binary's configuration: embedded defaults, then the TOML file, then flags.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "orderflow/orderflow.hpp"
#include "wirehub/server.hpp"
#include "wirehub/websocket.hpp"

namespace wirehub::app {

// Token authentication of /ws/secure, as configured (files not read yet).
struct JwtConfig {
  std::string secret;           // HS256 shared secret
  std::string secret_file;      // or read it from this file (trailing newline dropped)
  std::string public_key_file;  // PEM public key: RSA -> RS256, EC P-256 -> ES256
  std::string issuer, audience;
  std::uint32_t leeway_s = 30;
  std::vector<std::string> require;  // "claim=value"
  bool close_on_expiry = true;
};
// The binary's WebSocket defaults differ from the library's in one way: permessage-deflate
// is on (browsers offer it), with a context per connection.
inline WebSocketOptions app_websocket_defaults() {
  WebSocketOptions w;
  w.compression.enabled = true;
  w.compression.mode = CompressionMode::PerConnection;
  return w;
}

struct Config {
  ServerOptions server;
  WebSocketOptions websocket = app_websocket_defaults();  // /ws/echo, /ws/orders
  // /ws/broadcast: the same options but for compression's on/off and mode (shared by
  // default: a broadcast is compressed once for all its receivers).
  bool broadcast_compression = true;
  CompressionMode broadcast_compression_mode = CompressionMode::Shared;
  std::string log_level = "info";
  std::string log_format = "text";  // or "json"
  std::string app = "orderflow";
  JwtConfig jwt;
  // [tls] listen: where the TLS listener binds once a certificate is given (the
  // certificates themselves are in server.tls).
  std::string tls_listen = "127.0.0.1:8443";
  // The OrderFlow app: store directory, REST limits, the feeds' options. Its
  // feed_websocket starts as `websocket` with shared compression (it is a fan-out).
  orderflow::OrderFlowOptions orderflow;
  // [hub]: the options of every hub the binary mounts (/hubs/orders, the conformance
  // app's hubs), which may adjust them further (e.g. detailed errors for conformance).
  HubOptions hub;
  // POST /api/orders needs a JWT checked with the [jwt] key (orderflow.post_jwt is filled
  // from it once resolved).
  bool orderflow_require_jwt = false;
  // [topics]: the history of /ws/topics and /sse/topics (topics.hpp).
  TopicHistoryOptions topics_history{.max_messages = 1000, .max_age_ms = 3'600'000};
};

// The endpoint options of a JWT configuration: nullopt when no key is configured (then
// /ws/secure is not mounted). false with *error set for unreadable files, two keys, or a
// malformed "claim=value".
bool resolve_jwt(const JwtConfig& in, std::optional<JwtAuthOptions>& out, std::string* error);

// Reads a TOML file over cfg. Unknown sections or keys and values of the wrong type or
// range are errors (a typo must not silently fall back to a default): returns false and
// sets *error to a message naming the key.
bool load_config_file(const std::string& path, Config& cfg, std::string* error);

}  // namespace wirehub::app
