#pragma once
// The wirehub binary's configuration: embedded defaults, then the TOML file, then flags.

#include <string>

#include "wirehub/server.hpp"
#include "wirehub/websocket.hpp"

namespace wirehub::app {

struct Config {
  ServerOptions server;
  WebSocketOptions websocket;
  std::string log_level = "info";
  std::string app = "orderflow";
  // [tls] listen: where the TLS listener binds once a certificate is given (the
  // certificates themselves are in server.tls).
  std::string tls_listen = "127.0.0.1:8443";
};

// Reads a TOML file over cfg. Unknown sections or keys and values of the wrong type or
// range are errors (a typo must not silently fall back to a default): returns false and
// sets *error to a message naming the key.
bool load_config_file(const std::string& path, Config& cfg, std::string* error);

}  // namespace wirehub::app
