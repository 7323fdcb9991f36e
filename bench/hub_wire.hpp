#pragma once
// The client side of the SignalR hub protocols, as wirehub-bench speaks them, all pure
// (PROTOCOL.md sections 6-8): the handshake and its answer, the Invocations the bench
// sends (string arguments only), and a reader for what a hub sends back.
//
// Hand-written for the few shapes the bench uses, so the generator spends little per
// message: no JSON or MessagePack values are built. The reader still follows the protocols
// (JSON properties in any order, string escapes, MessagePack headers of any shape, messages
// of types it does not use skipped), so a correct server is never taken for a wrong one.

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace wirehub::bench {

enum class HubProtocol : std::uint8_t { Json, MessagePack };

// "json" or "messagepack"; nullopt for anything else.
std::optional<HubProtocol> parse_hub_protocol(std::string_view name) noexcept;
std::string_view hub_protocol_name(HubProtocol p) noexcept;

// The handshake request, {"protocol":"json"|"messagepack","version":1} + 0x1E (JSON text
// on both protocols, sent as a text message).
std::string hub_handshake_request(HubProtocol p);

// Checks the handshake answer at the front of the server's first payload: `{}` + 0x1E,
// which hub messages may follow in the same payload (section 6). Returns the bytes it
// took, or 0 with the reason in *error (the server's refusal text when it sent one).
std::size_t check_handshake_response(std::string_view payload, std::string* error);

// Appends one framed Invocation of target with string arguments: JSON text + 0x1E, or
// VarInt length + MessagePack array [1, {}, id|nil, target, [args]]. Without an
// invocation id the call is fire-and-forget (no Completion comes back); with one, the id
// is its decimal text.
void append_invocation(std::string& out, HubProtocol p, std::optional<std::uint64_t> invocation_id,
                       std::string_view target, std::initializer_list<std::string_view> arguments);

// At least the bytes append_invocation writes for a call with an id, a target of
// target_bytes and arguments of argument_bytes in all (JSON may escape every byte as
// \u00XX), in either protocol.
constexpr std::size_t invocation_bound(std::size_t target_bytes, std::size_t argument_bytes,
                                       std::size_t arguments) noexcept {
  return 64 + 6 * (target_bytes + argument_bytes) + 8 * arguments;
}

// Message types the bench looks at (section 8).
inline constexpr int kHubInvocation = 1;
inline constexpr int kHubCompletion = 3;
inline constexpr int kHubPing = 6;
inline constexpr int kHubClose = 7;

// One message from a hub, with only what the bench looks at. Views point into the
// payload, or into the reader's buffers when a JSON string had escapes.
struct HubMessage {
  enum class Outcome : std::uint8_t {
    None,    // Completion of a void method (no result, no error)
    String,  // Completion with a string result
    Other,   // Completion with a result that is not a string
    Error,   // Completion with an error; Close with an error
  };
  int type = 0;                    // 1 Invocation, 3 Completion, 6 Ping, 7 Close, ... as sent
  std::string_view invocation_id;  // "" when absent or nil
  std::string_view target;         // Invocation
  std::size_t arguments = 0;       // Invocation: how many
  bool first_argument_is_string = false;
  std::string_view first_argument;  // Invocation: the first argument, when a string
  Outcome outcome = Outcome::None;  // Completion, Close
  std::string_view text;            // the string result, or the error
};

// Reads the hub messages of one transport payload (a WebSocket message carries whole
// messages only). Usage: reset(payload), then next() until it says End or Error.
class HubReader {
 public:
  enum class Status : std::uint8_t { Message, End, Error };

  explicit HubReader(HubProtocol p) noexcept : protocol_(p) {}

  void reset(std::string_view payload) noexcept {
    rest_ = payload;
    error_ = nullptr;
  }
  // The next message into m; its views stay valid until the next call of next or reset,
  // and as long as the payload. After Error, error() says why and the rest is not read.
  Status next(HubMessage& m);
  const char* error() const noexcept { return error_; }

 private:
  bool parse_json(std::string_view text, HubMessage& m);
  bool parse_messagepack(std::string_view bytes, HubMessage& m);

  HubProtocol protocol_;
  std::string_view rest_;
  const char* error_ = nullptr;
  // Unescaped JSON strings, one buffer per field so every view of a message stays valid.
  std::string id_buf_, target_buf_, argument_buf_, text_buf_;
};

// How a walk over one payload's messages ended (walk_hub_messages).
enum class HubWalk : std::uint8_t { End, Error, Closed, Stopped };

// The receive loop every hub mode shares: Pings are skipped; a Close ends the walk
// (Closed, m holds it); a reader error ends it (Error, r.error() says why); every other
// message goes to fn(m), which returns false to stop (Stopped).
template <class F>
HubWalk walk_hub_messages(HubReader& r, std::string_view payload, HubMessage& m, F&& fn) {
  r.reset(payload);
  for (;;) {
    switch (r.next(m)) {
      case HubReader::Status::End:
        return HubWalk::End;
      case HubReader::Status::Error:
        return HubWalk::Error;
      case HubReader::Status::Message:
        break;
    }
    if (m.type == kHubPing) continue;
    if (m.type == kHubClose) return HubWalk::Closed;
    if (!fn(m)) return HubWalk::Stopped;
  }
}

}  // namespace wirehub::bench
