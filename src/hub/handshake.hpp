#pragma once
// The hub handshake, without I/O (PROTOCOL.md section 6): the client's first message,
// {"protocol":"json"|"messagepack","version":N} + 0x1E on every protocol, and the
// server's answer, {} + 0x1E or {"error":"<text>"} + 0x1E. The error texts are the ones
// SignalR clients expect (they show them as "Server returned handshake error: <text>").

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace wirehub::hub {

enum class HubProtocol : std::uint8_t { Json, MessagePack };
std::string_view protocol_name(HubProtocol p) noexcept;  // "json", "messagepack"

struct HandshakeRequest {
  HubProtocol protocol = HubProtocol::Json;
  int version = 1;  // 1, or 2 when the client negotiated stateful reconnect
};

// Judges a handshake message (without its 0x1E). binary_transport: the transport carries
// binary data (WebSockets, long polling), which MessagePack needs (SSE does not). Returns
// the request, or the error text to answer with before closing. Unknown properties are
// ignored and property order is free.
std::variant<HandshakeRequest, std::string> parse_handshake(std::string_view message, bool binary_transport);

// The answer to append to the connection's first output: "{}\x1e", or
// {"error":"<text>"}\x1e.
std::string handshake_response(std::string_view error = {});

}  // namespace wirehub::hub
