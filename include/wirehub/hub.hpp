#pragma once
// wirehub public API: hubs — remote procedure calls between a server and its clients,
// with groups, users and streams, spoken in the SignalR protocol, so the official SignalR
// clients (@microsoft/signalr and the .NET, Java and Swift ones) connect unchanged over
// WebSockets, Server-Sent Events or long polling, with JSON or MessagePack.
//
//   auto& chat = server.hub("/hubs/chat");
//   chat.method("Send", [](wirehub::HubCaller& c, std::string text) {
//     c.hub().clients().all().send("message", {c.user(), text});
//   });
//   chat.method("Add", [](int a, int b) { return a + b; });  // the client's invoke() gets 3
//
// Threads: a connection lives on one event loop, and its hub methods and hooks run there,
// one invocation at a time in arrival order (streams and async methods go on in the
// background). The HubCaller& given to a method is valid during the call only; keep its
// connection_id() to reach the client later. Hub, HubTarget, HubReply and HubStreamWriter
// calls are thread-safe. Configure (method, on_connected, ...) before Server::start().
//
// Ordering: messages addressed to a connection from one thread reach it in call order;
// a message a method sends to its caller before returning arrives before the method's
// result.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "wirehub/auth.hpp"

namespace wirehub {

using Json = nlohmann::json;

struct HubOptions {
  // Transports offered to clients, listed in this order in negotiate: a client takes the
  // first it supports. An endpoint needs at least one.
  bool websockets = true;
  bool server_sent_events = true;
  bool long_polling = true;
  bool messagepack = true;  // besides JSON
  // Stateful reconnect: a client that asks for it (withStatefulReconnect) and loses its
  // WebSocket without a close resumes the same connection, and neither side loses or
  // repeats a message. Unacknowledged messages are kept up to this many bytes per
  // connection; past that, sending waits for the client's acknowledgements.
  bool stateful_reconnect = false;
  std::size_t stateful_reconnect_buffer_bytes = 100'000;
  std::uint32_t keep_alive_ms = 15'000;          // a Ping after this long without output (not on long polling)
  std::uint32_t client_timeout_ms = 30'000;      // closed after this long without input (not on long polling)
  std::uint32_t handshake_timeout_ms = 15'000;   // closed if no handshake by then
  std::uint32_t disconnect_timeout_ms = 15'000;  // a connection without a transport (never used,
                                                 // between polls, dropped) is ended after this
  std::uint32_t long_poll_timeout_ms = 90'000;   // a poll with nothing to say is answered empty
  std::size_t max_message_bytes = 32 * 1024;     // one inbound hub message; over: closed with an error
  std::size_t send_hard_limit = 16 << 20;        // queued output over which a connection is closed
  // Error texts sent to clients include the exception's type and message (otherwise only
  // a HubException's message is shown).
  bool detailed_errors = false;
  // When set, every request (negotiate, transports, sends) needs a valid bearer token:
  // the Authorization header, or the access_token query parameter (what browsers and
  // Server-Sent Events use). Without one, 401.
  std::optional<JwtAuthOptions> jwt;
  std::string user_claim = "sub";  // the claim whose value is a connection's user()
  // Browser origins of other sites allowed to use the hub: "https://app.example.com",
  // "https://*.example.com", or "*" for any. Their HTTP requests get CORS headers (the
  // origin echoed, credentials allowed) and preflights are answered; when the list is set
  // (and not "*"), WebSockets and event streams from an Origin not on it are refused with
  // 403. Empty: no CORS headers, and WebSockets and event streams are accepted from any
  // Origin (as for WebSocketOptions::allowed_origins).
  std::vector<std::string> allowed_origins;
  // Extra headers on every negotiate answer (e.g. a Set-Cookie a load balancer sticks by).
  std::vector<std::pair<std::string, std::string>> negotiate_headers;
  // With a backplane (ServerOptions::backplane): sends to All, groups, users and
  // connections reach the hub's connections on every node, and add_to_group /
  // remove_from_group work for a connection on any node. false: this node's only.
  bool across_nodes = true;
};

// Thrown by a hub method, its message reaches the client even without detailed_errors:
// "An unexpected error occurred invoking 'M' on the server. HubException: <message>".
// type_name replaces "HubException" (e.g. to speak in another platform's terms).
class HubException : public std::runtime_error {
 public:
  explicit HubException(const std::string& message, std::string type_name = "HubException")
      : std::runtime_error(message), type_name_(std::move(type_name)) {}
  const std::string& type_name() const noexcept { return type_name_; }

 private:
  std::string type_name_;
};

class Hub;

// A set of connections to send to: see HubClients and HubCaller. Thread-safe; cheap to
// copy.
class HubTarget {
 public:
  enum class Kind : std::uint8_t { All, Connection, Connections, Group, User, Nobody };
  // Calls the client method (handlers registered with connection.on(method, ...); names
  // match case-insensitively) with arguments (a JSON array, or one value = one argument)
  // on every connection of the target. Serialised once per protocol whatever the count.
  void send(std::string_view method, Json arguments = Json::array()) const;

  Kind kind = Kind::Nobody;
  std::vector<std::string> names;   // connection ids, group or user
  std::vector<std::string> except;  // connection ids left out
  Hub* hub = nullptr;
};

// What a client answered to Hub::invoke_client: its result, or the error text.
struct HubClientResult {
  bool ok = false;
  Json value;         // when ok
  std::string error;  // when not: the client's error, or why there is no answer
};

class HubClients {
 public:
  explicit HubClients(Hub& hub) : hub_(&hub) {}
  HubTarget all() const;
  HubTarget all_except(std::vector<std::string> connection_ids) const;
  HubTarget client(std::string connection_id) const;
  HubTarget clients(std::vector<std::string> connection_ids) const;
  HubTarget group(std::string name) const;
  HubTarget group_except(std::string name, std::vector<std::string> connection_ids) const;
  HubTarget user(std::string user) const;

 private:
  Hub* hub_;
};

// The calling connection, during a hub method or hook (its loop thread).
class HubCaller {
 public:
  virtual ~HubCaller() = default;
  virtual const std::string& connection_id() const noexcept = 0;
  // The user: the user_claim of the connection's token; "" without one.
  virtual const std::string& user() const noexcept = 0;
  virtual const Principal* principal() const noexcept = 0;  // nullptr without a token
  virtual std::string_view transport() const noexcept = 0;  // "WebSockets", "ServerSentEvents", "LongPolling"
  virtual std::string_view protocol() const noexcept = 0;   // "json", "messagepack"
  // Of the HTTP request that opened the transport (the WebSocket upgrade, the event
  // stream, the first poll).
  virtual std::optional<std::string> header(std::string_view name) const = 0;
  virtual std::optional<std::string> query(std::string_view key) const = 0;  // percent-decoded
  virtual std::optional<std::string> cookie(std::string_view name) const = 0;
  // Ends the connection after what is queued: the client gets Close (with error when
  // not empty; allow_reconnect lets an automatically reconnecting client come back).
  virtual void close(std::string_view error = {}, bool allow_reconnect = false) = 0;
  virtual Hub& hub() noexcept = 0;

  HubTarget caller() const;
  HubTarget others() const;
  HubTarget others_in_group(std::string group) const;
  // One pointer of application state per connection, initially nullptr.
  void* user_data = nullptr;
};

// A connection of the SignalR connection layer without the hub protocol on top
// (Server::connections): negotiate, the three transports, tokens and timeouts as for a
// hub, but the application sees the bytes themselves. Loop thread, valid during a handler
// call.
class RawConnection {
 public:
  virtual ~RawConnection() = default;
  virtual const std::string& connection_id() const noexcept = 0;
  virtual const std::string& user() const noexcept = 0;
  virtual const Principal* principal() const noexcept = 0;
  virtual std::string_view transport() const noexcept = 0;
  virtual std::optional<std::string> header(std::string_view name) const = 0;
  virtual std::optional<std::string> query(std::string_view key) const = 0;
  virtual std::optional<std::string> cookie(std::string_view name) const = 0;
  // Queues data for the client: one WebSocket message (binary when the client's last
  // message was binary), one event, or part of the next poll's body.
  virtual void send(std::string_view data) = 0;
  // Ends the connection after what is queued.
  virtual void close() = 0;
  void* user_data = nullptr;
};

struct RawConnectionHandlers {
  std::function<void(RawConnection&)> on_open{};  // once its transport is up
  std::function<void(RawConnection&, std::string_view data)> on_data{};
  std::function<void(RawConnection&)> on_close{};  // once, when it ends for any reason
};

namespace hub_detail {
struct CallState;
struct StreamState;
struct UploadState;
}  // namespace hub_detail

// The answer of an async method (one that takes a HubReply as its last parameter):
// give it once, from any thread. Dropped without an answer: the client gets an error.
class HubReply {
 public:
  explicit HubReply(std::shared_ptr<hub_detail::CallState> s) : s_(std::move(s)) {}
  void ok(Json result = nullptr) const;
  // As if the method had thrown e (see HubException and HubOptions::detailed_errors).
  void fail(const std::exception& e) const;

 private:
  std::shared_ptr<hub_detail::CallState> s_;
};

// The writer of a server-to-client stream (a method that takes one as its last parameter
// is a streaming method: clients call it with stream()). Thread-safe. Items go out in
// call order; complete() or fail() ends the stream (later calls do nothing). Dropped
// without either: the stream completes.
class HubStreamWriter {
 public:
  explicit HubStreamWriter(std::shared_ptr<hub_detail::StreamState> s) : s_(std::move(s)) {}
  // false once the stream is over (completed, cancelled by the client, connection gone).
  bool write(Json item) const;
  void complete() const;
  void fail(const std::exception& e) const;
  // The client cancelled the stream or went away.
  bool cancelled() const noexcept;
  // fn runs (on the connection's loop) when the client cancels or goes away; at once if
  // that already happened.
  void on_cancel(std::function<void()> fn) const;

 private:
  std::shared_ptr<hub_detail::StreamState> s_;
};

// A client-to-server stream: a method parameter of this type takes one of the streams the
// client passes (in order). Items and the end arrive on the connection's loop thread.
class HubUpload {
 public:
  explicit HubUpload(std::shared_ptr<hub_detail::UploadState> s) : s_(std::move(s)) {}
  // Set these in the method; items that arrive before are delivered when on_item is set.
  void on_item(std::function<void(Json item)> fn) const;
  // error: nullopt for a normal end, else the client's error text.
  void on_end(std::function<void(std::optional<std::string> error)> fn) const;

 private:
  std::shared_ptr<hub_detail::UploadState> s_;
};

namespace hub_detail {

// The client's arguments to one call (implemented by the hub). Parameters of the common
// types are read straight from the wire: read_string, read_integer and read_bool answer
// true when argument i is of that kind there (a string; an integer that fits 64 bits —
// bits holds its two's complement, negative says it is below zero; true or false), and
// false otherwise, when value(i), the argument as a Json, decides as for any other type.
class CallArguments {
 public:
  virtual ~CallArguments() = default;
  virtual std::size_t size() const noexcept = 0;
  virtual bool read_string(std::size_t i, std::string& out) const = 0;
  virtual bool read_integer(std::size_t i, std::uint64_t& bits, bool& negative) const = 0;
  virtual bool read_bool(std::size_t i, bool& out) const = 0;
  virtual Json value(std::size_t i) const = 0;
};

// What a synchronous unary method returned: a std::string is kept as one (the hub writes
// it without building a Json), anything else is converted to Json (null for void).
struct CallResult {
  bool is_string = false;
  std::string string;
  Json value;
};

// A registered method, type-erased: the hub binds the call, then run() gets everything.
struct Call {
  HubCaller& caller;
  const CallArguments& arguments;    // the client's arguments (uploads removed)
  std::vector<HubUpload>& uploads;   // one per upload stream id
  std::shared_ptr<CallState> reply;  // async methods
  std::shared_ptr<StreamState> stream;  // streaming methods
  CallResult result{};               // set by run() for a synchronous unary method
};
struct MethodInfo {
  std::size_t arguments = 0;  // JSON arguments the method takes
  std::size_t uploads = 0;    // HubUpload parameters
  bool streaming = false;     // takes a HubStreamWriter
  bool async = false;         // takes a HubReply
  bool returns_value = false;  // a synchronous unary method with a result (not void)
  // Calls the method; a synchronous unary method's result goes to call.result. Throws
  // what the method throws, or ArgumentError when an argument does not convert.
  std::function<void(Call&)> run;
};
struct ArgumentError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <class T>
using Plain = std::remove_cvref_t<T>;

template <class T>
constexpr bool kIsSpecial = std::is_same_v<Plain<T>, HubCaller> || std::is_same_v<Plain<T>, HubReply> ||
                            std::is_same_v<Plain<T>, HubStreamWriter> || std::is_same_v<Plain<T>, HubUpload>;

template <class T>
struct Signature : Signature<decltype(&T::operator())> {};
template <class R, class... A>
struct Signature<R (*)(A...)> {
  using Result = R;
  using Args = std::tuple<A...>;
};
template <class R, class C, class... A>
struct Signature<R (C::*)(A...) const> : Signature<R (*)(A...)> {};
template <class R, class C, class... A>
struct Signature<R (C::*)(A...)> : Signature<R (*)(A...)> {};

// Argument i as a P: straight from the wire for std::string, bool, integers and floating
// point when the argument is of the matching kind there, else through Json's get<P>().
// Either way the value (or the ArgumentError) is what get<P>() on the argument's Json
// gives: an integer converts as nlohmann converts a stored 64-bit integer (static_cast
// from int64 or uint64), and every other case takes nlohmann's own path.
template <class P>
P bind_argument(const CallArguments& args, std::size_t i) {
  if constexpr (std::is_same_v<P, std::string>) {
    std::string s;
    if (args.read_string(i, s)) return s;
  } else if constexpr (std::is_same_v<P, bool>) {
    bool b = false;
    if (args.read_bool(i, b)) return b;
  } else if constexpr (std::is_integral_v<P> || std::is_floating_point_v<P>) {
    std::uint64_t bits = 0;
    bool negative = false;
    if (args.read_integer(i, bits, negative)) {
      if constexpr (std::is_integral_v<P>) {
        return static_cast<P>(bits);  // modular, as from either stored integer type
      } else {
        return negative ? static_cast<P>(static_cast<std::int64_t>(bits)) : static_cast<P>(bits);
      }
    }
  }
  try {
    if constexpr (std::is_same_v<P, Json>) {
      return args.value(i);
    } else {
      return args.value(i).template get<P>();
    }
  } catch (const nlohmann::json::exception&) {
    throw ArgumentError("argument " + std::to_string(i + 1) + " does not convert");
  }
}

template <class T>
decltype(auto) bind_one(Call& call, std::size_t& arg, std::size_t& upload) {
  using P = Plain<T>;
  if constexpr (std::is_same_v<P, HubCaller>) {
    return (call.caller);
  } else if constexpr (std::is_same_v<P, HubReply>) {
    return HubReply(call.reply);
  } else if constexpr (std::is_same_v<P, HubStreamWriter>) {
    return HubStreamWriter(call.stream);
  } else if constexpr (std::is_same_v<P, HubUpload>) {
    return call.uploads.at(upload++);
  } else {
    return bind_argument<P>(call.arguments, arg++);
  }
}

template <class F, class... A>
void invoke_bound(F& fn, Call& call, std::tuple<A...>*) {
  std::size_t arg = 0, upload = 0;
  // Braced initialisation evaluates the arguments left to right.
  using R = typename Signature<F>::Result;
  std::tuple<decltype(bind_one<A>(call, arg, upload))...> bound{bind_one<A>(call, arg, upload)...};
  if constexpr (std::is_void_v<R>) {
    std::apply(fn, std::move(bound));
  } else if constexpr (std::is_same_v<Plain<R>, std::string>) {
    call.result.string = std::apply(fn, std::move(bound));
    call.result.is_string = true;
  } else {
    call.result.value = Json(std::apply(fn, std::move(bound)));
  }
}

template <class... A>
MethodInfo describe(std::tuple<A...>*) {
  MethodInfo info;
  ((info.arguments += kIsSpecial<A> ? 0 : 1), ...);
  ((info.uploads += std::is_same_v<Plain<A>, HubUpload> ? 1 : 0), ...);
  info.streaming = (std::is_same_v<Plain<A>, HubStreamWriter> || ...);
  info.async = (std::is_same_v<Plain<A>, HubReply> || ...);
  return info;
}

}  // namespace hub_detail

struct HubStats {
  std::uint64_t open = 0;         // connections with a transport
  std::uint64_t opened = 0;       // handshakes completed
  std::uint64_t invocations = 0;  // hub method calls
  std::uint64_t messages_in = 0;   // hub messages (raw connections: data chunks)
  std::uint64_t messages_out = 0;  // queued to connections (a broadcast counts once per receiver)
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t protocol_errors = 0;  // connections closed for bad input
};

// A hub endpoint (Server::hub). Thread-safe once the server runs.
class Hub {
 public:
  virtual ~Hub() = default;

  // Registers a method clients call by name (case-insensitively). fn's parameters, in any
  // order: an optional HubCaller&; the client's arguments, each converted from JSON or
  // MessagePack with nlohmann::json's get<T>() (std::string, bool, integer and
  // floating-point parameters are read straight from the wire when the argument is of
  // that kind there, with the same result); HubUpload parameters for the streams the
  // client passes; and last, optionally, a HubReply (an async method: its return value is
  // ignored, the reply is the answer) or a HubStreamWriter (a streaming method). The
  // return value of a synchronous method (converted with nlohmann::json; a std::string is
  // written as it is, the same bytes) is the result.
  template <class F>
  void method(std::string name, F fn) {
    using Sig = hub_detail::Signature<F>;
    hub_detail::MethodInfo info = hub_detail::describe(static_cast<typename Sig::Args*>(nullptr));
    info.returns_value = !std::is_void_v<typename Sig::Result> && !info.async && !info.streaming;
    info.run = [f = std::move(fn)](hub_detail::Call& call) mutable {
      hub_detail::invoke_bound(f, call, static_cast<typename Sig::Args*>(nullptr));
    };
    add_method(std::move(name), std::move(info));
  }
  // Runs on the connection's loop after its handshake / once when it ends (error: why,
  // "" for a normal close).
  virtual void on_connected(std::function<void(HubCaller&)> fn) = 0;
  virtual void on_disconnected(std::function<void(HubCaller&, std::string_view error)> fn) = 0;

  HubClients clients() { return HubClients(*this); }
  // Group membership, from any thread; a connection leaves its groups when it ends.
  // done, when given, runs once the change is in effect everywhere: a send to the group
  // made after it, from any thread of any node, reaches the connection (add) or no longer
  // does (remove). Its argument is false when no node has the connection (or the group
  // name is empty). It runs once, on a loop or the backplane's thread; e.g. a hub method
  // that takes a HubReply completes it in done, so that its caller's next step finds the
  // membership in place on every node.
  void add_to_group(std::string_view connection_id, std::string_view group, std::function<void(bool)> done = {}) {
    change_group(connection_id, group, true, std::move(done));
  }
  void remove_from_group(std::string_view connection_id, std::string_view group,
                         std::function<void(bool)> done = {}) {
    change_group(connection_id, group, false, std::move(done));
  }
  // Calls a client method and awaits the client's answer (a client result): done runs
  // once, on the connection's loop, with the result, the client's error, or why there is
  // none (connection unknown or gone, timeout_ms passed).
  virtual void invoke_client(std::string_view connection_id, std::string_view method, Json arguments,
                             std::function<void(HubClientResult)> done, std::uint32_t timeout_ms = 30'000) = 0;
  // Ends every connection: Close with allow_reconnect, so clients with automatic
  // reconnect come back (what graceful shutdown does).
  virtual void close_all(std::string_view error = {}, bool allow_reconnect = true) = 0;
  virtual std::size_t connection_count() const = 0;
  virtual HubStats stats() const = 0;
  virtual const std::string& path() const noexcept = 0;

  // Delivery of HubTarget::send (internal).
  virtual void send_to_target(const HubTarget& target, std::string_view method, Json arguments) = 0;

 protected:
  virtual void change_group(std::string_view connection_id, std::string_view group, bool join,
                            std::function<void(bool)> done) = 0;
  virtual void add_method(std::string name, hub_detail::MethodInfo info) = 0;
};

}  // namespace wirehub
