#pragma once
// RFC 6455 5.2 frame layout: writing frame headers and (un)masking payloads.
//
//   byte 0: FIN | RSV1 | RSV2 | RSV3 | opcode(4)
//   byte 1: MASK | payload length(7): 0..125, 126 -> 16-bit length follows, 127 -> 64-bit
//   then the extended length (network byte order), then the 4-byte masking key if MASK.

#include <cstddef>
#include <cstdint>

namespace wirehub::ws {

enum class Opcode : std::uint8_t { Continuation = 0, Text = 1, Binary = 2, Close = 8, Ping = 9, Pong = 10 };

constexpr bool is_control(Opcode op) noexcept { return (static_cast<std::uint8_t>(op) & 0x8) != 0; }

constexpr std::size_t kMaxFrameHeader = 14;       // 2 + 8-byte length + 4-byte mask key
constexpr std::size_t kMaxControlPayload = 125;   // RFC 6455 5.5

// Writes a frame header into out (at least kMaxFrameHeader bytes) and returns its length
// (2..14). The length uses the minimal encoding. mask != nullptr sets MASK and appends the
// 4-byte key (client role); the payload itself is not touched.
std::size_t write_frame_header(char* out, Opcode op, bool fin, std::uint64_t payload_len,
                               const std::uint8_t* mask = nullptr, bool rsv1 = false) noexcept;

// XORs n bytes of data in place with the 4-byte key, starting at key byte `phase` (0..3),
// and returns the phase for the byte after them: (phase + n) % 4. Masking and unmasking
// are the same operation (RFC 6455 5.3). No alignment requirement on data.
std::size_t apply_mask(char* data, std::size_t n, const std::uint8_t key[4], std::size_t phase = 0) noexcept;

}  // namespace wirehub::ws
