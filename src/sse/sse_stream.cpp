#include "sse/sse_stream.hpp"

#include <string>

#include "sse/event_writer.hpp"
#include "sse/sse_endpoint.hpp"

namespace wirehub::sse {

namespace {
thread_local std::string t_event;
}

Stream::Stream(net::Connection& from, Endpoint& endpoint, ConnectionId id)
    : net::Connection(from), endpoint_(endpoint), id_(id), last_tx_ms_(static_cast<std::uint32_t>(loop().now_ms())) {}

void Stream::start(const HttpRequest& request) {
  arm_heartbeat();
  if (endpoint_.handlers().on_open) endpoint_.handlers().on_open(*this, request);
}

void Stream::arm_heartbeat() {
  const std::uint32_t every = endpoint_.options().heartbeat_ms;
  if (!every) return;
  const std::uint32_t since = static_cast<std::uint32_t>(loop().now_ms()) - last_tx_ms_;
  arm_timer(since >= every ? every : every - since);
}

void Stream::on_timeout() {
  const std::uint32_t every = endpoint_.options().heartbeat_ms;
  if (static_cast<std::uint32_t>(loop().now_ms()) - last_tx_ms_ >= every && admit(kHeartbeat.size())) {
    Connection::send(kHeartbeat);
    sent_now();
  }
  if (!ended()) arm_heartbeat();
}

bool Stream::admit(std::size_t n) {
  const std::size_t queued = queued_bytes();
  // An empty queue always takes one event, however large.
  if (queued == 0 || queued + n <= endpoint_.options().send_hard_limit) return true;
  auto& stats = endpoint_.loop_stats(loop().index());
  stats.slow_closed.add();
  // What it could not take is discarded with the connection; count those events too.
  const std::size_t removed = queue().drop_oldest_frames(0);
  stats.dropped.add(1 + removed);
  stats.events_out.sub(removed);
  notify_close();
  close_now();
  return false;
}

bool Stream::send(const SseEvent& e) {
  if (ended()) return false;
  t_event.clear();
  append_event(t_event, e.data, e.id, e.event);
  if (!admit(t_event.size())) return false;
  Connection::send(t_event);
  sent_now();
  auto& stats = endpoint_.loop_stats(loop().index());
  stats.events_out.add();
  stats.events_queued.add();
  stats.bytes_out.add(t_event.size());
  if (t_event.capacity() > (256u << 10)) std::string().swap(t_event);  // do not pin a huge event
  return true;
}

bool Stream::send_shared(const BufferRef& buf) {
  if (ended() || !admit(buf->size())) return false;
  Connection::send(buf, 0, buf->size());
  sent_now();
  return true;
}

void Stream::close() {
  if (ended()) return;
  notify_close();
  close_after_flush(endpoint_.linger_ms());
}

bool Stream::subscribe(std::string_view topic) { return !ended() && endpoint_.subscribe(*this, topic); }

bool Stream::subscribe(std::string_view topic, std::string_view position) {
  return !ended() && endpoint_.resume(*this, topic, position);
}

bool Stream::unsubscribe(std::string_view topic) { return !ended() && endpoint_.unsubscribe(*this, topic); }

void Stream::on_read(char*, std::size_t) {}  // nothing a client sends means anything here

void Stream::on_peer_closed() {
  notify_close();
  close_now();
}

void Stream::on_closed() {
  notify_close();
  endpoint_.detach(*this);
}

void Stream::notify_close() {
  if (close_notified_) return;
  close_notified_ = true;
  if (endpoint_.handlers().on_close) endpoint_.handlers().on_close(*this);
}

}  // namespace wirehub::sse
