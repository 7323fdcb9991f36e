#pragma once
// The hub endpoint: SignalR's connection layer (negotiate, the three transports, tokens,
// the status codes of PROTOCOL.md sections 2-5) and the hub dispatcher on top (section 6-13),
// with I/O. The wire formats themselves are in src/hub, sans-I/O.
//
// Threads. A connection is created by negotiate (any loop) and registered by its secret
// token; it becomes owned by the loop of the first transport request that uses it (the
// WebSocket's or event stream's loop — so their messages never cross threads — or the
// first poll's). From then on only that loop touches it: requests that land on other
// loops (polls, POSTs of long polling and SSE) look it up under the registry mutex and
// post to the owner. Sends addressed to connections (a client, a group, everyone) are
// serialised once per protocol and delivered by each loop to its own connections.

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/counter.hpp"
#include "fanout/relay.hpp"
#include "hubhost/call_state.hpp"
#include "http/deferred_table.hpp"
#include "http/http_connection.hpp"
#include "http/origin.hpp"
#include "hub/handshake.hpp"
#include "hub/messages.hpp"
#include "hub/negotiate.hpp"
#include "hub/reconnect.hpp"
#include "http/request.hpp"
#include "loop/event_loop.hpp"
#include "loop/timer_wheel.hpp"
#include "sse/sse_endpoint.hpp"
#include "wirehub/hub.hpp"
#include "ws/token_auth.hpp"
#include "ws/ws_endpoint.hpp"

namespace wirehub::hubhost {

class Endpoint;

using hub::Transport;

namespace detail {
// Where a held long poll waits: its HTTP connection's loop and deferred key, or, for a
// poll that reached another node and was forwarded here, that node and its request number.
struct PollRef {
  std::size_t loop = 0;
  std::uint64_t key = 0;
  std::uint64_t since_ms = 0;
  std::string node;           // another node's poll: its name
  std::uint32_t request = 0;  // and its number there
  explicit operator bool() const noexcept { return key != 0 || request != 0; }
};

// The answer to a request naming a token no connection here or elsewhere has.
inline constexpr std::string_view kNoConnection = "No Connection with that ID\n";

// What a connection keeps of the request that opened its transport (HubCaller::header,
// query): its headers but the token's, and its query.
struct RequestCopy {
  std::vector<std::pair<std::string, std::string>> headers;
  std::string query;
};
RequestCopy copy_request(const http::RequestHead& head);

// A hub message serialised once per protocol for many connections (a send to a group, a
// user, everyone). Each form is one whole WebSocket frame (Text for JSON, Binary for
// MessagePack) built once; its payload, the framed hub message, is also what a stateful
// connection keeps for replay and what event streams and long polls carry.
struct SharedMessage {
  struct Form {
    BufferRef frame;  // null: the hub does not speak that protocol
    std::size_t header_bytes = 0;
    std::string_view bytes() const noexcept { return frame->view().substr(header_bytes); }
  };
  Form json, messagepack;
  const Form& form(hub::HubProtocol p) const noexcept { return p == hub::HubProtocol::Json ? json : messagepack; }
};

// One SharedMessage on its way to the receivers of one loop (that loop's thread only): each
// form is prepared at its first receiver that needs it, once for all the others — the
// WebSocket frames placed for the loop's sessions, the event of the event streams.
class LoopSend {
 public:
  LoopSend(const SharedMessage& m, ws::Endpoint& websockets, sse::Endpoint& event_streams, std::size_t loop_index)
      : msg_(m), ws_(websockets), sse_(event_streams), loop_(loop_index) {}
  const SharedMessage& message() const noexcept { return msg_; }
  // Queues the message to a WebSocket of this loop in protocol p's frame, as
  // WebSocket::send would (admission, counters, order), without copying it.
  void to_websocket(WebSocket& w, hub::HubProtocol p);
  // Queues the message to an event stream of this loop (JSON: event streams carry text).
  void to_event_stream(SseStream& s);

 private:
  const SharedMessage& msg_;
  ws::Endpoint& ws_;
  sse::Endpoint& sse_;
  std::size_t loop_;
  ws::Endpoint::PlacedFrame placed_[2];  // by protocol (Json, MessagePack); buf null until placed
  BufferRef event_;                      // null until formatted
};
}  // namespace detail

// One logical connection (connectionId + token), whatever its transport.
class Connection final : public HubCaller, public std::enable_shared_from_this<Connection> {
 public:
  Connection(Endpoint& ep, std::string id, std::string token, std::uint64_t now_ms);
  ~Connection() override;

  // HubCaller
  const std::string& connection_id() const noexcept override { return id_; }
  const std::string& user() const noexcept override { return user_; }
  const Principal* principal() const noexcept override { return principal_ ? &*principal_ : nullptr; }
  std::string_view transport() const noexcept override;
  std::string_view protocol() const noexcept override { return hub::protocol_name(protocol_); }
  std::optional<std::string> header(std::string_view name) const override;
  std::optional<std::string> query(std::string_view key) const override;
  std::optional<std::string> cookie(std::string_view name) const override;
  void close(std::string_view error = {}, bool allow_reconnect = false) override;
  Hub& hub() noexcept override;

  // --- registry side (guarded by Endpoint::mu_) ---
  const std::string& token() const noexcept { return token_; }
  int owner = -1;                     // loop index once a transport attached
  Transport kind{};                   // 0 until attached
  bool socket_active = false;         // a WebSocket or event stream is attached right now
  bool disposed = false;              // gone: every request gets 404
  bool stateful_offered = false;      // negotiate answered useStatefulReconnect
  std::uint64_t created_ms = 0;

  // --- owner loop ---
  // Fixes identity and the request that opened the transport (before on_data).
  void set_principal(std::optional<Principal> p, std::string user);
  void set_request(detail::RequestCopy request);
  // Transport attachment.
  // A WebSocket on this, the owner loop (ws given), or on another loop (ws null: reached
  // through the endpoint by id — a stateful reconnect that landed elsewhere).
  void attach_websocket(ConnectionId ws_id, WebSocket* ws);
  void attach_sse(SseStream& s);
  void websocket_closed(ConnectionId ws_id, std::uint16_t code);  // that socket is gone
  void sse_closed();
  // Long polling: a poll arrived (loop li, key); answers at once or holds it.
  void poll(detail::PollRef ref, bool first);
  void delete_requested();  // DELETE
  // Bytes from the client (a WebSocket message, a POST body).
  void on_data(std::string_view bytes, bool binary = false);
  // The 1 s tick: timeouts, keep-alive, held polls. Returns false when it was disposed.
  bool tick(std::uint64_t now_ms);
  // Pre-serialised messages (whole, framed) for this connection's protocol.
  void send_framed(std::string_view bytes, bool trackable);
  // A trackable message serialised once for many connections (see SharedMessage): it goes
  // through the same steps as send_framed, sharing its bytes instead of copying them.
  void send_shared(detail::LoopSend& s);
  void send_message(const hub::Message& m);
  bool handshaken() const noexcept { return handshaken_; }
  hub::HubProtocol wire_protocol() const noexcept { return protocol_; }
  bool open_for_sends() const noexcept { return handshaken_ && !ending_; }
  // Ends the connection now: hooks, groups, registry; the transport is closed.
  void dispose(std::string_view error);
  bool is_disposed_here() const noexcept { return gone_; }

  // Hub state the dispatcher keeps per connection: its groups, each with its place in its
  // loop's member list of that group (so that leaving one takes no search).
  std::unordered_map<std::string, std::size_t> groups;
  // Its node subscribes to its connection channel "c:<id>" (several nodes; guarded by
  // Endpoint::mu_): from its creation here until it ends or moves to another node.
  bool relay_watched = false;

  // Async replies, streams, uploads and client results come back here (owner loop).
  // The method's call `serial` finished: its Completion (when it has an id), then the
  // next waiting invocation. error empty: success, with result when has_result.
  void complete_invocation(std::uint64_t serial, const std::string& invocation_id, Json result, bool has_result,
                           std::string error);
  void stream_item(const std::string& invocation_id, Json item);
  // error empty: a normal end.
  void stream_end(const std::string& invocation_id, std::string error);
  ConnectionRef ref();
  void await_client_result(std::string method, Json arguments, std::function<void(HubClientResult)> done,
                           std::uint32_t timeout_ms);

 private:
  friend class Endpoint;
  void handle_handshake();
  // The handshake was good: answered, and the connection joins the hub.
  void complete_handshake();
  void process(std::string_view bytes);
  std::uint64_t now() const noexcept;
  void send_completion_error(const std::string& invocation_id, std::string text);
  // The running call `serial` is over (false: it is not the running one).
  bool end_call(std::uint64_t serial);
  // Sends what write(out) appends to an empty buffer (one framed message).
  template <class Write>
  void send_written(Write&& write, bool trackable);
  void dispatch(hub::Message& m, std::size_t bytes);
  void invoke(hub::Message& m, bool streaming);
  void run_next_invocation();
  void fail_protocol(std::string_view why);
  void write_transport(std::string_view bytes);
  // Stateful mode: keeps the trackable message `bytes` (buf[off, off + bytes.size()) when
  // buf is given, shared; else copied) for a replay, or holds it back while the replay
  // buffer is full. True when it also goes out now.
  bool keep_for_replay(std::string_view bytes, const BufferRef* buf = nullptr, std::size_t off = 0);
  void close_websocket();
  void end_transport();
  void answer_poll(int status, std::string_view body);
  void flush_poll();

  Endpoint& ep_;
  std::string id_, token_;
  std::optional<Principal> principal_;
  std::string user_;
  detail::RequestCopy request_;  // the request that opened the transport

  // Transport.
  ConnectionId ws_id_ = 0;       // the attached WebSocket; 0: none
  WebSocket* ws_ = nullptr;      // it, when it lives on this loop (valid until its on_close)
  SseStream* sse_ = nullptr;     // likewise
  detail::PollRef held_poll_;    // long polling: the poll waiting for data
  std::string poll_out_;         // long polling: what the next poll takes
  bool poll_ended_ = false;      // long polling: the last data went out; next poll: 204
  std::uint64_t inactive_since_ms_ = 0;  // no transport (between polls, socket dropped); 0 = active

  // Without the hub protocol (Server::connections): the application's view.
  class RawView final : public RawConnection {
   public:
    explicit RawView(Connection& c) : c_(c) {}
    const std::string& connection_id() const noexcept override { return c_.connection_id(); }
    const std::string& user() const noexcept override { return c_.user(); }
    const Principal* principal() const noexcept override { return c_.principal(); }
    std::string_view transport() const noexcept override { return c_.transport(); }
    std::optional<std::string> header(std::string_view name) const override { return c_.header(name); }
    std::optional<std::string> query(std::string_view key) const override { return c_.query(key); }
    std::optional<std::string> cookie(std::string_view name) const override { return c_.cookie(name); }
    void send(std::string_view data) override;
    void close() override { c_.close(); }

   private:
    Connection& c_;
  };
  friend class RawView;
  RawView raw_{*this};
  bool raw_binary_ = false;  // the client's last WebSocket message was binary
  // Raw mode: the transport is up; the application hears of it.
  void open_raw();

 public:
  RawConnection& raw_view() noexcept { return raw_; }

 private:
  // Protocol.
  bool handshaken_ = false;
  bool awaiting_user_ = false;  // handshake good, waiting for its user's topic (list_user)
  bool ending_ = false;  // Close sent or received: nothing more goes out
  bool gone_ = false;    // disposed
  hub::HubProtocol protocol_ = hub::HubProtocol::Json;
  std::string in_;  // inbound bytes of an incomplete message
  std::uint64_t last_in_ms_ = 0, last_out_ms_ = 0, attached_ms_ = 0;
  std::vector<std::string_view> pieces_;  // scratch for framing
  hub::Message scratch_message_;          // scratch for parsing
  std::string scratch_out_;               // scratch for writing

  // Invocations: one non-streaming call at a time, in arrival order.
  std::vector<hub::Message> waiting_;
  bool call_running_ = false;
  std::uint64_t call_serial_ = 0;  // of the running call
  std::vector<std::string> call_uploads_;  // stream ids of the running call
  std::unordered_map<std::string, std::weak_ptr<hub_detail::StreamState>> streams_;
  std::unordered_map<std::string, std::shared_ptr<hub_detail::UploadState>> uploads_;
  struct PendingResult {
    std::function<void(HubClientResult)> done;
    std::uint64_t deadline_ms;
  };
  std::unordered_map<std::string, PendingResult> results_;
  std::uint64_t next_result_id_ = 0;

  // Stateful reconnect (PROTOCOL.md section 12), when the handshake asked for version 2.
  bool stateful_ = false;
  std::optional<hub::ReplayBuffer> replay_;
  std::deque<std::string> held_back_;  // trackable messages waiting for room in replay_
  std::size_t held_back_bytes_ = 0;
  hub::InboundSequence inbound_;
  std::uint64_t ack_due_since_ms_ = 0;
};

class Endpoint final : public Hub {
 public:
  // raw: a connection handler without the hub protocol (Server::connections).
  Endpoint(std::string path, HubOptions options, std::vector<loop::EventLoop*> loops,
           std::vector<http::DeferredTable*> deferred, std::uint32_t linger_ms,
           std::optional<RawConnectionHandlers> raw = std::nullopt);
  ~Endpoint() override;

  // The routes of the hub: {path} (GET: WebSocket, event stream or poll; POST; DELETE;
  // OPTIONS) and {path}/negotiate (POST; OPTIONS).
  void handle_negotiate(http::HttpConnection& c, const http::RequestHead& head);
  void handle_get_upgrade(http::HttpConnection& c, const http::RequestHead& head, char* rest, std::size_t n);
  static bool wants_upgrade(const http::RequestHead& head);
  void handle_poll(http::HttpConnection& c, const http::RequestHead& head);
  void handle_post(http::HttpConnection& c, const http::RequestHead& head, std::string_view body);
  void handle_delete(http::HttpConnection& c, const http::RequestHead& head);
  void handle_preflight(http::HttpConnection& c, const http::RequestHead& head);

  // Loop thread: starts the per-loop tick.
  void start_on_loop(std::size_t li);
  // Loop thread, graceful shutdown: every connection of this loop gets Close with
  // allowReconnect and its transport ends.
  void shutdown_on_loop();

  // Hub
  void on_connected(std::function<void(HubCaller&)> fn) override { on_connected_ = std::move(fn); }
  void on_disconnected(std::function<void(HubCaller&, std::string_view)> fn) override {
    on_disconnected_ = std::move(fn);
  }
  void invoke_client(std::string_view connection_id, std::string_view method, Json arguments,
                     std::function<void(HubClientResult)> done, std::uint32_t timeout_ms) override;
  void close_all(std::string_view error, bool allow_reconnect) override;
  std::size_t connection_count() const override;
  HubStats stats() const override;
  const std::string& path() const noexcept override { return path_; }
  void send_to_target(const HubTarget& target, std::string_view method, Json arguments) override;

  const HubOptions& options() const noexcept { return options_; }
  // Several nodes (the server runs with a backplane; ADR 0011). Sends to All, a group or
  // a user also go to the relay (topics "", "g:<group>", "u:<user>"), sends to and group
  // changes of a connection this node does not have go to "c:<connectionId>", and this
  // node watches the topics of its groups, users and connections. Set once, before the
  // server starts.
  void set_relay(fanout::Relay* relay);
  // Any thread: what another node's hub on this path relayed, done here as that call
  // would do it. Unreadable messages are ignored and counted (relay_malformed).
  void deliver_relayed(std::string_view topic, std::string_view message);
  std::uint64_t relay_malformed() const noexcept { return relay_malformed_.load(std::memory_order_relaxed); }
  const RawConnectionHandlers* raw() const noexcept { return raw_ ? &*raw_ : nullptr; }
  WebSocketEndpoint& websockets() noexcept { return *ws_; }
  SseEndpoint& event_streams() noexcept { return *sse_; }
  // The transports' own endpoints, for their metrics.
  const ws::Endpoint& websocket_endpoint() const noexcept { return *ws_; }
  const sse::Endpoint& sse_endpoint() const noexcept { return *sse_; }

  // --- used by Connection (owner loop) ---
  struct Method {
    std::string name;  // as registered
    hub_detail::MethodInfo info;
  };
  const Method* find_method(std::string_view name) const;
  void connected(Connection& c);     // after the handshake: joins its loop's lists, hook
  // Lists c among its user's connections on its loop (once). With a relay and ready: true,
  // and ready runs on the owner loop once sends to the user from other nodes reach c (a
  // hub connection's handshake is answered then); false when nothing is to wait for.
  bool list_user(Connection& c, std::function<void()> ready);
  void disconnected(Connection& c, std::string_view error);  // leaves everything, hook
  void unregister(Connection& c);    // registry: its token now gives 404
  // done (may be empty) as Hub::add_to_group's.
  void join_group(Connection& c, const std::string& group, std::function<void(bool)> done = {});
  void leave_group(Connection& c, const std::string& group);
  loop::EventLoop& loop_at(std::size_t i) noexcept { return *loops_[i]; }
  // Answers a held poll on its loop (posts there when it is another).
  void answer_poll(detail::PollRef ref, int status, std::string body);
  // A transport attached the connection on its owner loop: the loop's ticker watches it.
  void adopt(Connection& c);
  void count_in(const Connection& c, std::size_t bytes) noexcept;
  void count_out(const Connection& c, std::size_t bytes) noexcept;
  void count_invocation(const Connection& c) noexcept;
  void count_protocol_error(const Connection& c) noexcept;
  const std::shared_ptr<PostGate>& gate() const noexcept { return gate_; }
  // Runs fn on the connection's owner loop (now when this is it); when the connection is
  // gone by then, fn runs only if even_if_gone (to answer a request that waits).
  // False when the connection has no owner loop yet (fn does not run).
  bool on_owner(const std::shared_ptr<Connection>& conn, std::function<void(Connection&)> fn,
                bool even_if_gone = false);

 protected:
  void change_group(std::string_view connection_id, std::string_view group, bool join,
                    std::function<void(bool)> done) override;
  void add_method(std::string name, hub_detail::MethodInfo info) override;

 private:
  struct PerLoop;
  class Ticker;
  // The connection a request names with ?id=, or the status to answer.
  struct Lookup {
    std::shared_ptr<Connection> conn;
    int status = 0;
    std::string_view body;
  };
  Lookup lookup(const http::RequestHead& head);
  std::shared_ptr<Connection> find_by_id(std::string_view connection_id);
  // Bearer token check of a request; false when it was answered (401/403/400).
  bool authorize(http::HttpConnection& c, const http::RequestHead& head, std::optional<Principal>& who,
                 bool negotiate);
  std::vector<http::Header> cors_headers(const http::RequestHead& head) const;
  void respond(http::HttpConnection& c, const http::RequestHead& head, int status, std::string_view type,
               std::string_view body);
  void deliver_on_loop(std::size_t li, const HubTarget& target, const detail::SharedMessage& msg);
  // send_to_target's delivery to this node's connections; returns the ids of target.names
  // (Connection/Connections) that are not connections of this node.
  std::vector<std::string> deliver_here(const HubTarget& target, std::shared_ptr<const detail::SharedMessage> msg);
  // The relay's topic watches as this loop's group or user lists gain their first member
  // or lose their last.
  void watch_relay(std::string_view kind, std::string_view name, bool on, std::function<void()> on_active = {});
  // done(true) once a topic this node watches already is in effect (at once without a
  // relay).
  void when_watched(std::string_view kind, std::string_view name, std::function<void(bool)> done);
  // A connection's own topic "c:<id>", watched from its creation (or arrival) here until it
  // ends or moves; on_active as Relay::watch. unwatch_connection: after it left the
  // registry.
  void watch_connection(Connection& c, std::function<void()> on_active = {});
  void unwatch_connection(Connection& c);
  // What goes to the other nodes (hub_relay.cpp): a send (elsewhere: the target's
  // connection ids this node does not have), a group change of a connection it does not
  // have.
  void relay_send(const HubTarget& target, const detail::SharedMessage& msg, const std::vector<std::string>& elsewhere);
  // done, when given, gets the owner node's answer (false: no answer in time).
  void relay_group_change(std::string_view connection_id, std::string_view group, bool join,
                          std::function<void(bool)> done);
  void expire_group_changes(std::uint64_t now_ms);
  // invoke_client for a connection this node does not have: asked over "c:<id>", answered
  // over this node's "n:<node>"; done runs on loop 0. A pending call past its timeout is
  // answered by loop 0's ticker (expire_remote_results).
  void relay_client_invocation(std::string_view connection_id, std::string_view method, const Json& arguments,
                               std::function<void(HubClientResult)> done, std::uint32_t timeout_ms);
  void expire_remote_results(std::uint64_t now_ms);
  void finish_remote_result(std::uint32_t call, HubClientResult r);
  // token_is_id: the connectionId doubles as the token (negotiate version 0). With a relay
  // a token is the connectionId followed by its secret part, so that any node can tell
  // which connection's topic reaches the node that has it.
  std::shared_ptr<Connection> create(std::uint64_t now_ms, bool token_is_id = false);

  // What a request for a known connection answers, whichever node it reached.
  struct Answer {
    int status = 0;  // 0: the request goes on (a transport opens, a poll is held)
    std::string_view body;
  };
  // The GET's transport for a known connection: claims it for loop li (first: this opens
  // it) or says why not.
  Answer claim_transport(Connection& conn, Transport want, std::size_t li, bool& first);
  Answer post_data(const std::shared_ptr<Connection>& conn, std::string_view body);
  Answer delete_connection(const std::shared_ptr<Connection>& conn);
  // The rest of a WebSocket or event-stream GET once its connection is claimed.
  void open_transport(http::HttpConnection& c, const http::RequestHead& head, char* rest, std::size_t n,
                      const std::shared_ptr<Connection>& conn, Transport want, bool first);
  std::vector<http::Header> cors_for(std::optional<std::string_view> origin) const;
  // A negotiate answer's headers: CORS and HubOptions::negotiate_headers.
  std::vector<http::Header> negotiate_headers(std::optional<std::string_view> origin) const;

  // No sticky sessions (hub_forward.cpp, ADR 0011): a request naming a connection this
  // node does not have goes to its node over "c:<id>" and waits for the answer on this
  // node's "n:<node>"; a connection negotiated elsewhere and not opened yet moves here.
  enum class ForwardKind : std::uint8_t { Upgrade, Poll, Post, Delete };
  struct Forwarded {
    ForwardKind kind{};
    Transport want{};
    std::size_t loop = 0;
    std::uint64_t key = 0;  // the request's deferred key on that loop
    std::uint64_t deadline_ms = 0;
    std::optional<std::string> origin;
    detail::RequestCopy request;  // a poll's, for its connection if it moves here
  };
  // True when the request went to another node (answered later) or was answered here;
  // false when no node can have it (no relay, not one of our tokens).
  bool forward(http::HttpConnection& c, const http::RequestHead& head, ForwardKind kind, Transport want,
               std::string_view body = {});
  // The node that has the connection (relay thread): a forwarded request, served.
  void serve_forwarded(char op, std::string_view connection_id, std::string_view message);
  // This node again: the answer to one of its forwarded requests.
  void forward_answered(char op, std::string_view message);
  void answer_forwarded(std::uint32_t request, int status, std::string_view body, const std::string& node);
  void finish_forwarded(Forwarded f, int status, std::string body);
  void move_here(std::uint32_t request, std::string_view state);
  // A later poll of a connection with long polling: held by its owner loop.
  void hold_poll(const std::shared_ptr<Connection>& conn, detail::PollRef ref);
  void expire_forwarded(std::uint64_t now_ms);

  friend class Connection;
  std::string path_;
  HubOptions options_;
  std::shared_ptr<PostGate> gate_ = std::make_shared<PostGate>();
  std::vector<loop::EventLoop*> loops_;
  std::vector<http::DeferredTable*> deferred_;
  std::unique_ptr<ws::TokenAuth> auth_;
  std::optional<http::OriginPolicy> cors_;  // the origins that get CORS headers (unset: none)
  bool cors_any_ = false;                   // "*": every origin does
  // ASCII case-insensitive hashing and comparison, so a lookup by the client's spelling
  // allocates nothing.
  struct FoldedHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept;
  };
  struct FoldedEqual {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const noexcept;
  };
  std::unordered_map<std::string, Method, FoldedHash, FoldedEqual> methods_;
  std::optional<RawConnectionHandlers> raw_;
  std::function<void(HubCaller&)> on_connected_;
  std::function<void(HubCaller&, std::string_view)> on_disconnected_;
  std::unique_ptr<ws::Endpoint> ws_;
  std::unique_ptr<sse::Endpoint> sse_;
  std::vector<std::unique_ptr<PerLoop>> per_loop_;

  fanout::Relay* relay_ = nullptr;
  std::atomic<std::uint64_t> relay_malformed_{0};
  const std::string node_ = hub::random_id();  // this endpoint's name among the nodes
  struct RemoteResult {
    std::function<void(HubClientResult)> done;
    std::uint64_t deadline_ms;
    std::string connection_id;
  };
  std::mutex remote_mu_;
  std::uint32_t next_remote_call_ = 0;                              // guarded by remote_mu_
  std::unordered_map<std::uint32_t, RemoteResult> remote_results_;  // guarded by remote_mu_
  struct GroupChange {
    std::function<void(bool)> done;
    std::uint64_t deadline_ms;
  };
  std::uint32_t next_group_change_ = 0;                                // guarded by remote_mu_
  std::unordered_map<std::uint32_t, GroupChange> group_changes_;       // guarded by remote_mu_
  std::mutex forward_mu_;
  std::uint32_t next_forward_ = 0;                             // guarded by forward_mu_
  std::unordered_map<std::uint32_t, Forwarded> forwarded_;     // guarded by forward_mu_

  mutable std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Connection>> by_token_;  // guarded by mu_
  std::unordered_map<std::string, std::shared_ptr<Connection>> by_id_;     // guarded by mu_
};

}  // namespace wirehub::hubhost
