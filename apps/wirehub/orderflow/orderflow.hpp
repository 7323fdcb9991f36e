#pragma once
// OrderFlow: the live order feed the wirehub binary serves by default.
//
//   POST /api/orders           store an order; 201 once it is durably committed
//   GET  /api/orders           ?after=&limit= (paging) or ?tail=n (the newest)
//   GET  /api/orders/{id}
//   GET  /ws/orders/feed       raw WebSocket feed: SUBSCRIBE / RESUME / UNSUBSCRIBE
//   GET  /sse/orders           Server-Sent Events, resumable (Last-Event-ID or ?after=)
//   /hubs/orders               SignalR-compatible hub: Subscribe(topic) -> last seq,
//                              Unsubscribe(topic), GetRecent(afterSeq) -> events; the server
//                              calls orderCreated(event) on subscribers
//   GET  /readyz               200 once the store answers
//
// Every stored order becomes one ORDER_CREATED event, published to topic "orders" on
// both feeds from the store thread right after its commit (see order_service.hpp for why
// that makes resumption exact).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "orderflow/order_service.hpp"
#include "wirehub/server.hpp"
#include "wirehub/sse.hpp"
#include "wirehub/websocket.hpp"

namespace wirehub::orderflow {

// The feed topic every order event is published to.
inline constexpr std::string_view kOrdersTopic = "orders";

struct OrderFlowOptions {
  std::string data_dir = "./data";          // holds orders.db (created, with the directory)
  std::uint64_t max_body_bytes = 64 * 1024;  // POST /api/orders bodies; over -> 413
  std::size_t default_page = 100;           // GET /api/orders without limit
  std::size_t max_page = 1000;              // limit and tail above this are capped to it
  // A resume further back than this many events is refused with an error (the client
  // should page through GET /api/orders instead): bounds what one resume queues.
  std::size_t max_replay = 100'000;
  // Orders waiting for the store above which POST answers 503 (Retry-After: 1).
  std::size_t max_backlog = 10'000;
  // POST /api/orders is open unless one of these is set; with both, either is enough.
  // An API key: "X-API-Key: <key>" or "Authorization: Bearer <key>".
  std::string api_key;
  // A JWT, checked as WebSocketOptions::jwt checks handshakes (401/403 and their challenge).
  std::optional<JwtAuthOptions> post_jwt;
  WebSocketOptions feed_websocket;  // /ws/orders/feed
  SseOptions sse;                   // /sse/orders
  HubOptions hub;                   // /hubs/orders
};

class OrderFlow {
 public:
  // Opens (creating) data_dir/orders.db and starts the store thread. Throws
  // std::runtime_error with a message naming the path when that fails.
  explicit OrderFlow(OrderFlowOptions options);
  // Stops the store thread after what is queued; call after the server has shut down
  // (the thread publishes to the server's endpoints).
  ~OrderFlow();

  // Registers the routes and endpoints above (before server.start()).
  void mount(Server& server);

  // The app's own metrics in Prometheus text (orders created, store failures, backlog).
  void write_metrics(std::string& out) const;

 private:
  void publish(const store::StoredOrder& o);
  // The refusal of a POST that lacks the configured credentials; nullopt when it may post.
  std::optional<HttpResponse> refuse_post(const HttpRequest& req) const;
  void on_feed_message(WebSocket& ws, std::string_view text, bool binary);
  void on_sse_open(SseStream& stream, const HttpRequest& req);
  // Replays the events after `after` to a feed connection from the store thread, then
  // subscribes it; `generation` guards against a newer command of the same connection.
  void resume_websocket(ConnectionId id, std::uintptr_t generation, std::int64_t after);
  void resume_sse(ConnectionId id, std::int64_t after);

  OrderFlowOptions options_;
  std::optional<BearerAuth> post_jwt_;
  void mount_hub(Server& server);

  WebSocketEndpoint* feed_ = nullptr;
  Hub* hub_ = nullptr;
  SseEndpoint* sse_ = nullptr;
  std::unique_ptr<OrderService> service_;  // last: its thread uses the members above
};

}  // namespace wirehub::orderflow
