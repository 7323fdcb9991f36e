#pragma once
// The wirehub binary's configuration: embedded defaults, then the TOML file, then flags.

#include <string>

#include "wirehub/server.hpp"
#include "wirehub/websocket.hpp"

namespace wirehub::app {

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
  std::string app = "orderflow";
};

// Reads a TOML file over cfg. Unknown sections or keys and values of the wrong type or
// range are errors (a typo must not silently fall back to a default): returns false and
// sets *error to a message naming the key.
bool load_config_file(const std::string& path, Config& cfg, std::string* error);

}  // namespace wirehub::app
