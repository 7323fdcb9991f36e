#include "http/http_connection.hpp"

#include <string>

#include "http/response.hpp"

namespace wirehub::http {

namespace {
thread_local std::string t_response;
}

HttpConnection::HttpConnection(loop::EventLoop& loop, int fd, const Router<Route>& routes,
                               const HttpOptions& options, HttpStats& stats, DeferredTable* deferred)
    : net::Connection(loop, fd),
      routes_(routes),
      options_(options),
      stats_(stats),
      deferred_(deferred),
      parser_(options.limits) {
  // The first request must arrive within the header timeout too (slowloris).
  arm_timer(options_.header_timeout_ms);
}

HttpConnection::~HttpConnection() { forget_deferred(); }

void HttpConnection::forget_deferred() noexcept {
  if (deferred_key_ && deferred_) deferred_->remove(deferred_key_);
  deferred_key_ = 0;
}

std::uint64_t HttpConnection::defer_response(std::optional<std::uint32_t> timeout_ms) {
  if (!deferred_ || deferred_key_) return 0;
  deferred_key_ = deferred_->add(*this);
  // The next pipelined request waits (its bytes in in_, or in the socket): answering it
  // first would put its response ahead of this one's.
  pause_reading();
  const std::uint32_t timeout = timeout_ms.value_or(options_.handler_timeout_ms);
  if (timeout) {
    arm_timer(timeout);
  } else {
    cancel_timer();
  }
  return deferred_key_;
}

std::uint64_t HttpConnection::defer_upgrade(std::optional<std::uint32_t> timeout_ms) {
  if (!upgrade_call_ || upgrade_deferred_) return 0;
  const std::uint64_t key = defer_response(timeout_ms);
  if (key == 0) return 0;
  // The head's views point into the read buffer, which the next read reuses.
  held_head_.assign(upgrade_head_);
  upgrade_deferred_ = true;
  return key;
}

bool HttpConnection::resume_upgrade(std::uint64_t key, const Route::Upgrade& upgrade) {
  if (key == 0 || key != deferred_key_ || !upgrade_deferred_) return false;
  forget_deferred();
  upgrade_deferred_ = false;
  resume_reading();
  arm_timer(options_.header_timeout_ms);  // until the upgrade answers or takes the socket
  parser_.reset();
  parser_.parse(held_head_);
  const RequestHead& head = parser_.head();
  const bool had_body = head.has_body;
  // The bytes that followed the head wait in in_ (reading was paused since).
  upgrade_call_ = true;
  upgrade(*this, head, in_.data(), in_.size());
  upgrade_call_ = false;
  if (upgraded_) return true;  // the new connection took the socket and those bytes
  held_head_.clear();
  if (deferred_key_) return true;  // deferred once more
  after_plain_upgrade_answer(had_body);
  if (!in_process_) resume_input();
  return true;
}

void HttpConnection::after_plain_upgrade_answer(bool had_body) {
  // A request body is not expected on an upgrade route: stop here rather than guess its
  // framing.
  if (had_body && is_open()) close_after_flush(options_.linger_ms);
  parser_.reset();
}

bool HttpConnection::answer_deferred(std::uint64_t key, int status, std::string_view content_type,
                                     std::string_view body, std::span<const Header> extra_headers) {
  if (key == 0 || key != deferred_key_) return false;
  forget_deferred();
  if (upgrade_deferred_) {
    upgrade_deferred_ = false;
    held_head_.clear();
    after_plain_upgrade_answer(upgrade_had_body_);
  }
  respond(status, content_type, body, extra_headers);
  resume_reading();
  // Inside process() (the handler answered during its own call) the parse loop goes on by
  // itself; otherwise the requests buffered behind this one are handled now.
  if (!in_process_) resume_input();
  return true;
}

void HttpConnection::resume_input() {
  if (!in_.empty() && is_open() && !failed_ && !upgraded_) {
    std::size_t used = process(in_.data(), in_.size());
    if (upgraded_) return;
    in_.consume(used);
  }
  if (upgraded_ || failed_ || !is_open() || deferred_key_) return;
  arm_input_timer();
}

void HttpConnection::arm_input_timer() {
  if (in_.empty() && held_head_.empty() && route_ == nullptr) {
    in_.shrink();
    arm_timer(options_.keep_alive_timeout_ms);
  } else {
    arm_timer(options_.header_timeout_ms);
  }
}

void HttpConnection::close_when_answered() {
  if (deferred_key_) {
    keep_alive_ = false;  // respond() closes after the awaited answer
  } else {
    close_after_flush(options_.linger_ms);
  }
}

void HttpConnection::on_closed() { forget_deferred(); }

void HttpConnection::respond(int status, std::string_view content_type, std::string_view body,
                             std::span<const Header> extra_headers, bool keep_alive) {
  keep_alive_ = keep_alive_ && keep_alive;
  t_response.clear();
  if (head_request_) {
    // RFC 9110 9.3.2: the same head as for GET, without the content.
    write_response_head(t_response, status, content_type, body.size(), extra_headers, keep_alive_);
  } else {
    write_response(t_response, status, content_type, body, extra_headers, keep_alive_);
  }
  send(t_response);
  if (!keep_alive_) close_after_flush(options_.linger_ms);
}

void HttpConnection::fail(int status, std::string_view reason, std::span<const Header> extra) {
  failed_ = true;
  stats_.parse_errors.add();
  std::string body(reason);
  body += '\n';
  keep_alive_ = false;
  respond(status, "text/plain; charset=utf-8", body, extra, false);
}

void HttpConnection::on_read(char* data, std::size_t n) {
  if (upgraded_ || failed_ || !is_open()) return;
  if (deferred_key_) {
    // Reading is paused, but TLS may still hand over records it had decrypted ahead.
    in_.append(data, n);
    return;
  }
  bool idle_before = in_.empty() && held_head_.empty() && route_ == nullptr;
  if (idle_before) arm_timer(options_.header_timeout_ms);
  if (in_.empty()) {
    std::size_t used = process(data, n);
    if (!upgraded_ && !failed_ && used < n) in_.append(data + used, n - used);
  } else {
    in_.append(data, n);
    std::size_t used = process(in_.data(), in_.size());
    if (!upgraded_) in_.consume(used);
  }
  if (upgraded_ || failed_ || !is_open() || deferred_key_) return;
  if (in_.empty() && held_head_.empty() && route_ == nullptr) {
    in_.shrink();
    arm_timer(options_.keep_alive_timeout_ms);
  }
}

std::size_t HttpConnection::process(char* in, std::size_t n) {
  struct InProcess {
    bool& flag;
    explicit InProcess(bool& f) : flag(f) { flag = true; }
    ~InProcess() { flag = false; }
  } guard(in_process_);
  std::size_t off = 0;
  while (!upgraded_ && !failed_ && is_open()) {
    auto r = parser_.parse(std::string_view(in + off, n - off));
    switch (r.event) {
      case RequestParser::Event::NeedMore:
        return off;
      case RequestParser::Event::Head: {
        std::size_t head_size = r.consumed;
        off += head_size;
        dispatch_head(std::string_view(in + off - head_size, head_size), in + off, n - off);
        if (upgraded_) return n;
        if (upgrade_deferred_) return off;  // the bytes after the head wait with it
        break;
      }
      case RequestParser::Event::Body:
        off += r.consumed;
        if (route_ && body_.size() + r.body.size() > route_->max_body_bytes) {
          fail(413, "request body too large");
          return off;
        }
        body_.append(r.body);
        break;
      case RequestParser::Event::Done: {
        off += r.consumed;
        const Route* route = route_;
        route_ = nullptr;
        if (route && route->handler) {
          stats_.requests.add();
          route->handler(*this, parser_.head(), body_);
        }
        body_.clear();
        held_head_.clear();
        // Deferred: the rest waits for the answer (which closes if keep-alive is off).
        if (deferred_key_) return off;
        if (!keep_alive_ && is_open()) close_after_flush(options_.linger_ms);
        if (!keep_alive_) return n;
        break;
      }
      case RequestParser::Event::Error:
        fail(http_status(parser_.error()), describe(parser_.error()));
        return n;
    }
  }
  return off;
}

void HttpConnection::dispatch_head(std::string_view head_bytes, char* rest, std::size_t rest_n) {
  const RequestHead& head = parser_.head();
  keep_alive_ = head.keep_alive;
  head_request_ = head.method == Method::Head;
  auto match = routes_.match(head.method, head.path);
  if (match.kind == Router<Route>::Kind::NotFound) {
    fail(404, "not found");
    return;
  }
  if (match.kind == Router<Route>::Kind::MethodNotAllowed) {
    Header allow[] = {{"Allow", match.allow}};
    fail(405, "method not allowed", allow);
    return;
  }
  const Route& route = *match.handler;
  if (route.upgrade && (!route.handler || !route.upgrade_if || route.upgrade_if(head))) {
    stats_.requests.add();
    upgrade_head_ = head_bytes;
    upgrade_had_body_ = head.has_body;
    upgrade_call_ = true;
    route.upgrade(*this, head, rest, rest_n);
    upgrade_call_ = false;
    upgrade_head_ = {};
    if (!upgraded_ && !upgrade_deferred_ && is_open() && !failed_) after_plain_upgrade_answer(head.has_body);
    return;
  }
  if (head.has_body && head.content_length > route.max_body_bytes) {
    fail(413, "request body too large");
    return;
  }
  route_ = &route;
  params_ = match.params;
  if (!head.has_body) return;  // Done follows with no more bytes
  if (head.expect_continue) send("HTTP/1.1 100 Continue\r\n\r\n");
  // The body may span reads while the head's views point into the read buffer: keep a
  // copy of the head and re-parse it so head() now views into the copy.
  held_head_.assign(head_bytes);
  parser_.reset();
  parser_.parse(held_head_);
  params_ = routes_.match(parser_.head().method, parser_.head().path).params;  // views into the copy
}

void HttpConnection::on_timeout() {
  if (deferred_key_) {
    deferred_->timed_out.add();
    answer_deferred(deferred_key_, 503, "text/plain; charset=utf-8", "handler timed out\n");
    return;
  }
  bool mid_request = !in_.empty() || !held_head_.empty() || route_ != nullptr;
  if (mid_request) {
    stats_.timeouts.add();
    failed_ = true;
    keep_alive_ = false;
    respond(408, "text/plain; charset=utf-8", "request timeout\n", {}, false);
  } else {
    close_now();
  }
}

}  // namespace wirehub::http
