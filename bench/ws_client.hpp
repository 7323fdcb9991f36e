#pragma once
// WsClient: the client end of one WebSocket connection, on a worker's loop.
//
// Life: the handshake (send the upgrade request, read until the blank line, check 101
// and Sec-WebSocket-Accept), then Open: inbound bytes go through ws::Protocol in the
// client role and data messages reach the mode's on_ws_message(); pings are answered
// with masked pongs. Close: our masked Close 1000, the server's echo, then the TCP close.
// Every way a connection can go wrong is counted exactly once, in on_closed().

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/counter.hpp"
#include "net/connection.hpp"
#include "target.hpp"
#include "wire.hpp"
#include "ws/protocol.hpp"

namespace wirehub::bench {

class Worker;

class WsClient : public net::Connection, private ws::Handler {
 public:
  enum class Stage : std::uint8_t {
    Handshake,  // upgrade request sent, waiting for the 101
    Open,
    Closing,    // our Close is sent, waiting for the server's
    Done,       // close handshake complete, or the connection failed
  };

  // Takes over the connected socket fd; dial_start_ns is when its connect() began.
  WsClient(Worker& worker, int fd, std::uint64_t dial_start_ns);
  ~WsClient() override;

  // The server this connection speaks to (the worker's first target until set).
  void set_target(const Target& t) noexcept { target_ = &t; }
  // Sends the upgrade request and arms the handshake deadline.
  void start_handshake();
  // Sends one masked data frame whose payload is prefix followed by body.
  void send_data(ws::Opcode op, std::string_view prefix, std::string_view body);
  // Starts the close handshake with 1000; the connection ends by itself. A connection
  // still in its handshake is just dropped.
  void close_gracefully();

  Stage stage() const noexcept { return stage_; }
  Worker& worker() const noexcept { return worker_; }

  static constexpr std::uint64_t kHandshakeTimeoutMs = 10'000;
  static constexpr std::uint64_t kCloseTimeoutMs = 5'000;
  static constexpr std::uint32_t kLingerMs = 2'000;
  static constexpr std::size_t kMaxResponseHead = 16 * 1024;

 protected:
  // The handshake completed (the worker has counted it).
  virtual void on_ws_open() {}
  // A whole data message. Return false after fail() to stop reading.
  virtual bool on_ws_message(ws::Opcode op, std::string_view payload) = 0;
  // The connection has ended (cleanly or not); called once, after the accounting.
  virtual void on_ws_closed() {}
  // Counts err (one of the worker's error counters) unless an error was already counted
  // for this connection, remembers why, and closes the connection at once.
  void fail(Counter& err, std::string_view why);

 private:
  // net::Connection
  void on_read(char* data, std::size_t n) final;
  void on_peer_closed() final;
  void on_closed() final;
  void on_timeout() final;
  // ws::Handler
  bool on_message(ws::Opcode op, std::string_view payload) final;
  bool on_ping(std::string_view payload) final;
  bool on_pong(std::string_view payload) final;
  bool on_close(std::uint16_t code, std::string_view reason) final;
  void on_error(ws::CloseCode code, std::string_view reason) final;

  // A fresh masking key, as the 32-bit word mask_copy takes and as wire-order bytes.
  struct MaskKey {
    std::uint32_t word;
    std::uint8_t bytes[4];
  };
  MaskKey next_mask() noexcept;
  void read_handshake(char* data, std::size_t n);
  void send_control_frame(ws::Opcode op, std::string_view payload);
  void send_close_frame(std::uint16_t code, std::string_view reason);

  Worker& worker_;
  const Target* target_ = nullptr;  // set_target; nullptr: the worker's first
  ws::Protocol protocol_{ws::Role::Client};
  std::unique_ptr<std::string> head_;     // handshake only: response bytes so far
  std::unique_ptr<std::string> accept_;   // handshake only: the expected accept value
  std::uint64_t dial_start_ns_;
  Xorshift rng_;                          // masking keys
  Stage stage_ = Stage::Handshake;
  bool failed_ = false;                   // an error has been counted
  bool close_received_ = false;           // the server's Close arrived
};

}  // namespace wirehub::bench
