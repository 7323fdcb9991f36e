#pragma once
// wirehub public API: WebSocket endpoints.
//
// An endpoint is a path plus handlers and options. Handlers run on the loop thread that
// owns the connection; a WebSocket& is valid only during a handler call (keep its id()
// to reach it later, from any thread, through WebSocketEndpoint::send_to or post_to).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "wirehub/auth.hpp"

namespace wirehub {

// What to do when a connection's queued output passes the hard limit.
enum class SlowConsumerPolicy : std::uint8_t {
  Close,       // close with 1008 "slow consumer"
  DropNewest,  // refuse the new message
  DropOldest,  // drop queued messages that have not started to be written, oldest first
  // Conflate by topic: a new message replaces the queued, unstarted messages of its topic
  // (see the topic argument of send/broadcast). Messages without a topic are dropped as
  // with DropNewest; if even one message per topic exceeds twice the hard limit, the
  // connection is closed as with Close.
  KeepLatest,
};

// Where permessage-deflate (RFC 7692) keeps its compression state.
enum class CompressionMode : std::uint8_t {
  // Context takeover both ways, as the client asks: each connection that uses it gets its
  // own compressor and decompressor (allocated at first use; roughly
  // 2^(server_max_window_bits+2) + 2^(mem_level+9) bytes plus 2^client_window_bits, about
  // 300 KiB at the defaults, of which ~95-250 KiB is touched in practice). Best ratio; for
  // request/reply endpoints. A broadcast is compressed separately for each receiver that
  // keeps context (see WebSocketEndpoint::broadcast).
  PerConnection,
  // The server answers server_no_context_takeover and client_no_context_takeover, so no
  // zlib state lives in any connection: one compressor per window size and one
  // decompressor per loop thread, and a broadcast is compressed once per window size for
  // all its receivers. For broadcast endpoints with many connections.
  Shared,
};

// permessage-deflate. Off by default; when on, it is used with clients that offer it.
struct CompressionOptions {
  bool enabled = false;
  CompressionMode mode = CompressionMode::PerConnection;
  int level = 1;            // zlib level 1 (fastest) .. 9 (smallest); 0 stores only
  // Messages shorter than this are sent uncompressed (RSV1 clear, which is always
  // allowed): below ~64 bytes DEFLATE without shared history rarely saves more than the
  // bytes it adds, and the zlib call costs more than sending the bytes.
  std::size_t min_size = 64;
  // The largest LZ77 window we compress with (8..15; 2^bits bytes). A window of 8 cannot
  // be used by zlib: a client that insists on 8 gets its messages uncompressed.
  int server_max_window_bits = 15;
  // The window we ask clients to compress with (8..15), when they offer to be limited.
  int client_max_window_bits = 15;
  int mem_level = 8;        // zlib memLevel 1..9: compressor hash memory 2^(mem_level+9) bytes
};

// Topic history: the last messages publish() sent to each topic, numbered, so that a
// client that comes back after a reconnect — to this node or, with a backplane, to any
// node — gets exactly what it missed (WebSocket::subscribe(topic, position)), or an
// explicit reset when that is no longer kept: never a silent gap.
//
// A topic numbers its messages 1, 2, 3, ... within an epoch, a random id the topic takes
// when its numbering starts (one node: when this server first numbers it; with a
// backplane: Redis numbers, one order for all nodes). A position names the epoch and a
// number, as a string: "<16 hex digits>-<number>". A position of another epoch — the
// numbering started over (a restart, Redis without persistence, every message aged out)
// — is answered with a reset, never with messages of another numbering.
//
// WebSocket endpoints with history send each publish() as a text message in this JSON
// envelope (text payloads as a JSON string, binary ones base64), and a reset likewise:
//   {"topic":"orders","position":"9c1f2e0a4b7d3c65-42","seq":42,"data":"<payload>"}
//   {"topic":"orders","position":"9c1f2e0a4b7d3c65-42","seq":42,"data_base64":"<payload>"}
//   {"topic":"orders","reset":true,"position":"9c1f2e0a4b7d3c65-57","seq":57}
// SSE endpoints send each publish() with its position as the event's id (so a browser's
// EventSource sends it back as Last-Event-ID) and a reset as `event: reset` with that id
// and the reset JSON above as its data.
//
// A reset says: the messages between your position and this one are not all kept any
// more (or your position is of no current numbering); reload what you show from your own
// source, then go on from this position. broadcast() and send_to() are not numbered.
struct TopicHistoryOptions {
  // Messages kept per topic; 0: no history (publish() sends the payload as it is).
  std::size_t max_messages = 0;
  // Messages older than this are dropped; 0: only max_messages bounds the history.
  std::uint32_t max_age_ms = 0;
};

struct WebSocketOptions {
  std::uint64_t max_message_bytes = 16 * 1024 * 1024;  // inbound; over -> close 1009
  std::uint32_t ping_interval_ms = 30'000;  // a ping after this long without input; 0 = never
  std::uint32_t idle_timeout_ms = 120'000;  // close 1001 after this long without input; 0 = never
  std::uint32_t close_timeout_ms = 5'000;   // wait for the peer's Close / FIN at most this long
  std::size_t send_soft_limit = 1 << 20;    // queued bytes above which on_drain will be called
  std::size_t send_hard_limit = 16 << 20;   // queued bytes above which the policy applies
  SlowConsumerPolicy slow_consumer = SlowConsumerPolicy::Close;
  std::vector<std::string> subprotocols;    // accepted subprotocols, in server preference order
  // Web origins that may open a connection (protection against cross-site WebSocket
  // hijacking): "https://app.example.com", "https://*.example.com" (any subdomain),
  // "null". A handshake whose Origin is not listed is answered 403; one without Origin
  // (not a browser) is accepted. Empty: every origin. Invalid entries make
  // Server::websocket() throw std::invalid_argument.
  std::vector<std::string> allowed_origins;
  // Bearer-token (JWT) authentication of every handshake; see wirehub/auth.hpp. Unset:
  // none. An unusable key makes Server::websocket() throw std::invalid_argument.
  std::optional<JwtAuthOptions> jwt;
  // permessage-deflate (RFC 7692); invalid values make Server::websocket() throw
  // std::invalid_argument.
  CompressionOptions compression;
  // With a backplane (ServerOptions::backplane): broadcast() and publish() also reach this
  // path's connections on the other nodes. false: this node's only (for an endpoint whose
  // every node publishes the same messages itself, e.g. from a shared log).
  bool across_nodes = true;
  // Numbered, resumable topics (see TopicHistoryOptions); off by default.
  TopicHistoryOptions history;
};

using ConnectionId = std::uint64_t;

class WebSocket {
 public:
  virtual ~WebSocket() = default;
  // Queues a message; false when it was refused (closed, or dropped by the slow-consumer
  // policy, which counts every drop). topic only matters to SlowConsumerPolicy::KeepLatest.
  virtual bool send(std::string_view payload, bool binary = false, std::string_view topic = {}) = 0;
  // Starts the close handshake with code and reason (reason is cut to 123 bytes).
  virtual void close(std::uint16_t code = 1000, std::string_view reason = {}) = 0;
  virtual ConnectionId id() const noexcept = 0;
  virtual std::size_t buffered_amount() const noexcept = 0;  // queued, unsent bytes
  virtual std::string_view subprotocol() const noexcept = 0;  // "" when none was chosen
  // Who opened it, from its verified token; nullptr when the endpoint has no token auth.
  virtual const Principal* principal() const noexcept = 0;
  // Adds this connection to topic, so WebSocketEndpoint::publish(topic, ...) reaches it;
  // false if it already was, if topic is empty, or if the connection is closing or closed.
  // On the connection's loop thread only: in a handler, or in a WebSocketEndpoint::post_to
  // function. A connection leaves all its topics when it closes.
  virtual bool subscribe(std::string_view topic) = 0;
  // Resumes topic after position (see TopicHistoryOptions): first the messages published
  // to topic after position, then the topic's messages as they come, each exactly once,
  // in order. When some of the missed ones are no longer kept, or position is not of the
  // topic's current numbering (an empty or malformed one included), a reset message with
  // the current position comes instead of them. Takes effect after the publishes made
  // before it (like a subscribe posted with post_to): messages this connection sends
  // itself right after the call may arrive before the replay. false as subscribe(topic).
  // On an endpoint without history: subscribe(topic).
  virtual bool subscribe(std::string_view topic, std::string_view position) = 0;
  // Removes this connection from topic; false if it was not subscribed. Loop thread only.
  virtual bool unsubscribe(std::string_view topic) = 0;
  // One pointer of user state, initially nullptr.
  void* user_data = nullptr;
};

struct WebSocketHandlers {
  std::function<void(WebSocket&)> on_open{};
  std::function<void(WebSocket&, std::string_view payload, bool binary)> on_message{};
  // Queued output fell back under send_soft_limit after having been above it.
  std::function<void(WebSocket&)> on_drain{};
  // Once per connection: code/reason of the peer's Close, or 1006 when the connection was
  // lost without one, or the code we closed with after a protocol error.
  std::function<void(WebSocket&, std::uint16_t code, std::string_view reason)> on_close{};
  // Chooses a subprotocol from the client's offers (Sec-WebSocket-Protocol, in its order);
  // return one of them, or "" for none. When unset, the first of
  // WebSocketOptions::subprotocols (server preference order) that was offered is chosen.
  std::function<std::string_view(std::span<const std::string_view> offered)> select_subprotocol{};
};

struct EndpointStats {
  std::uint64_t open = 0;
  std::uint64_t opened = 0;
  std::uint64_t messages_in = 0;
  std::uint64_t messages_out = 0;     // sent or queued to send (messages_out + dropped = offered)
  std::uint64_t dropped = 0;          // refused, or removed from a queue, by the slow-consumer policy
  std::uint64_t slow_closed = 0;      // connections closed by the slow-consumer policy
  std::uint64_t protocol_errors = 0;  // connections failed for a protocol violation
  std::uint64_t origin_refused = 0;   // handshakes answered 403: Origin not allowed
  std::uint64_t auth_refused = 0;     // handshakes answered 400/401/403 for their bearer token
  std::uint64_t auth_expired = 0;     // connections closed (1008) when their token expired
};

// Handle to a registered endpoint; all methods are thread-safe.
//
// Order: broadcast, publish, send_to and post_to, called from one thread, reach (or run
// for) a given connection in the order of the calls. A connection lives on one loop; a
// call addressed to it acts at once when made on that loop's thread (post_to runs its
// function before returning), and otherwise is posted to that loop's task queue, which
// runs tasks in the order they were posted. So from a thread that is not a loop (an
// application's worker) all four are posted and keep their order, and on a loop thread
// they keep it too: for connections of that loop all act at once, for connections of
// other loops all are posted. (WebSocket::send, in a handler, acts at once.) Calls from
// different threads are not ordered with each other.
class WebSocketEndpoint {
 public:
  virtual ~WebSocketEndpoint() = default;
  // Sends to every open connection of this endpoint on every loop. The frame is built
  // once and shared by all receivers (with compression: once more per window size for
  // receivers without context takeover; a receiver with it, only possible in
  // CompressionMode::PerConnection, gets its own compressed copy). topic only matters to
  // SlowConsumerPolicy::KeepLatest.
  virtual void broadcast(std::string_view payload, bool binary = false, std::string_view topic = {}) = 0;
  // Sends to every connection subscribed to topic (WebSocket::subscribe) on every loop,
  // built and shared as broadcast does; the topic is also the message's
  // SlowConsumerPolicy::KeepLatest topic. Who receives it is decided on each loop when the
  // message gets there, so a subscribe ordered before the publish (see Order above) is
  // always seen. Costs one frame build and one task per other loop.
  virtual void publish(std::string_view topic, std::string_view payload, bool binary = false) = 0;
  // Sends to one connection, wherever it lives; false if the id is not a live connection
  // of this endpoint (known only when called on the owning loop; otherwise true = posted).
  virtual bool send_to(ConnectionId id, std::string_view payload, bool binary = false) = 0;
  // Runs fn(connection) on the connection's loop thread, if the connection is still open
  // then (not closing or closed); otherwise fn is destroyed without being called. false if
  // the id is known not to be an open connection of this endpoint (on the owning loop),
  // true otherwise (run, or posted). In fn the WebSocket may send, subscribe, close.
  virtual bool post_to(ConnectionId id, std::function<void(WebSocket&)> fn) = 0;
  virtual std::size_t connection_count() const = 0;
  virtual EndpointStats stats() const = 0;
  virtual const std::string& path() const noexcept = 0;
};

}  // namespace wirehub
