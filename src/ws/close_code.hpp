#pragma once
// WebSocket close status codes (RFC 6455 7.4) and the rule for which of them may travel
// in a Close frame.

#include <cstdint>

namespace wirehub::ws {

enum class CloseCode : std::uint16_t {
  Normal = 1000,
  GoingAway = 1001,
  ProtocolError = 1002,
  UnsupportedData = 1003,
  NoStatus = 1005,  // never on the wire: "the Close frame had no status code"
  Abnormal = 1006,  // never on the wire: "the connection dropped without a Close frame"
  InvalidPayload = 1007,
  PolicyViolation = 1008,
  MessageTooBig = 1009,
  MandatoryExtension = 1010,
  InternalError = 1011,
};

constexpr std::uint16_t to_int(CloseCode c) noexcept { return static_cast<std::uint16_t>(c); }

// True when a peer may send `code` in a Close frame (RFC 6455 7.4.1/7.4.2): the defined
// codes 1000-1003 and 1007-1011, the IANA-registered 1012-1014, and the library/application
// ranges 3000-4999. 1004 (reserved), 1005, 1006 and 1015 (must not be sent), every other
// code below 3000 (unassigned) and anything from 5000 up are invalid.
bool is_valid_wire_close_code(std::uint16_t code) noexcept;

}  // namespace wirehub::ws
