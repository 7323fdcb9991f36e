#pragma once
// The negotiate exchange, without I/O (PROTOCOL.md sections 1, 2 and 5): judging the
// client's `POST {base}/negotiate?...` query and writing the JSON answers (connection,
// redirect, error); plus the connection ids and tokens, and the two small readers of the
// request a hub needs without the http layer (hub links only core): a query parameter by
// case-insensitive key and a cookie by name.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace wirehub::hub {

// 16 random bytes from getrandom(2) as base64url without padding: 22 URL-safe characters
// (PROTOCOL.md section 1: the client appends `id=<token>` without URL-encoding it). For
// connection ids and connection tokens. Throws std::system_error if the kernel gives no
// randomness (never on Linux >= 3.17 once the pool is initialised).
std::string random_id();

enum class Transport : std::uint8_t { WebSockets = 1, ServerSentEvents = 2, LongPolling = 4 };
// "WebSockets", "ServerSentEvents", "LongPolling": the exact names clients match.
std::string_view transport_name(Transport t) noexcept;

// The highest negotiate version there is (ASP.NET's too); a client asking for more gets it.
inline constexpr int kMaxNegotiateVersion = 1;

struct NegotiateRequest {
  int version = 0;                  // the version to answer with: the client's, capped at kMaxNegotiateVersion
  bool stateful_reconnect = false;  // the client asked (useStatefulReconnect=true)
};

// Judges a negotiate request's query string (raw, without '?'), the way ASP.NET's
// HttpConnectionDispatcher.ProcessNegotiate does:
//  - negotiateVersion (key matched case-insensitively, value percent-decoded) parsed as
//    .NET's int.TryParse does: optional surrounding whitespace, optional sign, decimal
//    digits, within 32 bits. Absent means version 0. Not such a number (empty, "abc",
//    "1.0", too large) -> "The client requested a non-integer protocol version."; below
//    0 -> "The client requested version '<n>', but the server does not support this
//    version."; above kMaxNegotiateVersion -> kMaxNegotiateVersion.
//  - useStatefulReconnect: "true" in any case (surrounding whitespace allowed, as .NET's
//    bool.TryParse); anything else or absent is false.
// Returns the request, or the text of the error. ASP.NET answers both refusals with status
// 200 and {"error":"<text>"} (never a 400), and PROTOCOL.md section 15 item 3 asks the
// same, so the caller sends negotiate_error_body(text) with 200 and no status is needed
// here; the result has the shape of parse_handshake's. Other parameters are ignored.
std::variant<NegotiateRequest, std::string> parse_negotiate_query(std::string_view query);

struct NegotiateAnswer {
  int version = 1;                              // the negotiated version (NegotiateRequest::version)
  std::string connection_id, connection_token;  // the token is left out of the body for version 0
  unsigned transports = 7;                      // bit set of Transport; listed in the order WS, SSE, LP
  bool binary_formats = true;                   // false: the hub has no binary protocol -> WS/LP list only "Text"
  bool stateful_reconnect = false;              // written only when true (the caller decides: asked AND allowed)
};

// The 200 body of PROTOCOL.md section 2, e.g.
// {"negotiateVersion":1,"connectionId":"..","connectionToken":"..","availableTransports":
// [{"transport":"WebSockets","transferFormats":["Text","Binary"]},...],"useStatefulReconnect":true}
// SSE always lists only "Text". Never a "ProtocolVersion" (clients take it for the old
// ASP.NET SignalR and refuse).
std::string negotiate_body(const NegotiateAnswer& a);
// {"error":"<text>"}: start() on the client rejects with the text.
std::string negotiate_error_body(std::string_view text);
// {"url":"<url>"} or {"url":"<url>","accessToken":"<token>"}: the client negotiates again
// at url (keeping its query) and, given a token, uses it for the rest of that start.
std::string negotiate_redirect_body(std::string_view url, std::string_view access_token = {});

// The value of the first parameter whose key equals `key` after percent-decoding, compared
// ASCII case-insensitively (ASP.NET's query keys are); the value percent-decoded with '+'
// as space, "" for a bare "key"; nullopt if absent. A '%' not followed by two hex digits is
// kept as is. (ASP.NET would join repeated keys' values with ','; the first is enough for
// the keys a hub reads, and is what http::query_param does.)
std::optional<std::string> query_param_ci(std::string_view query, std::string_view key);

// The value of the first cookie named `name` (compared exactly: cookie names are
// case-sensitive) in a Cookie header value, RFC 6265 section 4.2.1 `a=b; c=d`; spaces and
// tabs around names and values are skipped, a value in double quotes is unquoted, a pair
// without '=' is skipped. nullopt if absent.
std::optional<std::string> cookie_value(std::string_view cookie_header, std::string_view name);

}  // namespace wirehub::hub
