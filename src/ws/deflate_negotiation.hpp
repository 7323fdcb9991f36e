#pragma once
// permessage-deflate negotiation (RFC 7692 section 7.1), server side, sans-I/O: the
// client's Sec-WebSocket-Extensions offers in, the agreed parameters and the exact
// response header value out.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace wirehub::ws {

// What this server is willing to agree to.
struct DeflatePolicy {
  // Largest LZ77 window (base-2 log, 8..15) we compress with. Below 15 it is answered as
  // server_max_window_bits even when the client did not ask (RFC 7692 7.1.2.1).
  std::uint8_t server_max_window_bits = 15;
  // Largest window we ask the client to compress with (8..15); answered only when the
  // client offered client_max_window_bits (RFC 7692 7.1.2.2): a client that did not
  // cannot be limited, and then uses up to 15.
  std::uint8_t client_max_window_bits = 15;
  // Always answer server_no_context_takeover / client_no_context_takeover, even when not
  // offered (RFC 7692 7.1.1.1 and 7.1.1.2 allow the server to add both).
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
};

// The parameters in effect for one connection, in two bytes (it lives in every Session).
struct DeflateAgreement {
  bool enabled : 1 = false;
  bool server_no_context_takeover : 1 = false;  // we reset our compressor after each message
  bool client_no_context_takeover : 1 =
      false;                                 // the client resets its compressor after each message
  std::uint8_t server_window_bits : 4 = 15;  // the window we may compress with (8..15)
  std::uint8_t client_window_bits : 4 = 15;  // the window the client may compress with (8..15)
};
static_assert(sizeof(DeflateAgreement) == 2);

// The outcome of a successful negotiation: the parameters and the exact
// Sec-WebSocket-Extensions value to answer with, e.g.
// "permessage-deflate; server_no_context_takeover; client_max_window_bits=10".
struct DeflateNegotiation {
  DeflateAgreement agreement;
  std::string response;
};

// Picks the first acceptable permessage-deflate offer among the header values (one per
// Sec-WebSocket-Extensions field line, in order) and returns what was agreed, or
// std::nullopt (no extension; the handshake still succeeds). An offer with an unknown,
// duplicated or invalid parameter is declined and the next one is tried. Where a field
// line stops following the RFC 6455 9.1 grammar, the rest of that line is ignored (a
// broken quoted-string leaves no safe place to resume); its earlier offers still count.
std::optional<DeflateNegotiation> negotiate_deflate(std::span<const std::string_view> header_values,
                                                    const DeflatePolicy& policy);

}  // namespace wirehub::ws
