#pragma once
// Protocol: the sans-I/O RFC 6455 receive side, plus the helpers that build outgoing
// frames. Bytes in, Handler callbacks out; it never writes, so every reply (Pong, the
// Close echo, the Close that fails a connection) is the session's job, using write_frame
// and write_close below.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ws/close_code.hpp"
#include "ws/frame.hpp"
#include "ws/message_buffer.hpp"
#include "ws/protocol_error.hpp"
#include "ws/utf8.hpp"

namespace wirehub::ws {

class Inflater;

enum class Role : std::uint8_t { Server, Client };

// RFC 6455 4/7 connection states after the handshake.
enum class State : std::uint8_t {
  Open,
  Closing,  // we sent Close and wait for the peer's
  Closed,   // the close handshake completed, or the connection failed
};

struct Limits {
  // Largest message (sum of its fragments' payloads) accepted. Over it the connection
  // fails with 1009, decided from the frame header before any payload is buffered.
  std::uint64_t max_message_bytes = 16 * 1024 * 1024;
};

// Callbacks made from Protocol::receive(). Views are valid until the callback returns.
// Each bool callback returns true to continue parsing, false to make receive() return
// right after the frame that triggered it (the next receive() resumes from there).
class Handler {
 public:
  // A whole message, unmasked; op is Text or Binary; text is already validated UTF-8.
  virtual bool on_message(Opcode op, std::string_view payload) = 0;
  // The session must answer with a Pong carrying the same payload; nothing is queued here.
  virtual bool on_ping(std::string_view payload) = 0;
  virtual bool on_pong(std::string_view payload) = 0;
  // The peer sent Close: code 1005 (NoStatus) and an empty reason if its payload was
  // empty. During this call state() is still Open or Closing; it is Closed afterwards and
  // receive() stops whatever this returns. If it was Open the session must echo a Close
  // (write_close) and close TCP once that is flushed; if Closing, the close handshake is
  // complete.
  virtual bool on_close(std::uint16_t code, std::string_view reason) = 0;
  // The peer broke the protocol (RFC 6455 7.1.7). state() is already Closed and receive()
  // stops. The session sends Close(code, reason) and closes TCP; if it had already sent a
  // Close (state was Closing) it only closes TCP.
  virtual void on_error(CloseCode code, std::string_view reason) = 0;
  // Where compressed messages are inflated (permessage-deflate, RFC 7692), asked for when
  // a whole compressed message has arrived; the handler decides whether it is the
  // connection's own (context takeover) or one its thread shares. nullptr fails the
  // connection as if RSV1 had not been negotiated.
  virtual Inflater* inflater() { return nullptr; }

 protected:
  ~Handler() = default;
};

class Protocol {
 public:
  explicit Protocol(Role role, Limits limits = {}) noexcept : limits_(limits), role_(role) {}

  // Consumes in[0, n), unmasking payloads in place, and makes the handler callbacks in
  // wire order. A frame wholly inside `in` reaches the handler as a view into `in` (no
  // copy); bytes of a frame or fragmented message that continue past `in` are copied into
  // an internal buffer, and a partial frame header is kept internally. Text is validated
  // as it arrives, so invalid UTF-8 fails with 1007 as soon as it is seen, even inside a
  // partially received frame. Returns the bytes consumed: n, unless a callback returned
  // false, the connection failed (on_error) or a Close was received. Returns 0 once Closed.
  std::size_t receive(char* in, std::size_t n, Handler& h);

  State state() const noexcept { return state_; }
  Role role() const noexcept { return role_; }
  // Why the connection failed, or None.
  ProtocolError error() const noexcept { return error_; }

  // Records that we sent a Close: Open -> Closing. From now on data frames are read and
  // checked for framing errors but discarded (RFC 6455 1.4: the peer's data sent before it
  // saw our Close may still arrive); control frames are still delivered.
  void close_sent() noexcept;

  // permessage-deflate was negotiated (RFC 7692 6): from now on RSV1 on the first frame of
  // a data message marks it compressed. Such a message is gathered whole (its compressed
  // bytes may pass max_message_bytes by 1/16 + 64 bytes, above zlib's worst-case growth
  // of incompressible data, and no more), inflated through Handler::inflater() with its
  // inflated size capped at max_message_bytes (1009), and text is validated after
  // inflating (1007). Invalid DEFLATE data fails with 1007. RSV1 on a continuation or
  // control frame is still 1002, as are RSV2 and RSV3.
  void accept_compressed() noexcept { deflate_ = true; }

  // Frees the internal buffer when it holds nothing. A no-op inside a callback.
  void shrink() noexcept {
    if (!receiving_ && buf_.empty() && buf_.capacity() != 0) buf_.release();
  }
  // Payload bytes held in the internal buffer (partial frames, fragments so far).
  std::size_t buffered_bytes() const noexcept { return buf_.size(); }

 private:
  static constexpr std::size_t kNeedMore = 0;
  static constexpr std::size_t kBadHeader = ~std::size_t{0};

  std::size_t parse_header(const unsigned char* h, std::size_t have) noexcept;
  bool on_whole_frame(char* p, std::size_t n, Handler& h);
  bool on_payload_chunk(char* p, std::size_t n, Handler& h);
  bool on_data(char* p, std::size_t n, bool frame_end, Handler& h);
  bool on_control(const char* p, std::size_t n, Handler& h);
  bool on_compressed_message(const char* p, std::size_t n, Handler& h);
  bool fail(ProtocolError e, Handler& h);

  MessageBuffer buf_;           // message bytes so far, then any partial control payload
  Limits limits_;
  std::uint64_t remaining_ = 0;  // payload bytes of the current frame not yet received
  unsigned char hdr_[kMaxFrameHeader]{};  // partial frame header
  unsigned char mask_[4]{};      // masking key of the current frame
  std::uint8_t hdr_len_ = 0;     // bytes in hdr_
  std::uint8_t phase_ = 0;       // mask key phase of the next payload byte
  std::uint8_t ctl_len_ = 0;     // payload length of the current control frame
  Opcode opcode_ = Opcode::Continuation;  // current frame
  bool fin_ = false;             // current frame
  std::uint8_t msg_op_ = 0;      // Text/Binary of the message in progress; 0 = none
  Utf8Validator utf8_;           // the text message in progress
  Role role_;
  State state_ = State::Open;
  ProtocolError error_ = ProtocolError::None;
  bool receiving_ = false;
  bool deflate_ = false;         // permessage-deflate negotiated
  bool compressed_ = false;      // the message in progress had RSV1
};

// Appends a Close frame: the 2-byte code and the reason, cut to 123 bytes at a UTF-8
// character boundary (RFC 6455 5.5: control payloads are at most 125 bytes). Code 1005
// (NoStatus) writes a Close with an empty payload, as 1005 must not appear on the wire.
// mask != nullptr (client role) masks the payload with that key.
void write_close(std::string& out, std::uint16_t code, std::string_view reason = {},
                 const std::uint8_t* mask = nullptr);
inline void write_close(std::string& out, CloseCode code, std::string_view reason = {},
                        const std::uint8_t* mask = nullptr) {
  write_close(out, to_int(code), reason, mask);
}

// Appends a whole frame: header, then the payload (a masked copy if mask != nullptr).
void write_frame(std::string& out, Opcode op, std::string_view payload, const std::uint8_t* mask = nullptr,
                 bool fin = true);

}  // namespace wirehub::ws
