#pragma once
// The SignalR hub protocols' message framing, without I/O (PROTOCOL.md section 7).
//
// A WebSocket message, an SSE event or a long-polling body carries whole hub messages,
// never a part of one, so a payload is split on its own, with no state between payloads:
//   JSON:        each message is a JSON text followed by the record separator 0x1E
//                (which cannot occur inside JSON text);
//   MessagePack: each message is its length as a VarInt (7 bits per byte, least
//                significant group first, high bit = more; 1 to 5 bytes, at most
//                2^31 - 1) followed by that many bytes.
// The handshake and its answer are JSON + 0x1E on both protocols.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace wirehub::hub {

inline constexpr char kRecordSeparator = '\x1e';
// The largest length a VarInt prefix may announce.
inline constexpr std::uint32_t kMaxVarIntLength = 0x7fffffff;

enum class FramingError : std::uint8_t {
  None,
  Incomplete,  // the payload ends inside a message (no 0x1E, or fewer bytes than announced)
  TooLarge,    // a message is longer than the limit
  BadLength,   // a VarInt of more than 5 bytes, or above 2^31 - 1
};
std::string_view describe(FramingError e) noexcept;

// Appends the messages of a JSON-protocol payload to out (views into payload, without
// their 0x1E). Stops at the first error; the messages before it are in out.
FramingError split_json(std::string_view payload, std::size_t max_message_bytes, std::vector<std::string_view>& out);
// The same for a MessagePack-protocol payload (views of each message's bytes).
FramingError split_messagepack(std::string_view payload, std::size_t max_message_bytes,
                               std::vector<std::string_view>& out);

// Appends one framed message: json + 0x1E, or VarInt(size) + bytes (std::length_error
// over 2^31 - 1 bytes).
void append_json(std::string& out, std::string_view json);
void append_messagepack(std::string& out, std::string_view bytes);

// Writes n as a VarInt into out (room for 5 bytes); returns the bytes written.
std::size_t write_varint(std::uint32_t n, char* out) noexcept;

}  // namespace wirehub::hub
