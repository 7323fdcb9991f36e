// wirehub: the server binary. Reads flags and the optional TOML config (flags win),
// mounts the application's endpoints and runs until SIGINT/SIGTERM.

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <optional>
#include <string>
#include <vector>

#include "config.hpp"
#include "conformance.hpp"
#include "dashboard.hpp"
#include "logging.hpp"
#include "topics.hpp"
#include "wirehub/server.hpp"

namespace {

using wirehub::app::Config;

// The raw WebSocket endpoints every wirehub server mounts (DESIGN.md, "Endpoints").
void mount_raw_endpoints(wirehub::Server& server, const Config& cfg,
                         const std::optional<wirehub::JwtAuthOptions>& jwt) {
  server.websocket("/ws/echo", {.on_message = [](wirehub::WebSocket& ws, std::string_view m, bool binary) {
                                  ws.send(m, binary);
                                }},
                   cfg.websocket);

  server.websocket("/ws/orders", {.on_message = [](wirehub::WebSocket& ws, std::string_view m, bool binary) {
                                    if (binary) return;  // the example speaks text only
                                    // One buffer per thread: no allocation per message.
                                    thread_local std::string reply;
                                    reply.assign("Echo: ");
                                    reply.append(m);
                                    ws.send(reply);
                                  }},
                   cfg.websocket);

  // The handler needs its own endpoint, which exists only once registered: it reads it
  // from a cell filled right after.
  auto cell = std::make_shared<wirehub::WebSocketEndpoint*>(nullptr);
  wirehub::WebSocketOptions broadcast_options = cfg.websocket;
  broadcast_options.compression.enabled = cfg.broadcast_compression;
  broadcast_options.compression.mode = cfg.broadcast_compression_mode;
  *cell = &server.websocket(
      "/ws/broadcast",
      {.on_message = [cell](wirehub::WebSocket&, std::string_view m, bool binary) { (*cell)->broadcast(m, binary); }},
      broadcast_options);

  // Behind a token: greets the token's subject, then echoes. Mounted only with a key.
  if (jwt) {
    wirehub::WebSocketOptions secure = cfg.websocket;
    secure.jwt = jwt;
    server.websocket("/ws/secure",
                     {.on_open =
                          [](wirehub::WebSocket& ws) {
                            ws.send("Welcome, " + ws.principal()->subject);
                          },
                      .on_message = [](wirehub::WebSocket& ws, std::string_view m, bool binary) { ws.send(m, binary); }},
                     std::move(secure));
  } else {
    spdlog::info("/ws/secure is not mounted: no JWT key (--jwt-secret or --jwt-public-key)");
  }

  wirehub::WebSocketOptions topics_ws = cfg.websocket;
  topics_ws.compression.mode = wirehub::CompressionMode::Shared;  // a fan-out, like /ws/broadcast
  wirehub::app::mount_topic_endpoints(server, topics_ws, cfg.orderflow.sse, cfg.topics_history);

  server.route("GET", "/healthz", [](const wirehub::HttpRequest&, wirehub::HttpResponse& res) {
    res.body = "ok\n";
  });
}

// TLS is on when a certificate is given: then the key must be too, and the TLS listener
// goes beside the plain one. Files are checked when the server starts (exit 2 as well).
// listen_flag: --tls-listen was given, which without a certificate is a mistake (the
// config file's tls.listen is only a default, like every key there).
bool add_tls_listener(Config& cfg, bool listen_flag) {
  const wirehub::TlsOptions& tls = cfg.server.tls;
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    std::fprintf(stderr, "wirehub: --tls-cert and --tls-key (tls.cert_file, tls.key_file) go together\n");
    return false;
  }
  if (tls.cert_file.empty()) {
    if (listen_flag || !tls.sni.empty()) {
      std::fprintf(stderr, "wirehub: --tls-listen (and tls.sni) need --tls-cert and --tls-key\n");
      return false;
    }
    return true;
  }
  cfg.server.extra_listeners.push_back({cfg.tls_listen, true});
  return true;
}

// True for a listen address on the loopback interface (127.0.0.0/8, ::1, localhost).
bool is_loopback(const std::string& listen) {
  const std::string host = listen.substr(0, listen.rfind(':'));
  return host.rfind("127.", 0) == 0 || host == "[::1]" || host == "::1" || host == "localhost";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"wirehub: real-time messaging server (WebSocket, SSE, SignalR-compatible hubs)"};
  Config cfg;
  std::string config_file, listen, log_level, app_name, tls_cert, tls_key, tls_listen;
  unsigned threads = 0;
  cli.add_option("--config", config_file, "TOML configuration file (flags override it)")->check(CLI::ExistingFile);
  cli.add_option("--listen", listen, "HOST:PORT to listen on (default 127.0.0.1:8080)");
  cli.add_option("--threads", threads, "event-loop threads (default: number of cores)")->check(CLI::Range(1, 256));
  cli.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  std::string log_format;
  cli.add_option("--log-format", log_format, "text (default) or json: one JSON object per line")
      ->check(CLI::IsMember({"text", "json"}));
  cli.add_option("--app", app_name, "application to mount: orderflow (default), or signalr-conformance (the hubs the SignalR clients' tests expect)")
      ->check(CLI::IsMember({"orderflow", "signalr-conformance"}));
  std::string jwt_secret, jwt_public_key, jwt_issuer, jwt_audience;
  std::vector<std::string> jwt_require;
  cli.add_option("--jwt-secret", jwt_secret, "HS256 secret (32 bytes or more) for /ws/secure tokens");
  cli.add_option("--jwt-public-key", jwt_public_key, "PEM public key for /ws/secure tokens (RSA: RS256, P-256: ES256)")
      ->check(CLI::ExistingFile);
  cli.add_option("--jwt-issuer", jwt_issuer, "required \"iss\" of tokens");
  cli.add_option("--jwt-audience", jwt_audience, "required \"aud\" of tokens");
  cli.add_option("--jwt-require", jwt_require, "CLAIM=VALUE a token must carry (else 403); repeatable");
  cli.add_option("--tls-cert", tls_cert, "PEM certificate (chain allowed) for the TLS listener (https, wss)");
  cli.add_option("--tls-key", tls_key, "PEM private key of --tls-cert");
  cli.add_option("--tls-listen", tls_listen, "HOST:PORT of the TLS listener (default 127.0.0.1:8443)");
  std::string redis;
  cli.add_option("--redis", redis,
                 "redis://[[user]:password@]host[:port][/db]: join the other wirehub nodes that use this Redis");
  std::string data_dir;
  cli.add_option("--data", data_dir, "directory of the OrderFlow order store (default ./data)");
  cli.set_version_flag("--version", std::string("wirehub ") + WIREHUB_VERSION);

  try {
    cli.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return cli.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return cli.exit(e);
  } catch (const CLI::ParseError& e) {
    cli.exit(e);
    return 2;
  }

  std::string error;
  if (!config_file.empty() && !wirehub::app::load_config_file(config_file, cfg, &error)) {
    std::fprintf(stderr, "wirehub: %s: %s\n", config_file.c_str(), error.c_str());
    return 2;
  }
  if (cli.count("--listen")) cfg.server.listen = listen;
  if (cli.count("--threads")) cfg.server.threads = threads;
  if (cli.count("--log-level")) cfg.log_level = log_level;
  if (cli.count("--log-format")) cfg.log_format = log_format;
  if (cli.count("--app")) cfg.app = app_name;
  if (cli.count("--jwt-secret") || cli.count("--jwt-public-key")) {
    cfg.jwt.secret = jwt_secret;  // a key given on the command line replaces the file's
    cfg.jwt.secret_file.clear();
    cfg.jwt.public_key_file = jwt_public_key;
  }
  if (cli.count("--jwt-issuer")) cfg.jwt.issuer = jwt_issuer;
  if (cli.count("--jwt-audience")) cfg.jwt.audience = jwt_audience;
  if (cli.count("--jwt-require")) cfg.jwt.require = jwt_require;
  std::optional<wirehub::JwtAuthOptions> jwt;
  if (!wirehub::app::resolve_jwt(cfg.jwt, jwt, &error)) {
    std::fprintf(stderr, "wirehub: %s\n", error.c_str());
    return 2;
  }
  if (cli.count("--tls-cert")) cfg.server.tls.cert_file = tls_cert;
  if (cli.count("--tls-key")) cfg.server.tls.key_file = tls_key;
  if (cli.count("--tls-listen")) cfg.tls_listen = tls_listen;
  if (!add_tls_listener(cfg, cli.count("--tls-listen") > 0)) return 2;
  if (cli.count("--data")) cfg.orderflow.data_dir = data_dir;
  if (cli.count("--redis")) cfg.server.backplane = redis;
  cfg.orderflow.redis_url = cfg.server.backplane;  // the order log is shared through the same Redis
  // The binary joins nodes through Redis only (memory:// is for servers of one process).
  if (!cfg.server.backplane.empty() && !cfg.server.backplane.starts_with("redis://") &&
      !cfg.server.backplane.starts_with("rediss://")) {
    std::fprintf(stderr, "wirehub: --redis (server.redis) must be a redis:// URL, got '%s'\n",
                 cfg.server.backplane.c_str());
    return 2;
  }
  if (cfg.orderflow_require_jwt) {
    if (!jwt) {
      std::fprintf(stderr, "wirehub: orderflow.require_jwt needs a JWT key ([jwt] or --jwt-secret/--jwt-public-key)\n");
      return 2;
    }
    cfg.orderflow.post_jwt = *jwt;
    cfg.orderflow.post_jwt->require_subject = false;  // any valid token may post
  }
  // The order feed is a fan-out: one compressed frame for all its receivers.
  cfg.orderflow.feed_websocket = cfg.websocket;
  cfg.orderflow.hub = cfg.hub;
  cfg.orderflow.feed_websocket.compression.mode = wirehub::CompressionMode::Shared;

  if (!wirehub::app::configure_logging(cfg.log_level, cfg.log_format)) {
    std::fprintf(stderr, "wirehub: invalid log level '%s' or format '%s' (text, json)\n", cfg.log_level.c_str(),
                 cfg.log_format.c_str());
    return 2;
  }
  if (cfg.app == "orderflow" && cfg.orderflow.api_key.empty() && !cfg.orderflow.post_jwt &&
      !is_loopback(cfg.server.listen)) {
    spdlog::warn("POST /api/orders is open to anyone who can reach {}: set orderflow.api_key or "
                 "orderflow.require_jwt",
                 cfg.server.listen);
  }

  if (cfg.app == "signalr-conformance") {
    try {
      wirehub::Server server(cfg.server);
      wirehub::app::mount_signalr_conformance(server, {.https = !cfg.server.tls.cert_file.empty(), .hub = cfg.hub});
      server.route("GET", "/metrics", [&server](const wirehub::HttpRequest&, wirehub::HttpResponse& res) {
        res.content_type = wirehub::MetricsWriter::kContentType;
        res.body = server.metrics_text();
      });
      server.run_until_signal();
    } catch (const std::invalid_argument& e) {
      std::fprintf(stderr, "wirehub: %s\n", e.what());
      return 2;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "wirehub: %s\n", e.what());
      return 1;
    }
    return 0;
  }

  try {
    wirehub::Server server(cfg.server);
    mount_raw_endpoints(server, cfg, jwt);
    wirehub::app::mount_dashboard(server);
    // Declared after the server, so destroyed before it: the store thread publishes to
    // the server's endpoints until it stops.
    wirehub::orderflow::OrderFlow orderflow(cfg.orderflow);
    orderflow.mount(server);
    server.route("GET", "/metrics", [&server, &orderflow](const wirehub::HttpRequest&, wirehub::HttpResponse& res) {
      res.content_type = wirehub::MetricsWriter::kContentType;
      res.body = server.metrics_text();
      orderflow.write_metrics(res.body);
    });
    server.run_until_signal();
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "wirehub: %s\n", e.what());
    return 2;  // a bad value (e.g. --listen), like any other bad flag
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wirehub: %s\n", e.what());
    return 1;
  }
  return 0;
}
