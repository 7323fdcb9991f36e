#pragma once
// Session: one open WebSocket connection — the I/O side of the RFC 6455 codec.
//
// It takes the socket over from the HttpConnection that carried the handshake, feeds
// every read to a Protocol (sans-I/O), and turns the Protocol's callbacks into the
// endpoint's handlers, pongs, and the close handshake. Output goes through the
// Connection's queue with the endpoint's back-pressure policy applied to data frames;
// control frames (ping, pong, close) bypass it and are queued ahead of data.

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "core/shared_buffer.hpp"
#include "net/connection.hpp"
#include "wirehub/websocket.hpp"
#include "ws/deflate_negotiation.hpp"
#include "ws/protocol.hpp"

namespace wirehub::ws {

class Endpoint;

// The chosen subprotocol in one word: a pointer to one of the endpoint's configured names
// when it is one (the usual case), else to a copy this object owns (a name picked by
// select_subprotocol out of the request, which does not outlive the handshake).
class SubprotocolName {
 public:
  SubprotocolName(std::string_view chosen, const std::vector<std::string>& configured);
  ~SubprotocolName() {
    if (p_ & 1) delete str();
  }
  SubprotocolName(const SubprotocolName&) = delete;
  SubprotocolName& operator=(const SubprotocolName&) = delete;
  std::string_view view() const noexcept { return p_ ? std::string_view(*str()) : std::string_view(); }

 private:
  const std::string* str() const noexcept { return reinterpret_cast<const std::string*>(p_ & ~std::uintptr_t{1}); }
  std::uintptr_t p_ = 0;  // low bit: owned
};

class Session final : public net::Connection, public WebSocket, private Handler {
 public:
  // Takes over from's socket. The caller has queued the 101 response on from.
  // deflate: the permessage-deflate parameters agreed in the handshake, if any.
  Session(net::Connection& from, Endpoint& endpoint, ConnectionId id, std::string_view subprotocol,
          DeflateAgreement deflate = {});

  // Sessions live in a BlockPool of their own (see core/block_pool.hpp for why).
  static void* operator new(std::size_t n);
  static void operator delete(void* p) noexcept;

  // WebSocket
  bool send(std::string_view payload, bool binary, std::string_view topic) override;
  void close(std::uint16_t code, std::string_view reason) override;
  ConnectionId id() const noexcept override { return id_; }
  std::size_t buffered_amount() const noexcept override { return queued_bytes(); }
  std::string_view subprotocol() const noexcept override { return subprotocol_.view(); }
  const Principal* principal() const noexcept override;
  bool subscribe(std::string_view topic) override;
  bool subscribe(std::string_view topic, std::string_view position) override;
  bool unsubscribe(std::string_view topic) override;

  // Open and not closing: messages may still be queued (no Close sent or echoed yet).
  bool accepts_messages() const noexcept { return is_open() && !closing_sent_; }

  // Queues the complete pre-built data frame buf[off, off+len) (a broadcast), subject to
  // back-pressure; it does not count messages_out (the caller counts a whole fan-out).
  // merge: see SliceQueue::push_shared (the caller decides once per fan-out).
  bool send_frame(const BufferRef& buf, std::size_t off, std::size_t len, std::uint64_t tag, bool merge);
  // How a broadcast of payload_bytes reaches this connection: uncompressed, as the frame
  // compressed once for every receiver without context takeover with this window
  // (shared_window_bits()), or compressed with this connection's own context.
  enum class BroadcastForm : std::uint8_t { Plain, Shared, Own };
  BroadcastForm broadcast_form(std::size_t payload_bytes) const noexcept;
  int shared_window_bits() const noexcept { return deflate_.server_window_bits; }
  // send() without counting messages_out (a broadcast counts its whole fan-out).
  bool queue_message(std::string_view payload, bool binary, std::uint64_t tag);
  // Called once the session is registered: runs on_open and the first bytes after the head.
  void start(char* rest, std::size_t n);

 private:
  // net::Connection
  void on_read(char* data, std::size_t n) override;
  void on_peer_closed() override;
  void on_closed() override;
  void on_timeout() override;
  void on_drained() override;
  // ws::Handler
  bool on_message(Opcode op, std::string_view payload) override;
  bool on_ping(std::string_view payload) override;
  bool on_pong(std::string_view payload) override;
  bool on_close(std::uint16_t code, std::string_view reason) override;
  void on_error(CloseCode code, std::string_view reason) override;
  Inflater* inflater() override;

  // Whether a message of n bytes goes out compressed.
  bool compresses(std::size_t n) const noexcept;
  bool queue_compressed(std::string_view payload, Opcode op, std::uint64_t tag);

  // Applies the slow-consumer policy for a frame of frame_bytes; false = do not queue it.
  bool admit(std::size_t frame_bytes, std::uint64_t tag);
  void close_slow_consumer();
  // urgent: queue it ahead of unstarted data frames (which the caller has dropped).
  void send_close_frame(std::uint16_t code, std::string_view reason, bool urgent);
  void notify_close(std::uint16_t code, std::string_view reason);
  void arm_keepalive();
  // Milliseconds since the last read; exact while under 2^32 ms (49 days), and a
  // keep-alive timer fires long before that.
  std::uint64_t since_rx_ms() const noexcept { return static_cast<std::uint32_t>(loop().now_ms()) - last_rx_ms_; }

  Endpoint& endpoint_;
  Protocol protocol_;
  ConnectionId id_;
  SubprotocolName subprotocol_;
  std::uint32_t last_rx_ms_;   // loop time of the last read, mod 2^32 ms (see since_rx_ms)
  bool close_notified_ = false;
  bool closing_sent_ = false;  // we sent a Close frame
  DeflateAgreement deflate_;   // 2 bytes, in what was padding: no cost without deflate
};

}  // namespace wirehub::ws
