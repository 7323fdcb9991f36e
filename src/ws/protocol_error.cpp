#include "ws/protocol_error.hpp"

#include <array>

namespace wirehub::ws {
namespace {

struct Entry {
  CloseCode code;
  std::string_view reason;
};

// Indexed by ProtocolError; keep in declaration order.
constexpr std::array<Entry, 17> kTable{{
    {CloseCode::Normal, ""},
    {CloseCode::ProtocolError, "reserved bits set"},
    {CloseCode::ProtocolError, "unknown opcode"},
    {CloseCode::ProtocolError, "client frame not masked"},
    {CloseCode::ProtocolError, "server frame masked"},
    {CloseCode::ProtocolError, "fragmented control frame"},
    {CloseCode::ProtocolError, "control frame payload over 125 bytes"},
    {CloseCode::ProtocolError, "continuation frame without a message"},
    {CloseCode::ProtocolError, "new message inside a fragmented message"},
    {CloseCode::ProtocolError, "payload length has its top bit set"},
    {CloseCode::ProtocolError, "payload length not minimally encoded"},
    {CloseCode::MessageTooBig, "message too big"},
    {CloseCode::ProtocolError, "close frame payload of 1 byte"},
    {CloseCode::ProtocolError, "invalid close code"},
    {CloseCode::InvalidPayload, "close reason is not valid UTF-8"},
    {CloseCode::InvalidPayload, "text is not valid UTF-8"},
    // RFC 7692 8 only says "Fail the WebSocket Connection". 1007 because the frames were
    // well formed and the message's data is what is wrong — as with invalid UTF-8, and
    // as Node's ws answers it.
    {CloseCode::InvalidPayload, "compressed data is not valid DEFLATE"},
}};
static_assert(static_cast<std::size_t>(ProtocolError::InvalidCompressedData) + 1 == kTable.size());

}  // namespace

CloseCode close_code_for(ProtocolError e) noexcept { return kTable[static_cast<std::size_t>(e)].code; }
std::string_view reason_for(ProtocolError e) noexcept { return kTable[static_cast<std::size_t>(e)].reason; }

}  // namespace wirehub::ws
