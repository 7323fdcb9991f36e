// Fuzzing of the hub protocols' framing and handshake: arbitrary payloads split as JSON
// (0x1E) or MessagePack (VarInt prefixes), each message also judged as a handshake. The first byte picks the protocol and a message limit.
// Nothing may crash or read out of bounds; every message found is within the limit; and
// framing the messages again rebuilds exactly the bytes they came from (all of the
// payload when there was no error).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "hub/framing.hpp"
#include "hub/handshake.hpp"

namespace hub = wirehub::hub;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool json = data[0] & 1;
  const std::size_t limit = (data[0] & 2) ? 16 : 1 << 20;
  const std::string_view payload(reinterpret_cast<const char*>(data + 1), size - 1);
  std::vector<std::string_view> messages;
  const hub::FramingError e =
      json ? hub::split_json(payload, limit, messages) : hub::split_messagepack(payload, limit, messages);
  std::string again;
  for (std::string_view m : messages) {
    if (m.size() > limit) std::abort();
    // A handshake is judged from any bytes without crashing; a refusal is answered as JSON.
    auto h = hub::parse_handshake(m, data[0] & 4);
    if (auto* err = std::get_if<std::string>(&h); err && hub::handshake_response(*err).back() != '\x1e') std::abort();
    if (json) {
      hub::append_json(again, m);
    } else {
      hub::append_messagepack(again, m);
    }
  }
  // JSON re-framing is byte-exact; a VarInt may have been written non-minimally, so for
  // MessagePack compare the messages' bytes instead.
  if (json) {
    if (payload.substr(0, again.size()) != again) std::abort();
    if (e == hub::FramingError::None && again.size() != payload.size()) std::abort();
  } else {
    std::vector<std::string_view> back;
    if (hub::split_messagepack(again, limit, back) != hub::FramingError::None || back != messages) std::abort();
  }
  return 0;
}
