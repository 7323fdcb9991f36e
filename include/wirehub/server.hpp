#pragma once
// wirehub public API: the server.
//
//   wirehub::Server server({.listen = "127.0.0.1:8080"});
//   server.websocket("/ws/echo", {.on_message = [](wirehub::WebSocket& ws, std::string_view m, bool bin) {
//     ws.send(m, bin);
//   }});
//   server.run_until_signal();  // starts, then SIGINT/SIGTERM: graceful shutdown
//
// Configure (endpoints, routes) before start(); after it, only the thread-safe calls of
// WebSocketEndpoint, SseEndpoint and HttpResponder, and shutdown(), may be used from
// other threads.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wirehub/hub.hpp"
#include "wirehub/metrics.hpp"
#include "wirehub/sse.hpp"
#include "wirehub/websocket.hpp"

namespace wirehub {

// A certificate and its private key, PEM files (the certificate file may hold its chain).
struct TlsCertificate {
  std::string cert_file;
  std::string key_file;
};

// The certificates of every TLS listener. TLS 1.2 and 1.3, ALPN http/1.1.
struct TlsOptions {
  std::string cert_file;  // the default certificate (PEM, chain allowed)
  std::string key_file;   // its private key (PEM)
  // More certificates, chosen when the client's SNI server name matches one of their
  // SAN DNS names (wildcards included); otherwise the default is used.
  std::vector<TlsCertificate> sni;
};

// One more address to accept on; every loop gets its own SO_REUSEPORT socket for it.
struct ListenerOptions {
  std::string listen;  // HOST:PORT; port 0 picks a free port
  bool tls = false;    // TLS with ServerOptions::tls (https, wss), else plain TCP
};

struct ServerOptions {
  std::string listen = "127.0.0.1:8080";  // HOST:PORT; port 0 picks a free port; "" = none
  unsigned threads = 0;                    // event loops; 0 = one per core
  std::size_t max_head_bytes = 16 * 1024;  // request line + headers; over -> 431
  std::size_t max_headers = 64;            // over -> 431
  std::uint64_t max_body_bytes = 1 << 20;  // default per route; over -> 413
  std::uint32_t header_timeout_ms = 10'000;      // to receive a complete request head
  std::uint32_t keep_alive_timeout_ms = 60'000;  // idle keep-alive connections
  std::uint32_t shutdown_timeout_ms = 5'000;     // graceful shutdown deadline
  // A deferred response (route_async) not given within this time after its request: the
  // client gets 503 and the late answer is dropped. 0 = wait for ever.
  std::uint32_t handler_timeout_ms = 30'000;
  // Listeners besides `listen`, plain or TLS; all serve the same routes. A TLS handshake
  // must complete within header_timeout_ms too (it counts towards the first request).
  std::vector<ListenerOptions> extra_listeners;
  TlsOptions tls;  // needed when a listener has tls = true
  // Several nodes behind one load balancer. "" (default): this server is alone. Else the
  // backplane that joins it to the others: "redis://[[user]:password@]host[:port][/db]"
  // (Redis pub/sub), or "memory://NAME" (the servers of this process that name NAME:
  // tests, embedding). With one, every WebSocket and SSE endpoint's broadcast() and
  // publish() also reach the connections of that path on the other nodes (this node's
  // own connections are served at once, as without a backplane; the others get the
  // message when the backplane brings it, each publishing thread's in order). send_to and
  // post_to stay on this node. start() throws std::invalid_argument for a malformed value.
  std::string backplane;
};

// What the backplane of a server has done (Server::backplane_status).
struct BackplaneStatus {
  std::string kind;       // "" (none), "memory" or "redis"
  bool up = true;         // false while it connects or reconnects: publishes are buffered
  std::uint64_t published = 0;       // messages handed to it for the other nodes
  std::uint64_t refused = 0;         // not sent: its buffer was full while it was down
  std::uint64_t delivered = 0;       // messages from other nodes delivered here
  std::uint64_t duplicates = 0;      // re-sent messages dropped on arrival
  std::uint64_t buffered = 0;        // waiting for it to come back, now
  std::uint64_t buffered_bytes = 0;
  std::uint64_t reconnects = 0;
  std::uint64_t channels = 0;        // channels this node subscribes to now
  std::uint64_t malformed = 0;       // messages from it that no endpoint could read
  // Redis: other nodes seen subscribed at the last scan; flushes held after an outage until
  // those peers subscribed again; peers not back when such a wait ran out (total).
  std::uint64_t peers = 0;
  std::uint64_t flush_waits = 0;
  std::uint64_t peers_missed = 0;
};

// A request as a handler sees it. Every view (and header(), param()) is valid only during
// the handler call: a deferred handler copies what it needs before it returns.
class HttpRequest {
 public:
  std::string_view method;
  std::string_view path;
  std::string_view query;  // without '?'
  std::string_view body;
  // First header with this name (case-insensitive).
  std::optional<std::string_view> header(std::string_view name) const;
  // Percent-decoded query parameter.
  std::optional<std::string> query_param(std::string_view key) const;
  // A {name} segment of the route pattern.
  std::optional<std::string_view> param(std::string_view name) const;

  const void* impl_ = nullptr;    // the parsed head (internal)
  const void* params_ = nullptr;  // route parameters (internal)
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers{};
};

using HttpHandler = std::function<void(const HttpRequest&, HttpResponse&)>;

// Completes one HTTP request, later and from any thread. Move-only. Until it answers,
// its connection reads and parses nothing more (pipelined requests wait, so responses
// keep request order) and no header or keep-alive timeout runs; past
// ServerOptions::handler_timeout_ms the client gets 503 instead. (A std::function must be
// copyable: to hand a responder to one, hold it in a std::shared_ptr.)
class HttpResponder {
 public:
  struct State;  // internal
  explicit HttpResponder(std::unique_ptr<State> state) noexcept;
  HttpResponder(HttpResponder&&) noexcept;
  HttpResponder& operator=(HttpResponder&&) noexcept;  // answers the replaced one with 500 first
  // Never answered: the client gets 500 (and it is logged).
  ~HttpResponder();
  // Sends res (as a synchronous handler's response would be: HEAD, keep-alive). Thread-
  // safe; the first call wins, later calls do nothing. From another thread the answer is
  // posted to the connection's loop; if the connection is gone (or timed out) by then,
  // it is dropped and counted (ServerStats::deferred_dropped). On the loop thread it is
  // written at once. Must not be called after the Server is destroyed.
  void respond(HttpResponse res);
  // True until respond() (or when moved from).
  explicit operator bool() const noexcept;

 private:
  std::unique_ptr<State> state_;
};

// A handler that answers later: it keeps (moves) the responder and calls respond() when
// the answer is ready, from any thread.
using AsyncHttpHandler = std::function<void(const HttpRequest&, HttpResponder)>;

struct RouteOptions {
  // Request body limit of this route; unset: ServerOptions::max_body_bytes. Over -> 413.
  std::optional<std::uint64_t> max_body_bytes;
};

struct ServerStats {
  std::uint64_t accepted = 0;
  std::uint64_t accept_fd_exhausted = 0;  // EMFILE/ENFILE on accept
  std::uint64_t http_requests = 0;
  std::uint64_t http_parse_errors = 0;
  std::uint64_t http_timeouts = 0;
  std::uint64_t deferred_dropped = 0;   // deferred answers given after their connection was gone or timed out
  std::uint64_t deferred_timeouts = 0;  // deferred requests answered 503 after handler_timeout_ms
};

class Server {
 public:
  explicit Server(ServerOptions options = {});
  ~Server();  // shuts down if still running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Registers a WebSocket endpoint at an exact path. The handle stays valid for the
  // server's lifetime.
  WebSocketEndpoint& websocket(std::string path, WebSocketHandlers handlers, WebSocketOptions options = {});
  // Registers a Server-Sent Events endpoint (GET only) at an exact path. The handle stays
  // valid for the server's lifetime.
  SseEndpoint& sse(std::string path, SseHandlers handlers, SseOptions options = {});
  // Registers a hub (wirehub/hub.hpp) at path: negotiate at {path}/negotiate, the
  // transports at {path}; both match the path case-insensitively, as SignalR clients
  // expect. Register its methods on the returned handle before start(); it stays valid
  // for the server's lifetime. Throws std::invalid_argument for options it cannot use.
  Hub& hub(std::string path, HubOptions options = {});
  // The same connection layer without the hub protocol: clients connect with SignalR's
  // HttpConnection (negotiate, then WebSockets, SSE or long polling) and the handlers see
  // the bytes. HubOptions' hub-protocol settings (messagepack, keep-alive, client and
  // handshake timeouts, stateful reconnect) do not apply.
  void connections(std::string path, RawConnectionHandlers handlers, HubOptions options = {});
  // Registers an HTTP route: method "GET", "POST", ...; pattern exact ("/healthz"),
  // with parameters ("/api/orders/{id}") or a prefix ("/static/*"). A handler that
  // throws answers 500.
  void route(std::string_view method, std::string path, HttpHandler handler, RouteOptions options = {});
  // The same, for a handler that answers later through its HttpResponder (see there).
  void route_async(std::string_view method, std::string path, AsyncHttpHandler handler, RouteOptions options = {});

  // Binds the listeners and starts one thread per loop, which never take SIGINT/SIGTERM.
  // Throws std::invalid_argument for a malformed listen address, a TLS listener without a
  // certificate, or a certificate or key that cannot be read, is not PEM or does not
  // match (the message names the file); std::runtime_error when listening fails (e.g.
  // the port is taken).
  void start();
  // The bound port of the first plain listener (after start()); 0 if there is none.
  std::uint16_t port() const noexcept;
  // The bound port of the first TLS listener (after start()); 0 if there is none.
  std::uint16_t tls_port() const noexcept;
  // Every listener's bound port: `listen` (if any) first, then extra_listeners in order.
  std::vector<std::uint16_t> ports() const;
  // Graceful shutdown: stop accepting, close WebSockets with 1001, end SSE streams after
  // what they have queued, give pending deferred
  // responses their time, finish queued writes, until every connection is gone or
  // shutdown_timeout_ms passes. Blocks; call
  // from any thread but a loop thread. Idempotent.
  void shutdown();
  // Blocks SIGINT/SIGTERM in the calling thread, starts the server if start() was not
  // called yet, waits for one of them, then shuts down. Calling it without start() first
  // leaves no window in which a signal could kill the process before it is waited for.
  void run_until_signal();

  ServerStats stats() const;
  // The backplane's state and counters (kind "" when ServerOptions::backplane is empty or
  // before start()). Thread-safe.
  BackplaneStatus backplane_status() const;
  // True when the server runs and every event loop has run its timers within the last
  // within_ms (each loop runs a probe every 100 ms): for readiness checks. False before
  // start(), after shutdown(), or while a loop is stalled (e.g. a handler that blocks).
  bool loops_responsive(std::uint32_t within_ms = 1000) const;
  // The library's metrics in the Prometheus text format 0.0.4 (wirehub/metrics.hpp; serve
  // it with MetricsWriter::kContentType, appending the application's own families with a
  // MetricsWriter). Any thread, once the endpoints are registered.
  std::string metrics_text() const;
  unsigned thread_count() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wirehub
