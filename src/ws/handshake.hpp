#pragma once
// The server side of the RFC 6455 opening handshake (section 4.2), independent of how the
// HTTP request was parsed: the caller copies the relevant header values of the request head
// into a HandshakeRequest, and writes the response this file formats.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wirehub::ws {

// The parts of an HTTP request that decide whether it is a valid WebSocket upgrade. Header
// values are the raw field values (several fields of one name joined with ", "); absent
// headers are nullopt.
struct HandshakeRequest {
  std::string_view method;
  int version_minor = 1;  // HTTP/1.<minor>
  std::optional<std::string_view> host, upgrade, connection, key, version, protocol, extensions;
};

// Why an upgrade request was refused, as the HTTP status to answer with. reason is a
// static string. send_version_header: add "Sec-WebSocket-Version: 13" (RFC 6455 4.4).
struct HandshakeError {
  int status;
  std::string_view reason;
  bool send_version_header;
};

// The only protocol version spoken (RFC 6455 4.1, 4.4).
constexpr std::string_view kWebSocketVersion = "13";

// Checks the client's opening handshake (RFC 6455 4.2.1). nullopt means acceptable.
// 400 for: a method other than GET, HTTP/1.0, no Host, Upgrade without the token
// "websocket", Connection without the token "upgrade", a Sec-WebSocket-Key that is not
// the strict base64 of exactly 16 bytes, or no Sec-WebSocket-Version. 426 (with the
// version header) for any Sec-WebSocket-Version other than 13.
std::optional<HandshakeError> check_upgrade(const HandshakeRequest& req);

// Sec-WebSocket-Accept for a key: base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
// (RFC 6455 4.2.2 item 5.4). Always 28 characters.
std::string accept_key(std::string_view sec_websocket_key);

// Splits a comma-separated header value (e.g. Sec-WebSocket-Protocol) into its items,
// trimmed of spaces and tabs, with empty items dropped. Views point into comma_list.
std::vector<std::string_view> split_tokens(std::string_view comma_list);

// True when list (a comma-separated header value) contains token, compared
// case-insensitively after trimming each item.
bool has_token(std::string_view list, std::string_view token) noexcept;

// Appends the 101 response: status line, Upgrade, Connection, Sec-WebSocket-Accept, then
// Sec-WebSocket-Protocol if subprotocol is not empty, then extra_header_lines verbatim
// (each already "Name: value\r\n"), then the blank line.
void write_upgrade_response(std::string& out, std::string_view accept, std::string_view subprotocol = {},
                            std::string_view extra_header_lines = {});

}  // namespace wirehub::ws
