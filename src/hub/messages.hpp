#pragma once
// The nine SignalR hub messages in both hub protocols, without I/O (PROTOCOL.md section 8).
//
// Parsing takes ONE message as framing split it (JSON text without its 0x1E, or
// MessagePack bytes without their VarInt prefix); writing appends the message WITH its
// framing. Item and result values are nlohmann::json values in both protocols, and so
// are arguments when read (hub::Arguments keeps parsed arguments as their wire bytes and
// converts on demand): MessagePack `bin` stays a binary value and extension types (the
// timestamp -1 clients use for dates) stay binary values with their subtype, so they are
// written back as the same bytes.
//
// Parsing never throws: a message is Ok, Ignored (a type number this protocol version
// does not know; clients and servers skip those) or an Error with a short description in
// the style of ASP.NET's hub protocol messages. Optional properties given as null (JSON)
// or nil (MessagePack) count as absent. Arrays and maps may nest at most kMaxDepth deep.
// A JSON Invocation or StreamInvocation is read without a nlohmann document when it can
// be (json_invocation.hpp); the result is the same Message either way.
//
// Writers produce what the official JS client accepts (PROTOCOL.md sections 8 and 14).
// A string to write as JSON that is not valid UTF-8 has each invalid byte replaced by
// U+FFFD (MessagePack strings are written as the bytes they are). Writers throw only
// std::length_error, for a MessagePack message over 2^31 - 1 bytes (out is unchanged).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "hub/arguments.hpp"
#include "hub/handshake.hpp"

namespace wirehub::hub {

enum class MessageType : std::uint8_t {
  Invocation = 1,
  StreamItem,
  Completion,
  StreamInvocation,
  CancelInvocation,
  Ping,
  Close,
  Ack,
  Sequence
};
enum class CompletionKind : std::uint8_t { Void, Result, Error };

// How deep arrays and maps may nest in one message, the message's own object or array
// counting as 1 (JSON) or the envelope array as 1 (MessagePack). Deeper input is an
// Error, so no value that reaches the application can exhaust the stack of the recursive
// code that later walks it (nlohmann's dump, to_msgpack, from_msgpack).
inline constexpr std::size_t kMaxDepth = 64;

struct Message {
  MessageType type = MessageType::Ping;
  std::string invocation_id;                            // "" = none (fire-and-forget Invocation)
  std::string target;                                   // Invocation / StreamInvocation
  Arguments arguments;                                  // parsed: wire bytes; to write: an array
  std::vector<std::string> stream_ids;                  // upload stream ids (Invocation / StreamInvocation)
  nlohmann::json item;                                  // StreamItem (may be null)
  CompletionKind completion = CompletionKind::Void;
  nlohmann::json result;                                // Completion with CompletionKind::Result (may be null)
  std::string error;                                    // Completion with CompletionKind::Error; Close error ("" = none)
  bool allow_reconnect = false;                         // Close
  std::int64_t sequence_id = 0;                         // Ack / Sequence

  // Every field equal (values by nlohmann::json equality, so NaN is unequal to itself).
  friend bool operator==(const Message&, const Message&) = default;
};

struct ParseResult {
  enum class Status : std::uint8_t { Ok, Ignored /* unknown type number: forward compatible */, Error } status =
      Status::Error;
  Message message;    // when Ok
  std::string error;  // when Error: a short description, e.g. "Missing required property 'target'."
};

// Parses one JSON-protocol message (without its 0x1E). Property names are case-sensitive,
// in any order; unknown properties are ignored; "headers" must be an object of strings
// and is ignored. Invalid JSON, including invalid UTF-8, is an Error.
ParseResult parse_json_message(std::string_view text);
// Parses one MessagePack-protocol message (without its VarInt prefix): an array
// [type, ...] as PROTOCOL.md section 8 lays out, trailing extra elements accepted; the
// headers element of types 1-5 must be a map of strings or nil and is ignored. Bytes
// after the array are an Error. Maps inside values need string keys (an Error otherwise).
ParseResult parse_messagepack_message(std::string_view bytes);

// Append the framed message to out: JSON + 0x1E, or VarInt + MessagePack bytes. Only the
// fields of m's type are written; `arguments` must be an array. A Completion with
// CompletionKind::Error needs a non-empty error (the JS client refuses an empty one).
// JSON omits headers, an empty invocation id (fire-and-forget), empty streamIds, an empty
// Close error and a false allowReconnect. MessagePack writes headers as an empty map,
// nil for an empty Invocation id or Close error, and a Close as [7, error|nil] or
// [7, error|nil, true].
void append_json_message(std::string& out, const Message& m);
void append_messagepack_message(std::string& out, const Message& m);

// The same, choosing the writer or parser by protocol.
void append_message(std::string& out, HubProtocol p, const Message& m);
ParseResult parse_message(HubProtocol p, std::string_view framed_payload_piece);
// The same into m, whose strings and buffers are reused (m is reset first; on Error or
// Ignored its contents are unspecified); error is set on Error.
ParseResult::Status parse_message(HubProtocol p, std::string_view framed_payload_piece, Message& m,
                                  std::string& error);

// A Completion whose result is the string text: the bytes append_message writes for a
// Message with CompletionKind::Result and nlohmann::json(text) as its result, without
// building that value.
void append_string_completion(std::string& out, HubProtocol p, std::string_view invocation_id,
                              std::string_view text);

}  // namespace wirehub::hub
