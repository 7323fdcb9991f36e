// A tiny chat room on wirehub's public API: every message a client sends is relayed to
// every client, prefixed with the sender's connection id; joins and leaves are announced.
//
//   build/bin/chat_server 127.0.0.1:9000
//   (then connect two WebSocket clients to ws://127.0.0.1:9000/chat)

#include <wirehub/server.hpp>

#include <cstdio>
#include <memory>
#include <string>

int main(int argc, char** argv) {
  wirehub::ServerOptions options;
  options.listen = argc > 1 ? argv[1] : "127.0.0.1:9000";
  wirehub::Server server(options);

  // Handlers need the endpoint they belong to; it exists once registered.
  auto room = std::make_shared<wirehub::WebSocketEndpoint*>(nullptr);
  wirehub::WebSocketHandlers handlers;
  handlers.on_open = [room](wirehub::WebSocket& ws) {
    (*room)->broadcast("* " + std::to_string(ws.id()) + " joined");
  };
  handlers.on_message = [room](wirehub::WebSocket& ws, std::string_view text, bool binary) {
    if (binary) {
      ws.close(1003, "text only");
      return;
    }
    (*room)->broadcast(std::to_string(ws.id()) + ": " + std::string(text));
  };
  handlers.on_close = [room](wirehub::WebSocket& ws, std::uint16_t, std::string_view) {
    (*room)->broadcast("* " + std::to_string(ws.id()) + " left");
  };
  wirehub::WebSocketOptions ws_options;
  ws_options.max_message_bytes = 64 * 1024;
  *room = &server.websocket("/chat", handlers, ws_options);

  std::printf("chat on ws://%s/chat (Ctrl-C to stop)\n", options.listen.c_str());
  try {
    server.run_until_signal();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "chat_server: %s\n", e.what());
    return 1;
  }
  return 0;
}
