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
//
// With redis_url set (the binary's --redis) the order log is a Redis Stream every node
// shares (ADR 0011 section 4, order_log.hpp): a POST goes to the store's durable outbox,
// then to the log, which gives it the global seq; every node tails the log into its store
// (a replica) and publishes from there, so every node's feeds carry every order once, in
// seq order. POST answers 201 once this node's replica holds the order, or 202 (pending)
// while the log is unreachable; /readyz and /metrics report the log. A feed resume from a
// seq the replica has not read yet waits until it has (ADR 0011, "Ahead").

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "orderflow/order_log.hpp"
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

  // The shared order log. Empty: this node's store is the log (one node).
  std::string redis_url;                    // redis://[[user]:password@]host[:port][/db]
  std::string log_key_prefix = "wirehub:orderflow:";  // Redis keys: <prefix>log, seq, id:<orderId>, times
  std::size_t log_max_len = 1'000'000;      // entries the stream keeps (MAXLEN ~)
  std::uint32_t log_max_age_s = 7 * 86'400;  // entries older are trimmed (0: no age bound)
  std::uint32_t log_dedupe_ttl_s = 86'400;  // how long an append re-sent after a lost reply is recognised
  // Orders waiting in this node's outbox (the log unreachable) above which POST answers 503.
  std::size_t max_outbox = 10'000;
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

  // The app's own metrics in Prometheus text (orders created, store failures, backlog;
  // wirehub_orderflow_log_* with a shared log).
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
  // Shared log: the POST of order, once checked: outbox, then the log.
  void post_to_log(store::NewOrder order, std::shared_ptr<HttpResponder> responder);
  // Shared log: stores a batch read from it in the replica and publishes it (store thread).
  void replicate(store::OrderStore& store, const std::vector<store::StoredOrder>& entries);
  // Shared log: answers every POST still waiting for its replica copy 202 (store thread).
  void answer_pending();
  // Shared log: why a resume after `after` is refused when the replica misses seqs after it.
  std::optional<std::string> gap_error(store::OrderStore& store, std::int64_t after) const;
  // Shared log: a resume from a point the replica has not reached yet (a client that saw
  // it on a node that was ahead) must wait until it has, or the orders up to that point
  // would reach the subscribed connection a second time, live. Runs resume now when the
  // replica holds `after` (or without a shared log), else keeps it for run_caught_up();
  // one kept longer than kResumeWaitLimit (10 s) gets refuse(error) instead (store thread).
  void resume_when_caught_up(store::OrderStore& store, std::int64_t after,
                             std::function<void(store::OrderStore&)> resume,
                             std::function<void(const std::string& error)> refuse);
  // Runs the kept resumes the replica now holds, refuses the ones kept too long.
  void run_caught_up(store::OrderStore& store);

  OrderFlowOptions options_;
  std::optional<BearerAuth> post_jwt_;
  void mount_hub(Server& server);

  WebSocketEndpoint* feed_ = nullptr;
  Hub* hub_ = nullptr;
  SseEndpoint* sse_ = nullptr;

  // Shared log only. The log thread queues jobs on the service; the service's jobs call
  // the log: ~OrderFlow stops the log first, then the service drains (log calls are then
  // ignored).
  std::unique_ptr<OrderLog> log_;
  std::int64_t initial_seq_ = 0;
  std::vector<store::StoredOrder> initial_outbox_;
  struct Waiting {
    std::shared_ptr<HttpResponder> responder;
    store::StoredOrder order;  // seq 0
  };
  std::unordered_map<std::string, Waiting> waiting_;  // by order id; store thread only
  struct Ahead {
    std::int64_t after;
    std::chrono::steady_clock::time_point since;
    std::function<void(store::OrderStore&)> resume;
    std::function<void(const std::string&)> refuse;
  };
  std::deque<Ahead> ahead_;  // resumes waiting for the replica, oldest first; store thread only
  std::atomic<std::size_t> outbox_size_{0};
  std::atomic<std::uint64_t> gaps_{0}, gap_seqs_{0};

  std::unique_ptr<OrderService> service_;  // last: its thread uses the members above
};

}  // namespace wirehub::orderflow
