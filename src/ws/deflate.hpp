#pragma once
// The DEFLATE side of permessage-deflate (RFC 7692 7.2), over zlib, sans-I/O: one
// compressor and one decompressor of whole messages. Both allocate their zlib state at
// first use, so an object that is never used costs only its own few bytes.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ws/message_buffer.hpp"

struct z_stream_s;

namespace wirehub::ws {

// Compresses messages (RFC 7692 7.2.1): raw DEFLATE, each message ended by a sync flush
// whose trailing 00 00 ff ff is removed.
class Deflater {
 public:
  // level 0..9, window_bits 9..15 (zlib cannot compress with an 8-bit raw window), mem_level
  // 1..9. takeover: keep the LZ77 window across messages (else reset after each).
  Deflater(int level, int window_bits, int mem_level, bool takeover) noexcept
      : level_(static_cast<std::int8_t>(level)),
        window_bits_(static_cast<std::int8_t>(window_bits)),
        mem_level_(static_cast<std::int8_t>(mem_level)),
        takeover_(takeover) {}
  ~Deflater();
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;

  // Replaces out with the compressed payload of one message. Throws std::bad_alloc when
  // zlib cannot get memory.
  void compress(std::string_view message, std::string& out);

  int window_bits() const noexcept { return window_bits_; }
  int level() const noexcept { return level_; }
  int mem_level() const noexcept { return mem_level_; }
  bool takeover() const noexcept { return takeover_; }

 private:
  z_stream_s* z_ = nullptr;
  std::int8_t level_, window_bits_, mem_level_;
  bool takeover_;
};

// Decompresses whole messages (RFC 7692 7.2.2) into its own output buffer, never past a
// size limit.
class Inflater {
 public:
  enum class Result : std::uint8_t { Ok, TooBig, Corrupt };

  // window_bits 8..15: the sender's window. takeover: the sender keeps its LZ77 window
  // across messages, so ours must too. keep_output: output capacity kept between messages
  // (0: free it after each message).
  Inflater(int window_bits, bool takeover, std::size_t keep_output) noexcept
      : keep_output_(keep_output),
        window_bits_(static_cast<std::int8_t>(window_bits)),
        takeover_(takeover) {}
  ~Inflater();
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // Inflates one message's payload (as received: without the 00 00 ff ff the sender
  // removed) into output(). TooBig as soon as the output would pass max_bytes: the buffer
  // never grows past max_bytes + 1. Corrupt when the data is not valid DEFLATE. After
  // TooBig or Corrupt the object is reset (the connection fails anyway).
  Result inflate(std::string_view payload, std::uint64_t max_bytes);
  // The last message inflated; valid until the next inflate() or done().
  std::string_view output() const noexcept { return out_.view(); }
  // The message was delivered: drop the output, keeping up to keep_output of capacity.
  void done() noexcept;
  // Bytes allocated for output (tests check the limit is never passed).
  std::size_t output_capacity() const noexcept { return out_.capacity(); }

 private:
  Result run(std::string_view payload, std::uint64_t max_bytes);
  void reset() noexcept;

  z_stream_s* z_ = nullptr;
  MessageBuffer out_;
  std::size_t keep_output_;
  std::int8_t window_bits_;
  bool takeover_;
};

}  // namespace wirehub::ws
