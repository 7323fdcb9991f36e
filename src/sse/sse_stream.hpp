#pragma once
// Stream: one open event stream — the I/O side of the text/event-stream writer.
//
// It takes the socket over from the HttpConnection that carried the GET (after the 200
// head was queued there), as ws::Session does after a handshake. From then on output is
// events, comments and nothing else; input is read and discarded (the request has no
// body, and an event stream has no client-to-server direction), and the client's EOF
// ends the stream. One timer: the heartbeat comment after heartbeat_ms without output.
// Back-pressure: an event that would take the queue over send_hard_limit closes the
// stream at once (what is queued is discarded: a client that far behind is not
// catching up) and is counted.

#include <cstdint>
#include <string_view>

#include "core/shared_buffer.hpp"
#include "net/connection.hpp"
#include "wirehub/sse.hpp"

namespace wirehub::sse {

class Endpoint;

class Stream final : public net::Connection, public SseStream {
 public:
  // Takes over from's socket; the caller has queued the 200 head on from.
  Stream(net::Connection& from, Endpoint& endpoint, ConnectionId id);

  // SseStream
  bool send(const SseEvent& e) override;
  void close() override;
  bool subscribe(std::string_view topic) override;
  bool subscribe(std::string_view topic, std::string_view position) override;
  bool unsubscribe(std::string_view topic) override;
  ConnectionId id() const noexcept override { return id_; }

  // Queues buf[0, size) — one formatted event shared with other streams — subject to
  // back-pressure; does not count events_out (the caller counts its whole fan-out).
  bool send_shared(const BufferRef& buf);
  // Called once the stream is registered: arms the heartbeat and runs on_open.
  void start(const HttpRequest& request);
  // The stream takes no more output: closing (for any reason) or closed. A close
  // requested this iteration leaves the connection open until the iteration ends.
  bool ended() const noexcept { return close_notified_ || !is_open(); }

 private:
  // net::Connection
  void on_read(char* data, std::size_t n) override;
  void on_peer_closed() override;
  void on_closed() override;
  void on_timeout() override;

  // False (and the stream is closed, counted) when n more bytes would pass the hard limit.
  bool admit(std::size_t n);
  void notify_close();
  void arm_heartbeat();
  void sent_now() noexcept { last_tx_ms_ = static_cast<std::uint32_t>(loop().now_ms()); }

  Endpoint& endpoint_;
  ConnectionId id_;
  std::uint32_t last_tx_ms_;  // loop time of the last output, mod 2^32 ms
  bool close_notified_ = false;
};

}  // namespace wirehub::sse
