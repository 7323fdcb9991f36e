// Fuzzing of the hub messages' parsers and writers. The first byte picks the protocol
// (bit 0: JSON, else MessagePack); the rest is one message as framing delivers it.
// Nothing may crash, throw or read out of bounds; a message that parses is written,
// split again by the framing, and must parse to an equal message, whose writing is
// byte-identical to the first (writing is a pure function of the message). The message
// is also written in the other protocol, which must not fail either (invalid UTF-8 in a
// MessagePack string is replaced when written as JSON) and must frame as one message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "hub/framing.hpp"
#include "hub/messages.hpp"

namespace hub = wirehub::hub;
using nlohmann::json;

namespace {

// json equality, except that NaN (MessagePack floats can carry it) equals itself when the
// encodings agree.
bool same_value(const json& a, const json& b) {
  return a == b || json::to_msgpack(a) == json::to_msgpack(b);
}

bool same_message(const hub::Message& a, const hub::Message& b) {
  hub::Message a_envelope = a, b_envelope = b;
  for (hub::Message* m : {&a_envelope, &b_envelope}) m->arguments = m->item = m->result = nullptr;
  return a_envelope == b_envelope && same_value(a.arguments, b.arguments) && same_value(a.item, b.item) &&
         same_value(a.result, b.result);
}

std::string_view only_message(hub::HubProtocol p, const std::string& framed) {
  std::vector<std::string_view> pieces;
  const hub::FramingError e = p == hub::HubProtocol::Json ? hub::split_json(framed, framed.size(), pieces)
                                                          : hub::split_messagepack(framed, framed.size(), pieces);
  if (e != hub::FramingError::None || pieces.size() != 1) std::abort();
  return pieces[0];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const hub::HubProtocol p = (data[0] & 1) ? hub::HubProtocol::Json : hub::HubProtocol::MessagePack;
  const hub::HubProtocol other = p == hub::HubProtocol::Json ? hub::HubProtocol::MessagePack : hub::HubProtocol::Json;
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);

  const hub::ParseResult first = hub::parse_message(p, input);
  if (first.status == hub::ParseResult::Status::Error && first.error.empty()) std::abort();
  if (first.status != hub::ParseResult::Status::Ok) return 0;

  std::string written;
  hub::append_message(written, p, first.message);
  const hub::ParseResult again = hub::parse_message(p, only_message(p, written));
  if (again.status != hub::ParseResult::Status::Ok || !same_message(first.message, again.message)) std::abort();
  std::string rewritten;
  hub::append_message(rewritten, p, again.message);
  if (rewritten != written) std::abort();

  std::string crossed;
  hub::append_message(crossed, other, first.message);
  (void)hub::parse_message(other, only_message(other, crossed));
  return 0;
}
