#pragma once
// HttpConnection: the I/O side of HTTP/1.1 — a net::Connection driving a RequestParser.
//
// Input is parsed straight out of the loop's read buffer; only the bytes of a request
// that is not complete at the end of a read are copied into the connection. Responses
// are written in request order (pipelining) through the connection's cork. A route is
// either a handler (called once the body is complete) or an upgrade (called as soon as
// the head is complete; it answers, or takes the socket over with a new Connection).
// A handler may also defer its answer (defer_response): the connection then stops
// parsing and reading until answer_deferred() comes, so responses stay in request order.

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/byte_buffer.hpp"
#include "core/counter.hpp"
#include "http/deferred_table.hpp"
#include "http/request_parser.hpp"
#include "http/router.hpp"
#include "net/connection.hpp"

namespace wirehub::http {

class HttpConnection;

struct Route {
  using Handler = std::function<void(HttpConnection&, const RequestHead&, std::string_view body)>;
  // rest/n: bytes that followed the head in this read (the first frames of an upgraded
  // protocol), mutable and valid during the call only.
  using Upgrade = std::function<void(HttpConnection&, const RequestHead&, char* rest, std::size_t n)>;
  Handler handler;
  Upgrade upgrade;
  // With both a handler and an upgrade: the upgrade takes the requests this says yes to
  // (e.g. those asking for a WebSocket or an event stream), the handler the others.
  std::function<bool(const RequestHead&)> upgrade_if;
  std::uint64_t max_body_bytes = 1 << 20;
};

struct HttpOptions {
  Limits limits;
  std::uint32_t header_timeout_ms = 10'000;  // first byte to complete head (slowloris)
  std::uint32_t keep_alive_timeout_ms = 60'000;  // idle between requests
  std::uint32_t linger_ms = 2'000;          // after our last byte, wait this long for EOF
  std::uint32_t handler_timeout_ms = 30'000;  // a deferred response not given by then: 503
};

// Per-loop statistics (written by the loop, read from any thread).
struct HttpStats {
  Counter requests;
  Counter parse_errors;  // requests answered with a 4xx/5xx by the parser or router
  Counter timeouts;      // 408s
};

class HttpConnection final : public net::Connection {
 public:
  // deferred: the loop's table of requests awaiting a deferred response (needed only if a
  // route defers; it must outlive the connection).
  HttpConnection(loop::EventLoop& loop, int fd, const Router<Route>& routes, const HttpOptions& options,
                 HttpStats& stats, DeferredTable* deferred = nullptr);
  ~HttpConnection() override;

  // Writes a complete response. keep_alive=false (or the request's own choice) closes
  // the connection once it is written.
  void respond(int status, std::string_view content_type, std::string_view body,
               std::span<const Header> extra_headers = {}, bool keep_alive = true);
  // During a handler call: the request will be answered later, by answer_deferred(key)
  // with the returned key. Until then nothing more is parsed or read, and no header or
  // keep-alive timeout runs; after handler_timeout_ms the client gets 503 instead. 0 when
  // the connection has no DeferredTable. timeout_ms, when given, replaces
  // handler_timeout_ms for this request (0: none), e.g. for a long poll that is meant to
  // wait longer than a handler may.
  std::uint64_t defer_response(std::optional<std::uint32_t> timeout_ms = std::nullopt);
  // Answers the request deferred under key, as respond() would have (HEAD, keep-alive),
  // then handles the requests that arrived behind it. False when key is not the request
  // this connection awaits (it was answered or timed out).
  bool answer_deferred(std::uint64_t key, int status, std::string_view content_type, std::string_view body,
                       std::span<const Header> extra_headers = {});
  bool awaiting_response() const noexcept { return deferred_key_ != 0; }
  // During an upgrade call: the decision is taken later, by resume_upgrade(key, upgrade)
  // or answer_deferred(key, ...) with the returned key (e.g. once another node was asked).
  // The request's head and the bytes that followed it are kept; as with defer_response
  // nothing more is parsed or read meanwhile, and after timeout_ms (default
  // handler_timeout_ms, 0: none) the client gets 503. 0 outside an upgrade call or
  // without a DeferredTable.
  std::uint64_t defer_upgrade(std::optional<std::uint32_t> timeout_ms = std::nullopt);
  // Calls upgrade for the request deferred under key, as the route's upgrade would have
  // been called (its head, the bytes after it): it takes the socket over or answers.
  // False when key is not the request this connection awaits.
  bool resume_upgrade(std::uint64_t key, const Route::Upgrade& upgrade);
  // Graceful shutdown: closes once the awaited response (if any) is written, else now
  // after a flush (see net::Connection::close_after_flush).
  void close_when_answered();
  // Marks the connection as taken over by an upgrade: nothing more is parsed here.
  void upgraded() noexcept { upgraded_ = true; }
  bool is_upgraded() const noexcept { return upgraded_; }
  // The {param} values of the route matched for the request being handled (views into
  // its head, valid during the handler call).
  const RouteParams& params() const noexcept { return params_; }
  const HttpOptions& options() const noexcept { return options_; }

 private:
  void on_read(char* data, std::size_t n) override;
  void on_timeout() override;
  void on_closed() override;
  // Parses what is in `in`; returns bytes consumed. Stops at an upgrade or an error.
  std::size_t process(char* in, std::size_t n);
  void dispatch_head(std::string_view head_bytes, char* rest, std::size_t rest_n);
  void fail(int status, std::string_view reason, std::span<const Header> extra = {});
  // After a deferred answer: reads again and parses the bytes that waited behind it.
  void resume_input();
  // Re-arms the timer for what the connection waits for next: a head, or the next request.
  void arm_input_timer();
  void forget_deferred() noexcept;
  // After an upgrade route answered with a plain response: the next request may follow.
  void after_plain_upgrade_answer(bool had_body);

  const Router<Route>& routes_;
  const HttpOptions& options_;
  HttpStats& stats_;
  DeferredTable* deferred_;
  RequestParser parser_;
  ByteBuffer in_;          // bytes of an incomplete request, kept between reads
  std::string held_head_;  // the head of a request whose body spans reads
  std::string body_;
  const Route* route_ = nullptr;  // route of the request whose body is being read
  RouteParams params_;            // of route_
  std::uint64_t deferred_key_ = 0;  // the request awaiting its response; 0: none
  bool keep_alive_ = true;
  bool head_request_ = false;  // the request being answered is HEAD: no body
  bool upgraded_ = false;
  // An upgrade call in progress: its head (a view into the input) and whether the head
  // announced a body; a deferred upgrade keeps the head in held_head_.
  std::string_view upgrade_head_;
  bool upgrade_call_ = false;
  bool upgrade_deferred_ = false;
  bool upgrade_had_body_ = false;
  bool failed_ = false;
  bool in_process_ = false;  // inside process(): an answer given now must not re-enter it
};

}  // namespace wirehub::http
