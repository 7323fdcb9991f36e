// wirehub: the server binary. Reads flags and the optional TOML config (flags win),
// mounts the application's endpoints and runs until SIGINT/SIGTERM.

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>

#include "config.hpp"
#include "wirehub/server.hpp"

namespace {

using wirehub::app::Config;

// The raw WebSocket endpoints every wirehub server mounts (DESIGN.md, "Endpoints").
void mount_raw_endpoints(wirehub::Server& server, const Config& cfg) {
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

  server.route("GET", "/healthz", [](const wirehub::HttpRequest&, wirehub::HttpResponse& res) {
    res.body = "ok\n";
  });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"wirehub: real-time messaging server (WebSocket, SSE, SignalR-compatible hubs)"};
  Config cfg;
  std::string config_file, listen, log_level, app_name;
  unsigned threads = 0;
  cli.add_option("--config", config_file, "TOML configuration file (flags override it)")->check(CLI::ExistingFile);
  cli.add_option("--listen", listen, "HOST:PORT to listen on (default 127.0.0.1:8080)");
  cli.add_option("--threads", threads, "event-loop threads (default: number of cores)")->check(CLI::Range(1, 256));
  cli.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  cli.add_option("--app", app_name, "application to mount: orderflow (default)")
      ->check(CLI::IsMember({"orderflow", "signalr-conformance"}));
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
  if (cli.count("--app")) cfg.app = app_name;

  auto level = spdlog::level::from_str(cfg.log_level);
  if (level == spdlog::level::off && cfg.log_level != "off") {
    std::fprintf(stderr, "wirehub: invalid log level '%s'\n", cfg.log_level.c_str());
    return 2;
  }
  spdlog::set_level(level);
  if (cfg.app != "orderflow") {
    std::fprintf(stderr, "wirehub: --app %s is not available in this build yet\n", cfg.app.c_str());
    return 2;
  }

  try {
    wirehub::Server server(cfg.server);
    mount_raw_endpoints(server, cfg);
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
