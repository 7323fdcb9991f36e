#pragma once
// wirehub public API: Server-Sent Events endpoints (the text/event-stream format of the
// HTML Living Standard, "Server-sent events").
//
//   auto& feed = server.sse("/sse/orders", {.on_open = [](wirehub::SseStream& s, const wirehub::HttpRequest&) {
//     s.subscribe("orders");
//   }});
//   feed.publish("orders", {.data = json, .id = std::to_string(seq)});  // from any thread
//
// A stream is a GET answered with 200 and a body that never ends until one side closes
// it (no Content-Length: the close delimits it). Handlers run on the loop thread that
// owns the stream; an SseStream& is valid only during a handler or post_to call (keep its
// id() to reach it later, from any thread, through SseEndpoint).
//
// Ordering: calls of publish, broadcast, send_to and post_to made from one thread reach
// a given stream in call order, whichever thread that is (a loop thread included): each
// of them goes through the owning loop's FIFO task queue, none is delivered directly.
// SseStream::send, by contrast, writes at once (it is already on the loop).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "wirehub/websocket.hpp"  // ConnectionId

namespace wirehub {

class HttpRequest;

struct SseOptions {
  // "retry:" sent first (the client's reconnect delay); 0 = none, and a comment line (": ")
  // is sent first instead, so the body starts at once either way (browsers may fire open
  // only on body bytes).
  std::uint32_t retry_ms = 3000;
  std::uint32_t heartbeat_ms = 15000;  // a comment line (": \n") after this long without output; 0 = never
  std::size_t send_hard_limit = 16 << 20;  // queued bytes over which the stream is closed (slow consumer)
  // Web origins that may open a stream: the same rules as WebSocketOptions::allowed_origins
  // (a request whose Origin is not listed gets 403; one without Origin is allowed; empty:
  // every origin). Invalid entries make Server::sse() throw std::invalid_argument.
  std::vector<std::string> allowed_origins{};
  // With a backplane (ServerOptions::backplane): broadcast() and publish() also reach this
  // path's streams on the other nodes; false: this node's only (see WebSocketOptions).
  bool across_nodes = true;
  // Numbered, resumable topics (see TopicHistoryOptions in wirehub/websocket.hpp): each
  // publish()'s event goes out with its position as id (an id the event had is replaced);
  // resume with SseStream::subscribe(topic, request's Last-Event-ID). Off by default.
  TopicHistoryOptions history{};
};

// One event. Lines of data are split on CR LF, LF and CR and sent as one data: line each
// (the client joins them with LF). CR, LF and NUL are removed from id, and CR and LF from
// event, so neither can end its line early or start another field. Empty id or event: the
// line is left out.
struct SseEvent {
  std::string_view data;
  std::string_view id = {};
  std::string_view event = {};
};

class SseStream {
 public:
  virtual ~SseStream() = default;
  // Queues the event; false when the stream is closed or closing, or was just closed for
  // having more than send_hard_limit bytes queued (slow consumer).
  virtual bool send(const SseEvent& e) = 0;
  // Ends the stream once what is queued is written.
  virtual void close() = 0;
  // Adds the stream to / removes it from a topic of its endpoint (see
  // SseEndpoint::publish); false when it already was / was not in it, or is closed.
  virtual bool subscribe(std::string_view topic) = 0;
  // Resumes topic after position, typically the request's Last-Event-ID: the events
  // published after it, then the live ones, each once and in order, or an `event: reset`
  // with the current position when they are not all kept (see TopicHistoryOptions).
  // Takes effect after the publishes made before it. On an endpoint without history:
  // subscribe(topic). A stream that follows several topics carries one Last-Event-ID, the
  // position in the topic of its last event: resume the others from positions the
  // application keeps (e.g. in the URL).
  virtual bool subscribe(std::string_view topic, std::string_view position) = 0;
  virtual bool unsubscribe(std::string_view topic) = 0;
  virtual ConnectionId id() const noexcept = 0;
  // One pointer of user state, initially nullptr.
  void* user_data = nullptr;
};

struct SseHandlers {
  // Loop thread, once the 200 head (and the retry: line) is queued. request: method,
  // path, query and headers (Last-Event-ID: where a reconnecting client left off), valid
  // during the call.
  std::function<void(SseStream&, const HttpRequest&)> on_open{};
  // Once per stream, when it ends for any reason (client gone, close(), slow consumer,
  // shutdown); send() no longer queues anything then.
  std::function<void(SseStream&)> on_close{};
};

struct SseEndpointStats {
  std::uint64_t open = 0;
  std::uint64_t opened = 0;
  std::uint64_t events_out = 0;      // queued to a stream (events_out + dropped = offered to open streams)
  std::uint64_t dropped = 0;         // refused or discarded from a queue by the slow-consumer close
  std::uint64_t slow_closed = 0;     // streams closed for queuing more than send_hard_limit
  std::uint64_t origin_refused = 0;  // requests answered 403: Origin not allowed
};

// Handle to a registered endpoint; all methods are thread-safe (see the ordering
// guarantee above).
class SseEndpoint {
 public:
  virtual ~SseEndpoint() = default;
  // To every open stream on every loop. Formatted once; every receiver queues a
  // reference to the same bytes.
  virtual void broadcast(const SseEvent& e) = 0;
  // To the streams subscribed to topic, formatted once likewise.
  virtual void publish(std::string_view topic, const SseEvent& e) = 0;
  // To one stream; false if id cannot be a stream of this endpoint (otherwise true =
  // posted; it is dropped if the stream is gone by then).
  virtual bool send_to(ConnectionId id, const SseEvent& e) = 0;
  // Runs fn on the stream's loop with the stream, if it is still open then; false when it
  // is known to be gone already (fn is then never run).
  virtual bool post_to(ConnectionId id, std::function<void(SseStream&)> fn) = 0;
  virtual std::size_t connection_count() const = 0;
  virtual SseEndpointStats stats() const = 0;
  virtual const std::string& path() const noexcept = 0;
};

}  // namespace wirehub
