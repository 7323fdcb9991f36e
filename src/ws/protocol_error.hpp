#pragma once
// Every way a peer can break RFC 6455 framing, and the one table that maps each to the
// close code and reason the connection is failed with (RFC 6455 7.1.7, 7.4.1).

#include <cstdint>
#include <string_view>

#include "ws/close_code.hpp"

namespace wirehub::ws {

enum class ProtocolError : std::uint8_t {
  None,
  ReservedBits,            // 5.2: RSV1-3 set, no extension negotiated; RFC 7692 6: RSV1 off a message's first frame
  UnknownOpcode,           // 5.2: opcodes 3-7, 11-15
  UnmaskedClientFrame,     // 5.1: server got a frame without MASK
  MaskedServerFrame,       // 5.1: client got a frame with MASK
  FragmentedControl,       // 5.5: control frame with FIN=0
  ControlTooLong,          // 5.5: control payload > 125
  UnexpectedContinuation,  // 5.4: continuation with no message in progress
  ExpectedContinuation,    // 5.4: Text/Binary while a fragmented message is in progress
  LengthTopBit,            // 5.2: 64-bit length with its most significant bit set
  NonMinimalLength,        // 5.2: length not in the minimal number of bytes
  MessageTooBig,           // 7.4.1: message over Limits::max_message_bytes (1009)
  CloseOneByte,            // 5.5.1: Close payload of exactly 1 byte
  InvalidCloseCode,        // 7.4: close code not allowed on the wire
  InvalidCloseReason,      // 5.5.1: close reason is not UTF-8 (1007)
  InvalidText,             // 8.1: text message is not UTF-8 (1007)
  InvalidCompressedData,   // RFC 7692 8: a compressed message does not inflate (1007)
};

// The close code to fail the connection with.
CloseCode close_code_for(ProtocolError e) noexcept;
// A short static reason for the Close frame (well under the 123-byte limit).
std::string_view reason_for(ProtocolError e) noexcept;

}  // namespace wirehub::ws
