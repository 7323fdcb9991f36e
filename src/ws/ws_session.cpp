#include "ws/ws_session.hpp"

#include <new>

#include "core/block_pool.hpp"
#include "ws/deflate_state.hpp"
#include "ws/token_auth.hpp"
#include "ws/ws_endpoint.hpp"

namespace wirehub::ws {

namespace {
thread_local std::string t_control;

// Never destroyed: a session may still be disposed while static objects are torn down.
BlockPool& session_pool() {
  static auto* pool = new BlockPool(sizeof(Session));
  return *pool;
}

Limits protocol_limits(const WebSocketOptions& o) {
  Limits l;
  l.max_message_bytes = o.max_message_bytes;
  return l;
}
}  // namespace

SubprotocolName::SubprotocolName(std::string_view chosen, const std::vector<std::string>& configured) {
  if (chosen.empty()) return;
  if (chosen == kTokenSubprotocol) {  // answered to a token-only offer: needs no copy
    static const auto* token_name = new std::string(kTokenSubprotocol);
    p_ = reinterpret_cast<std::uintptr_t>(token_name);
    return;
  }
  for (const std::string& name : configured) {
    if (name == chosen) {
      p_ = reinterpret_cast<std::uintptr_t>(&name);
      return;
    }
  }
  p_ = reinterpret_cast<std::uintptr_t>(new std::string(chosen)) | 1;
}

void* Session::operator new(std::size_t n) {
  if (n != sizeof(Session)) throw std::bad_alloc();  // no subclass can exist (final)
  return session_pool().allocate();
}

void Session::operator delete(void* p) noexcept { session_pool().deallocate(p); }

Session::Session(net::Connection& from, Endpoint& endpoint, ConnectionId id, std::string_view subprotocol,
                 DeflateAgreement deflate)
    : net::Connection(from),
      endpoint_(endpoint),
      protocol_(Role::Server, protocol_limits(endpoint.options())),
      id_(id),
      subprotocol_(subprotocol, endpoint.options().subprotocols),
      last_rx_ms_(static_cast<std::uint32_t>(loop().now_ms())),
      deflate_(deflate) {
  set_drain_threshold(endpoint_.options().send_soft_limit);
  if (deflate_.enabled) protocol_.accept_compressed();
}

const Principal* Session::principal() const noexcept { return endpoint_.principal(*this); }

bool Session::subscribe(std::string_view topic) { return endpoint_.subscribe(*this, topic); }

bool Session::subscribe(std::string_view topic, std::string_view position) {
  return endpoint_.resume(*this, topic, position);
}

bool Session::unsubscribe(std::string_view topic) { return endpoint_.unsubscribe(*this, topic); }

// The per-connection memory budget (docs/ARCHITECTURE.md): one 256-byte BlockPool block.
static_assert(sizeof(Session) <= 256, "a Session must stay within one 256-byte block");

void Session::start(char* rest, std::size_t n) {
  arm_keepalive();
  if (endpoint_.handlers().on_open) endpoint_.handlers().on_open(*this);
  if (n > 0 && is_open()) on_read(rest, n);
}

void Session::arm_keepalive() {
  const WebSocketOptions& o = endpoint_.options();
  const std::uint64_t since = since_rx_ms();
  std::uint64_t delay = 0;
  // A ping goes out once the connection has been silent for ping_interval_ms: wake up when
  // that will be (a full interval after a ping we just sent, whose answer resets `since`).
  // Waking a full interval after any timeout instead would ping every other interval.
  if (o.ping_interval_ms) delay = since >= o.ping_interval_ms ? o.ping_interval_ms : o.ping_interval_ms - since;
  if (o.idle_timeout_ms) {
    std::uint64_t idle_left = since >= o.idle_timeout_ms ? 1 : o.idle_timeout_ms - since;
    if (!delay || idle_left < delay) delay = idle_left;
  }
  if (delay) arm_timer(delay);
}

void Session::on_read(char* data, std::size_t n) {
  last_rx_ms_ = static_cast<std::uint32_t>(loop().now_ms());
  protocol_.receive(data, n, *this);
  // A message that spanned reads was gathered in the protocol's buffer; once delivered,
  // give the memory back, so a connection that once sent a large message does not keep
  // its size for life (an idle connection holds no input buffer at all).
  protocol_.shrink();
}

// --- ws::Handler ------------------------------------------------------------------------

bool Session::on_message(Opcode op, std::string_view payload) {
  auto& stats = endpoint_.loop_stats(loop().index());
  stats.messages_in.add();
  stats.bytes_in.add(payload.size());
  if (endpoint_.handlers().on_message) endpoint_.handlers().on_message(*this, payload, op == Opcode::Binary);
  return is_open() && protocol_.state() != State::Closed;
}

bool Session::on_ping(std::string_view payload) {
  if (closing_sent_) return true;  // nothing, not even a Pong, follows our Close
  char frame[kMaxFrameHeader + kMaxControlPayload];
  std::size_t h = write_frame_header(frame, Opcode::Pong, true, payload.size());
  std::memcpy(frame + h, payload.data(), payload.size());
  send_control(std::string_view(frame, h + payload.size()));
  return true;
}

bool Session::on_pong(std::string_view) { return true; }

Inflater* Session::inflater() {
  if (!deflate_.enabled) return nullptr;
  // The client resets its window after each message: any inflater will do, the thread's.
  if (deflate_.client_no_context_takeover) return &thread_inflater();
  ConnectionDeflate& c = endpoint_.deflate_state(*this);
  if (!c.inflater) {
    // At least 9 bits: a zlib-based client told 8 compresses with 9 (see Inflater).
    int bits = deflate_.client_window_bits < 9 ? 9 : deflate_.client_window_bits;
    c.inflater = std::make_unique<Inflater>(bits, /*takeover=*/true, /*keep_output=*/0);
  }
  return c.inflater.get();
}

bool Session::on_close(std::uint16_t code, std::string_view reason) {
  bool we_initiated = closing_sent_;
  if (!we_initiated) {
    // Echo the peer's status code (RFC 6455 5.5.1); write_close answers 1005 (the peer
    // sent no code) with an empty Close, in kind.
    t_control.clear();
    write_close(t_control, code, {});
    // Behind the data already queued: nothing may follow a Close (RFC 6455 5.5.1).
    Connection::send(t_control, net::kFrameStart | net::kControl);
    closing_sent_ = true;
  }
  notify_close(code, reason);
  // The server closes the TCP connection first (RFC 6455 7.1.1), after our Close is out.
  close_after_flush(endpoint_.options().close_timeout_ms);
  return false;
}

void Session::on_error(CloseCode code, std::string_view reason) {
  endpoint_.loop_stats(loop().index()).protocol_errors.add();
  if (!closing_sent_) send_close_frame(to_int(code), reason, /*urgent=*/false);
  notify_close(to_int(code), reason);
  close_after_flush(endpoint_.options().close_timeout_ms);
}

// --- output ------------------------------------------------------------------------------

void Session::close_slow_consumer() {
  auto& stats = endpoint_.loop_stats(loop().index());
  stats.slow_closed.add();
  // The frames it could not take are dropped (and counted) so the Close goes out now
  // instead of behind them; nothing may follow a Close (RFC 6455 5.5.1).
  std::size_t removed = queue().drop_oldest_frames(0);
  stats.dropped.add(1 + removed);
  stats.messages_out.sub(removed);  // queued, never sent: they count as dropped instead
  if (!closing_sent_) {
    send_close_frame(to_int(CloseCode::PolicyViolation), "slow consumer", /*urgent=*/true);
    arm_timer(endpoint_.options().close_timeout_ms);
  }
}

bool Session::admit(std::size_t frame_bytes, std::uint64_t tag) {
  const WebSocketOptions& o = endpoint_.options();
  std::size_t queued = queued_bytes();
  // An empty queue always takes one frame, however large: a message bigger than the
  // limit must still be deliverable to a consumer that keeps up.
  if (queued == 0 || queued + frame_bytes <= o.send_hard_limit) return true;
  auto& stats = endpoint_.loop_stats(loop().index());
  switch (o.slow_consumer) {
    case SlowConsumerPolicy::Close:
      close_slow_consumer();
      return false;
    case SlowConsumerPolicy::DropNewest:
      stats.dropped.add();
      return false;
    case SlowConsumerPolicy::DropOldest: {
      std::size_t target = o.send_hard_limit > frame_bytes ? o.send_hard_limit - frame_bytes : 0;
      std::size_t removed = queue().drop_oldest_frames(target);
      stats.dropped.add(removed);
      stats.messages_out.sub(removed);
      if (queued_bytes() + frame_bytes <= o.send_hard_limit) return true;
      stats.dropped.add();  // the new frame alone does not fit
      return false;
    }
    case SlowConsumerPolicy::KeepLatest: {
      if (tag == 0) {
        stats.dropped.add();
        return false;
      }
      std::size_t removed = queue().drop_tagged(tag);
      stats.dropped.add(removed);
      stats.messages_out.sub(removed);
      if (queued_bytes() + frame_bytes <= 2 * o.send_hard_limit) return true;
      close_slow_consumer();
      return false;
    }
  }
  return false;
}

bool Session::send(std::string_view payload, bool binary, std::string_view topic) {
  if (!queue_message(payload, binary, Endpoint::topic_tag(topic))) return false;
  auto& stats = endpoint_.loop_stats(loop().index());
  stats.messages_out.add();
  stats.messages_queued.add();
  stats.bytes_out.add(payload.size());
  return true;
}

bool Session::queue_message(std::string_view payload, bool binary, std::uint64_t tag) {
  if (!is_open() || closing_sent_) return false;
  const Opcode op = binary ? Opcode::Binary : Opcode::Text;
  if (compresses(payload.size())) return queue_compressed(payload, op, tag);
  char header[kMaxFrameHeader];
  std::size_t h = write_frame_header(header, op, true, payload.size());
  if (!admit(h + payload.size(), tag)) return false;
  Connection::send(std::string_view(header, h), payload, tag);
  return true;
}

bool Session::compresses(std::size_t n) const noexcept {
  // zlib cannot compress with an 8-bit window: a client that asked for one gets every
  // message uncompressed, which RFC 7692 allows message by message (RSV1 clear).
  return deflate_.enabled && deflate_.server_window_bits >= 9 && n >= endpoint_.options().compression.min_size;
}

Session::BroadcastForm Session::broadcast_form(std::size_t payload_bytes) const noexcept {
  if (!compresses(payload_bytes)) return BroadcastForm::Plain;
  // With context takeover the client's window holds everything we sent it: a frame
  // compressed without that history would decode, but our compressor's window would
  // then lack this message while the client's has it, and our next back-reference would
  // point at the wrong bytes. Such a receiver gets the broadcast compressed on its own.
  return deflate_.server_no_context_takeover ? BroadcastForm::Shared : BroadcastForm::Own;
}

bool Session::queue_compressed(std::string_view payload, Opcode op, std::uint64_t tag) {
  const CompressionOptions& o = endpoint_.options().compression;
  // Admission is decided on the uncompressed size, before compressing: with context
  // takeover a message compressed and then refused would leave our window ahead of the
  // client's. (Policies that remove queued frames are never combined with takeover: the
  // endpoint then answers server_no_context_takeover.)
  char header[kMaxFrameHeader];
  if (!admit(write_frame_header(header, op, true, payload.size()) + payload.size(), tag)) return false;
  Deflater* d;
  if (deflate_.server_no_context_takeover) {
    d = &thread_deflater(o.level, deflate_.server_window_bits, o.mem_level);
  } else {
    ConnectionDeflate& c = endpoint_.deflate_state(*this);
    if (!c.deflater) {
      const int bits = deflate_.server_window_bits;
      c.deflater = std::make_unique<Deflater>(o.level, bits, o.mem_level, /*takeover=*/true);
    }
    d = c.deflater.get();
  }
  thread_local std::string z;
  d->compress(payload, z);
  std::string_view body = z;
  bool rsv1 = true;
  // Without takeover nothing depends on this message having gone through the compressor,
  // so when compressing did not pay, the original bytes go instead.
  if (!d->takeover() && z.size() >= payload.size()) {
    body = payload;
    rsv1 = false;
  }
  std::size_t h = write_frame_header(header, op, true, body.size(), nullptr, rsv1);
  Connection::send(std::string_view(header, h), body, tag);
  if (z.capacity() > (256u << 10)) std::string().swap(z);  // do not pin a huge message's buffer
  return true;
}

bool Session::send_frame(const BufferRef& buf, std::size_t off, std::size_t len, std::uint64_t tag, bool merge) {
  if (!is_open() || closing_sent_) return false;
  if (!admit(len, tag)) return false;
  Connection::send(buf, off, len, net::kFrameStart, tag, merge);
  return true;
}

void Session::send_close_frame(std::uint16_t code, std::string_view reason, bool urgent) {
  t_control.clear();
  write_close(t_control, code, reason);
  if (urgent) {
    send_control(t_control);  // ahead of unstarted data frames (the caller dropped them)
  } else {
    // After every message already queued: a Close ends the stream of data (RFC 6455
    // 5.5.1). Marked control so no drop policy removes it.
    Connection::send(t_control, net::kFrameStart | net::kControl);
  }
  closing_sent_ = true;
  protocol_.close_sent();
}

void Session::close(std::uint16_t code, std::string_view reason) {
  if (!is_open() || closing_sent_) return;
  // Only codes an endpoint may put on the wire; anything else becomes a plain 1000.
  if (!is_valid_wire_close_code(code)) code = to_int(CloseCode::Normal);
  send_close_frame(code, reason, /*urgent=*/false);
  // Wait for the peer's Close; past the timeout the connection is dropped.
  arm_timer(endpoint_.options().close_timeout_ms);
}

void Session::notify_close(std::uint16_t code, std::string_view reason) {
  if (close_notified_) return;
  close_notified_ = true;
  if (endpoint_.handlers().on_close) endpoint_.handlers().on_close(*this, code, reason);
}

// --- net::Connection hooks ---------------------------------------------------------------

void Session::on_peer_closed() {
  notify_close(to_int(CloseCode::Abnormal), {});
  close_now();
}

void Session::on_closed() {
  notify_close(to_int(CloseCode::Abnormal), {});
  endpoint_.detach(*this);
}

void Session::on_timeout() {
  if (closing_sent_) {
    // The peer never answered our Close.
    notify_close(to_int(CloseCode::Abnormal), {});
    close_now();
    return;
  }
  const WebSocketOptions& o = endpoint_.options();
  std::uint64_t since = since_rx_ms();
  if (o.idle_timeout_ms && since >= o.idle_timeout_ms) {
    close(to_int(CloseCode::GoingAway), "idle timeout");
    return;
  }
  if (o.ping_interval_ms && since >= o.ping_interval_ms) {
    char frame[2];
    std::size_t h = write_frame_header(frame, Opcode::Ping, true, 0);
    send_control(std::string_view(frame, h));
  }
  arm_keepalive();
}

void Session::on_drained() {
  if (endpoint_.handlers().on_drain && is_open()) endpoint_.handlers().on_drain(*this);
}

}  // namespace wirehub::ws
