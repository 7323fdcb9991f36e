// hub_bench_server: what `make bench-hub` loads — the raw WebSocket endpoints of the
// wirehub binary and a hub doing the same work, in one process with one config, so that
// the hub layer's cost is the only difference between a raw run and a hub run.
//
//   /ws/echo       raw: every message back as it came (text stays text)
//   /ws/broadcast  raw: every message to every client of the endpoint, the sender too
//   /hubs/bench    hub (JSON and MessagePack, WebSockets only):
//                    Echo(text) -> text
//                    Join(group)              the caller joins group
//                    Publish(group, payload)  every member gets receive(payload)
//
//   build/bin/hub_bench_server --listen 127.0.0.1:9001 --threads 1

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "wirehub/server.hpp"

int main(int argc, char** argv) {
  wirehub::ServerOptions options;
  options.listen = "127.0.0.1:9001";
  options.threads = 1;
  CLI::App cli{"hub_bench_server: raw WebSocket and hub endpoints for wirehub-bench"};
  cli.add_option("--listen", options.listen, "HOST:PORT")->capture_default_str();
  cli.add_option("--threads", options.threads, "event loops")->check(CLI::Range(1u, 64u))->capture_default_str();
  CLI11_PARSE(cli, argc, argv);

  wirehub::Server server(options);

  // The same handlers as the wirehub binary's /ws/echo and /ws/broadcast.
  server.websocket("/ws/echo", {.on_message = [](wirehub::WebSocket& ws, std::string_view m, bool binary) {
                                  ws.send(m, binary);
                                }});
  auto cell = std::make_shared<wirehub::WebSocketEndpoint*>(nullptr);
  *cell = &server.websocket("/ws/broadcast", {.on_message = [cell](wirehub::WebSocket&, std::string_view m,
                                                                   bool binary) { (*cell)->broadcast(m, binary); }});

  // Only the transport the bench speaks; the payloads (up to 64 KiB in the bench) must fit
  // one hub message.
  wirehub::HubOptions hub_options;
  hub_options.server_sent_events = false;
  hub_options.long_polling = false;
  hub_options.max_message_bytes = 1 << 20;
  wirehub::Hub& hub = server.hub("/hubs/bench", hub_options);
  hub.method("Echo", [](std::string text) { return text; });
  hub.method("Join", [](wirehub::HubCaller& c, const std::string& group) {
    c.hub().add_to_group(c.connection_id(), group);
  });
  hub.method("Publish", [](wirehub::HubCaller& c, std::string group, std::string payload) {
    c.hub().clients().group(std::move(group)).send("receive", wirehub::Json::array({std::move(payload)}));
  });

  try {
    server.run_until_signal();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hub_bench_server: %s\n", e.what());
    return 1;
  }
  return 0;
}
