#include "ws_client.hpp"

#include <cstring>

#include "net/tls_context.hpp"
#include "worker.hpp"
#include "ws/handshake.hpp"

namespace wirehub::bench {

namespace {
// One client context for the process (OpenSSL contexts are shared between threads once
// made). No verification: the bench loads its own server on loopback.
const net::TlsContext& tls_context() {
  static const auto ctx = net::TlsContext::client();
  return *ctx;
}
}  // namespace

WsClient::WsClient(Worker& worker, int fd, std::uint64_t dial_start_ns)
    : net::Connection(worker.loop(), fd), worker_(worker), dial_start_ns_(dial_start_ns), rng_(worker.next_random()) {}

WsClient::~WsClient() = default;

WsClient::MaskKey WsClient::next_mask() noexcept {
  MaskKey k;
  k.word = static_cast<std::uint32_t>(rng_.next() >> 32);  // the high half is the better-mixed one
  std::memcpy(k.bytes, &k.word, 4);
  return k;
}

void WsClient::start_handshake() {
  const std::string key = make_websocket_key(rng_);
  accept_ = std::make_unique<std::string>(ws::accept_key(key));
  head_ = std::make_unique<std::string>();
  const Target& t = target_ ? *target_ : worker_.target();
  // The TLS handshake starts with the first send; the handshake timer covers both.
  if (t.tls && !start_tls(tls_context())) return;
  send(upgrade_request(t.host_header, t.path, key, t.offer_deflate));
  arm_timer(kHandshakeTimeoutMs);
}

void WsClient::send_data(ws::Opcode op, std::string_view prefix, std::string_view body) {
  const std::size_t len = prefix.size() + body.size();
  char* out = worker_.scratch();
  const MaskKey k = next_mask();
  const std::size_t h = ws::write_frame_header(out, op, true, len, k.bytes);
  const std::size_t phase = mask_copy(out + h, prefix.data(), prefix.size(), k.word, 0);
  mask_copy(out + h + prefix.size(), body.data(), body.size(), k.word, phase);
  send(std::string_view(out, h + len));
}

void WsClient::send_control_frame(ws::Opcode op, std::string_view payload) {
  if (payload.size() > ws::kMaxControlPayload) payload = payload.substr(0, ws::kMaxControlPayload);
  char frame[ws::kMaxFrameHeader + ws::kMaxControlPayload];
  const MaskKey k = next_mask();
  const std::size_t h = ws::write_frame_header(frame, op, true, payload.size(), k.bytes);
  mask_copy(frame + h, payload.data(), payload.size(), k.word, 0);
  send_control(std::string_view(frame, h + payload.size()));
}

void WsClient::send_close_frame(std::uint16_t code, std::string_view reason) {
  std::string frame;
  const MaskKey k = next_mask();
  ws::write_close(frame, code, reason, k.bytes);
  send_control(frame);
}

void WsClient::close_gracefully() {
  if (stage_ == Stage::Handshake) {
    // Not a failure: the run ended before this handshake did.
    failed_ = true;
    close_now();
    return;
  }
  if (stage_ != Stage::Open) return;
  send_close_frame(ws::to_int(ws::CloseCode::Normal), {});
  protocol_.close_sent();
  stage_ = Stage::Closing;
  arm_timer(kCloseTimeoutMs);
}

void WsClient::fail(Counter& err, std::string_view why) {
  if (!failed_) {
    failed_ = true;
    err.add();
    worker_.note_error(why);
  }
  close_now();
}

// --- net::Connection ------------------------------------------------------------------

void WsClient::on_read(char* data, std::size_t n) {
  worker_.refresh_clock();
  if (stage_ == Stage::Handshake) {
    read_handshake(data, n);
    return;
  }
  if (stage_ == Stage::Open || stage_ == Stage::Closing) protocol_.receive(data, n, *this);
}

void WsClient::read_handshake(char* data, std::size_t n) {
  const std::size_t before = head_->size();
  head_->append(data, n);
  const std::size_t end = find_head_end(*head_);
  if (end == std::string::npos) {
    if (head_->size() > kMaxResponseHead) fail(worker_.stats().handshake_errors, "handshake: response head too large");
    return;
  }
  if (const char* why = check_upgrade_response(std::string_view(*head_).substr(0, end), *accept_,
                                                (target_ ? *target_ : worker_.target()).offer_deflate)) {
    std::string line = head_->substr(0, head_->find("\r\n"));
    fail(worker_.stats().handshake_errors, std::string("handshake: ") + why + " (" + line + ")");
    return;
  }
  head_.reset();
  accept_.reset();
  cancel_timer();
  stage_ = Stage::Open;
  worker_.handshake().record(worker_.now_ns() - dial_start_ns_);
  worker_.client_opened(*this);
  on_ws_open();
  // Frames may follow the head in the same read (a broadcast that raced the 101).
  const std::size_t used = end - before;
  if (used < n && stage_ == Stage::Open && is_open()) protocol_.receive(data + used, n - used, *this);
}

void WsClient::on_peer_closed() { close_now(); }

void WsClient::on_timeout() {
  if (stage_ == Stage::Handshake) {
    fail(worker_.stats().handshake_errors, "handshake: no response in time");
  } else if (stage_ == Stage::Closing) {
    fail(worker_.stats().close_errors, "close: the server's Close did not arrive in time");
  }
}

void WsClient::on_closed() {
  const bool was_pending = stage_ == Stage::Handshake;
  if (!failed_) {
    WorkerStats& s = worker_.stats();
    switch (stage_) {
      case Stage::Handshake:
        s.handshake_errors.add();
        worker_.note_error("handshake: the connection closed before the 101 response");
        break;
      case Stage::Open:
        s.dropped.add();
        worker_.note_error("the server closed an open connection without a close handshake");
        break;
      case Stage::Closing:
        s.close_errors.add();
        worker_.note_error("close: the connection ended before the server's Close arrived");
        break;
      case Stage::Done:
        if (close_received_) s.closed_clean.add();
        break;
    }
  }
  if (!was_pending) worker_.stats().open.sub();
  stage_ = Stage::Done;
  on_ws_closed();
  worker_.client_closed(*this, was_pending);
}

// --- ws::Handler ----------------------------------------------------------------------

bool WsClient::on_message(ws::Opcode op, std::string_view payload) {
  if (stage_ != Stage::Open) return true;  // data after our Close is discarded
  return on_ws_message(op, payload);
}

bool WsClient::on_ping(std::string_view payload) {
  worker_.stats().pings.add();
  send_control_frame(ws::Opcode::Pong, payload);
  return true;
}

bool WsClient::on_pong(std::string_view) { return true; }

bool WsClient::on_close(std::uint16_t code, std::string_view reason) {
  close_received_ = true;
  if (stage_ == Stage::Open) {
    // The server started the close: that is a dropped connection for a load run. Echo it
    // (RFC 6455 5.5.1) so the server sees a proper handshake.
    if (!failed_) {
      failed_ = true;
      worker_.stats().dropped.add();
      worker_.note_error("the server closed an open connection with " + std::to_string(code) + " " +
                         std::string(reason));
    }
    // A Close without a status is answered with one (1005 must not go on the wire).
    send_close_frame(code == ws::to_int(ws::CloseCode::NoStatus) ? ws::to_int(ws::CloseCode::Normal) : code, {});
  }
  stage_ = Stage::Done;
  // The server closes TCP first (RFC 6455 7.1.1); half-close and wait for its FIN.
  close_after_flush(kLingerMs);
  return false;
}

void WsClient::on_error(ws::CloseCode code, std::string_view reason) {
  if (!failed_) {
    failed_ = true;
    worker_.stats().protocol_errors.add();
    worker_.note_error("protocol error from the server: " + std::string(reason));
  }
  if (stage_ == Stage::Open) {
    send_close_frame(ws::to_int(code), reason);
  }
  stage_ = Stage::Done;
  close_after_flush(kLingerMs);
}

}  // namespace wirehub::bench
