#include "ws/protocol.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

#include "ws/deflate.hpp"

namespace wirehub::ws {
namespace {

// Bit i is set for each opcode i that RFC 6455 5.2 defines.
constexpr unsigned kDefinedOpcodes = 1u << 0 | 1u << 1 | 1u << 2 | 1u << 8 | 1u << 9 | 1u << 10;

// Everything the first header byte alone can reveal, precomputed for both sequencing
// states: kFirstByte[a fragmented message is in progress][byte 0]. One load replaces the
// checks of RSV bits (RFC 6455 5.2), opcode (5.2), control-frame FIN (5.5) and
// fragment order (5.4) on the hot path.
constexpr auto kFirstByte = [] {
  std::array<std::array<ProtocolError, 256>, 2> t{};
  for (unsigned in_message = 0; in_message < 2; ++in_message) {
    for (unsigned b0 = 0; b0 < 256; ++b0) {
      const unsigned op = b0 & 0x0F;
      const bool fin = (b0 & 0x80) != 0;
      ProtocolError e = ProtocolError::None;
      if (b0 & 0x70) e = ProtocolError::ReservedBits;  // no extension is negotiated
      else if (((kDefinedOpcodes >> op) & 1) == 0) e = ProtocolError::UnknownOpcode;
      else if (op & 0x8) e = fin ? ProtocolError::None : ProtocolError::FragmentedControl;
      else if (op == 0) e = in_message ? ProtocolError::None : ProtocolError::UnexpectedContinuation;
      else e = in_message ? ProtocolError::ExpectedContinuation : ProtocolError::None;
      t[in_message][b0] = e;
    }
  }
  return t;
}();

std::uint64_t load_be64(const unsigned char* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap64(v);
  return v;
}

// Makes receive() a region in which shrink() does nothing: callbacks get views into the
// internal buffer, which must not be freed under them.
class ReceivingScope {
 public:
  explicit ReceivingScope(bool& flag) noexcept : flag_(flag) { flag_ = true; }
  ~ReceivingScope() { flag_ = false; }
  ReceivingScope(const ReceivingScope&) = delete;
  ReceivingScope& operator=(const ReceivingScope&) = delete;

 private:
  bool& flag_;
};

}  // namespace

inline std::size_t Protocol::parse_header(const unsigned char* h, std::size_t have) noexcept {
  // Each check runs as soon as the bytes it needs are here, so a bad frame fails before
  // the rest of its header arrives. The checks are pure, so running them again on a
  // longer prefix of the same header is harmless.
  auto bad = [this](ProtocolError e) {
    error_ = e;
    return kBadHeader;
  };
  if (have < 1) return kNeedMore;
  const unsigned b0 = h[0];
  const unsigned op = b0 & 0x0F;
  if (ProtocolError e = kFirstByte[msg_op_ != 0][b0]; e != ProtocolError::None) {
    // RFC 7692 6: once permessage-deflate is agreed, RSV1 on the first frame of a Text or
    // Binary message says it is compressed. Anywhere else (a continuation, a control
    // frame) RSV1 keeps meaning a framing error, and RSV2/RSV3 always do.
    const bool compressed_start = deflate_ && (b0 & 0x70) == 0x40 && (op == 1 || op == 2) &&
                                  kFirstByte[msg_op_ != 0][b0 & ~0x40u] == ProtocolError::None;
    if (!compressed_start) return bad(e);
  }

  if (have < 2) return kNeedMore;
  const unsigned b1 = h[1];
  const bool masked = (b1 & 0x80) != 0;
  const unsigned len7 = b1 & 0x7F;
  // RFC 6455 5.1: clients mask every frame, servers none.
  if (masked != (role_ == Role::Server))
    return bad(role_ == Role::Server ? ProtocolError::UnmaskedClientFrame : ProtocolError::MaskedServerFrame);
  if ((op & 0x8) && len7 > kMaxControlPayload) return bad(ProtocolError::ControlTooLong);  // RFC 6455 5.5

  const std::size_t ext = len7 < 126 ? 0 : len7 == 126 ? 2 : 8;
  if (have < 2 + ext) return kNeedMore;
  std::uint64_t len = len7;
  // RFC 6455 5.2: "the minimal number of bytes MUST be used to encode the length" and
  // the 64-bit form's "most significant bit MUST be 0". Both are requirements on the
  // frame itself, not just advice to senders, and no conforming sender violates them, so
  // a frame that does is malformed and fails the connection (1002) like any other.
  if (ext == 2) {
    len = static_cast<std::uint64_t>(h[2]) << 8 | h[3];
    if (len < 126) return bad(ProtocolError::NonMinimalLength);
  } else if (ext == 8) {
    len = load_be64(h + 2);
    if (len >> 63) return bad(ProtocolError::LengthTopBit);
    if (len <= 0xFFFF) return bad(ProtocolError::NonMinimalLength);
  }
  // The message limit is enforced on the announced length, before buffering anything.
  // Outside a control frame buf_ holds exactly the message so far (<= the limit). Data
  // is discarded unread while Closing, so no limit applies then.
  if (!(op & 0x8) && state_ == State::Open) {
    std::uint64_t limit = limits_.max_message_bytes;
    // A compressed message may legitimately be larger than what it inflates to: zlib
    // stores incompressible data in blocks as small as its memLevel makes them, 5 header
    // bytes per block (+3.9% at memLevel 1, +0.24% at python-websockets' 5). The inflated
    // size is held to the exact limit later.
    if ((op != 0 ? (b0 & 0x40) != 0 : compressed_) && limit < (~std::uint64_t{0} >> 1)) limit += (limit >> 4) + 64;
    if ((op != 0 ? len : len + buf_.size()) > limit) return bad(ProtocolError::MessageTooBig);
  }

  const std::size_t size = 2 + ext + (masked ? 4 : 0);
  if (have < size) return kNeedMore;

  opcode_ = static_cast<Opcode>(op);
  fin_ = (b0 & 0x80) != 0;
  if (masked) std::memcpy(mask_, h + 2 + ext, 4);
  remaining_ = len;
  if (op & 0x8) {
    ctl_len_ = static_cast<std::uint8_t>(len);
  } else if (op != 0) {
    msg_op_ = static_cast<std::uint8_t>(op);
    compressed_ = (b0 & 0x40) != 0;
    utf8_.reset();
  }
  return size;
}

std::size_t Protocol::receive(char* in, std::size_t n, Handler& h) {
  if (state_ == State::Closed) return 0;
  ReceivingScope scope(receiving_);
  std::size_t pos = 0;
  while (pos < n) {
    if (remaining_ != 0) {
      // Inside a frame whose payload runs past the end of an `in`: everything available
      // belongs to it, up to remaining_. These bytes are copied (on_payload_chunk).
      std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, n - pos));
      char* p = in + pos;
      pos += take;
      remaining_ -= take;
      if (role_ == Role::Server) phase_ = static_cast<std::uint8_t>(apply_mask(p, take, mask_, phase_));
      if (!on_payload_chunk(p, take, h)) return pos;
      continue;
    }

    // Frame header. The common case parses straight from `in`; a header split across
    // calls is gathered in hdr_ (which then also holds the bytes after it, tentatively).
    const std::size_t old = hdr_len_;
    const unsigned char* hp;
    std::size_t have;
    if (old == 0) {
      hp = reinterpret_cast<const unsigned char*>(in + pos);
      have = n - pos;
    } else {
      std::size_t take = std::min(kMaxFrameHeader - old, n - pos);
      std::memcpy(hdr_ + old, in + pos, take);
      hp = hdr_;
      have = old + take;
    }
    const std::size_t hs = parse_header(hp, have);
    if (hs == kBadHeader) {
      fail(error_, h);
      return pos;
    }
    if (hs == kNeedMore) {  // all of the rest of `in` is the start of a header (< 14 bytes)
      if (old == 0) std::memcpy(hdr_, in + pos, have);
      hdr_len_ = static_cast<std::uint8_t>(have);
      return n;
    }
    pos += hs - old;
    hdr_len_ = 0;

    if (remaining_ <= n - pos) {
      // The whole payload is here: unmask it in place and hand out a view of it.
      std::size_t len = static_cast<std::size_t>(remaining_);
      remaining_ = 0;
      char* p = in + pos;
      pos += len;
      if (role_ == Role::Server) apply_mask(p, len, mask_, 0);
      if (fin_ && (opcode_ == Opcode::Text || opcode_ == Opcode::Binary) && state_ == State::Open && !compressed_) {
        // The common case, a one-frame message: validate and hand out a view of `in`.
        if (opcode_ == Opcode::Text && !(utf8_.feed(p, len) && utf8_.complete())) {
          fail(ProtocolError::InvalidText, h);
          return pos;
        }
        msg_op_ = 0;
        if (!h.on_message(opcode_, {p, len})) return pos;
      } else if (!on_whole_frame(p, len, h)) {
        return pos;
      }
    } else {
      phase_ = 0;
    }
  }
  return pos;
}

bool Protocol::on_whole_frame(char* p, std::size_t n, Handler& h) {
  if (is_control(opcode_)) return on_control(p, n, h);
  return on_data(p, n, /*frame_end=*/true, h);
}

bool Protocol::on_payload_chunk(char* p, std::size_t n, Handler& h) {
  if (!is_control(opcode_)) return on_data(p, n, /*frame_end=*/remaining_ == 0, h);
  // A control frame split across calls gathers behind any message bytes in buf_ (it
  // may arrive in the middle of a fragmented message); the message part is restored after.
  buf_.append(p, n);
  if (remaining_ != 0) return true;
  const std::size_t base = buf_.size() - ctl_len_;
  bool go_on = on_control(buf_.data() + base, ctl_len_, h);
  buf_.truncate(base);
  return go_on;
}

// Data bytes that must be gathered: a fragment, or a piece of a frame split across calls.
// (A one-frame message wholly inside `in` is delivered by receive() without coming here.)
bool Protocol::on_data(char* p, std::size_t n, bool frame_end, Handler& h) {
  const bool message_end = frame_end && fin_;
  if (state_ == State::Closing) {  // RFC 6455 1.4: we said goodbye; drop data unread
    if (message_end) msg_op_ = 0;
    return true;
  }
  if (compressed_) {
    // Gathered whole, then inflated once: text can only be checked after inflating.
    if (!message_end) {
      buf_.append(p, n);
      return true;
    }
    if (buf_.empty()) return on_compressed_message(p, n, h);  // one frame, wholly in `in`
    buf_.append(p, n);
    bool go_on = on_compressed_message(buf_.data(), buf_.size(), h);
    buf_.clear();
    return go_on;
  }
  // Validate before anything else: fail fast on the first invalid byte (RFC 6455 8.1).
  if (msg_op_ == static_cast<std::uint8_t>(Opcode::Text) && !utf8_.feed(p, n))
    return fail(ProtocolError::InvalidText, h);
  if (!message_end) {
    buf_.append(p, n);
    return true;
  }
  if (msg_op_ == static_cast<std::uint8_t>(Opcode::Text) && !utf8_.complete())
    return fail(ProtocolError::InvalidText, h);  // ends inside a character
  const auto op = static_cast<Opcode>(msg_op_);
  msg_op_ = 0;
  buf_.append(p, n);
  bool go_on = h.on_message(op, buf_.view());
  buf_.clear();
  return go_on;
}

bool Protocol::on_compressed_message(const char* p, std::size_t n, Handler& h) {
  const auto op = static_cast<Opcode>(msg_op_);
  msg_op_ = 0;
  compressed_ = false;
  Inflater* z = h.inflater();
  if (!z) return fail(ProtocolError::ReservedBits, h);
  // RFC 7692 7.2.2: the receiver appends 00 00 ff ff and inflates (Inflater does both).
  // The limit applies to what comes out: a few KiB of DEFLATE can expand a thousandfold.
  const Inflater::Result r = z->inflate({p, n}, limits_.max_message_bytes);
  ProtocolError e = ProtocolError::None;
  if (r == Inflater::Result::TooBig) e = ProtocolError::MessageTooBig;
  else if (r == Inflater::Result::Corrupt) e = ProtocolError::InvalidCompressedData;
  else if (op == Opcode::Text && !is_valid_utf8(z->output())) e = ProtocolError::InvalidText;
  if (e != ProtocolError::None) {
    z->done();
    return fail(e, h);
  }
  bool go_on = h.on_message(op, z->output());
  z->done();
  return go_on;
}

bool Protocol::on_control(const char* p, std::size_t n, Handler& h) {
  switch (opcode_) {
    case Opcode::Ping:
      return h.on_ping({p, n});
    case Opcode::Pong:
      return h.on_pong({p, n});
    default:
      break;
  }
  // Close (RFC 6455 5.5.1): empty, or a 2-byte code then a UTF-8 reason.
  std::uint16_t code = to_int(CloseCode::NoStatus);
  std::string_view reason;
  if (n == 1) return fail(ProtocolError::CloseOneByte, h);
  if (n >= 2) {
    code = static_cast<std::uint16_t>(static_cast<unsigned char>(p[0]) << 8 | static_cast<unsigned char>(p[1]));
    if (!is_valid_wire_close_code(code)) return fail(ProtocolError::InvalidCloseCode, h);
    reason = {p + 2, n - 2};
    if (!is_valid_utf8(reason)) return fail(ProtocolError::InvalidCloseReason, h);
  }
  h.on_close(code, reason);  // its result does not matter: nothing is read after a Close
  state_ = State::Closed;
  return false;
}

bool Protocol::fail(ProtocolError e, Handler& h) {
  error_ = e;
  state_ = State::Closed;
  h.on_error(close_code_for(e), reason_for(e));
  return false;
}

void Protocol::close_sent() noexcept {
  if (state_ != State::Open) return;
  state_ = State::Closing;
  // The message in progress will never be delivered: drop its bytes, but keep those of
  // a control frame still arriving, which sit at the end of buf_.
  std::size_t keep = (remaining_ != 0 && is_control(opcode_)) ? ctl_len_ - static_cast<std::size_t>(remaining_) : 0;
  buf_.erase_front(buf_.size() - keep);
}

void write_frame(std::string& out, Opcode op, std::string_view payload, const std::uint8_t* mask, bool fin) {
  char header[kMaxFrameHeader];
  std::size_t hn = write_frame_header(header, op, fin, payload.size(), mask);
  const std::size_t at = out.size() + hn;
  out.reserve(at + payload.size());
  out.append(header, hn).append(payload);
  if (mask) apply_mask(out.data() + at, payload.size(), mask, 0);
}

void write_close(std::string& out, std::uint16_t code, std::string_view reason, const std::uint8_t* mask) {
  char payload[kMaxControlPayload];
  std::size_t n = 0;
  if (code != to_int(CloseCode::NoStatus)) {
    payload[0] = static_cast<char>(code >> 8);
    payload[1] = static_cast<char>(code & 0xFF);
    if (reason.size() > kMaxControlPayload - 2) {
      // Cut before the character that would straddle the limit: back up over
      // continuation bytes (10xxxxxx) to the lead byte of that character.
      std::size_t cut = kMaxControlPayload - 2;
      while (cut > 0 && (static_cast<unsigned char>(reason[cut]) & 0xC0) == 0x80) --cut;
      reason = reason.substr(0, cut);
    }
    if (!reason.empty()) std::memcpy(payload + 2, reason.data(), reason.size());
    n = 2 + reason.size();
  }
  write_frame(out, Opcode::Close, {payload, n}, mask);
}

}  // namespace wirehub::ws
