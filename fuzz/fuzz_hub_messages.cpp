// Fuzzing of the hub messages' parsers and writers. The first byte picks the protocol
// (bit 0: JSON, else MessagePack); the rest is one message as framing delivers it.
// Nothing may crash, throw or read out of bounds; a message that parses is written,
// split again by the framing, and must parse to an equal message, whose writing is
// byte-identical to the first (writing is a pure function of the message). The message
// is also written in the other protocol, which must not fail either (invalid UTF-8 in a
// MessagePack string is replaced when written as JSON) and must frame as one message.
// JSON input the Invocation reader (json_invocation.hpp) takes must be JSON nlohmann
// accepts, read into the same invocation; and every argument read straight from the wire
// (string, integer, bool) must equal the argument's nlohmann value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "hub/framing.hpp"
#include "hub/json_invocation.hpp"
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
  for (hub::Message* m : {&a_envelope, &b_envelope}) {
    m->arguments = hub::Arguments();
    m->item = m->result = nullptr;
  }
  return a_envelope == b_envelope && same_value(a.arguments.to_json(), b.arguments.to_json()) &&
         same_value(a.item, b.item) && same_value(a.result, b.result);
}

// What nlohmann's document says, for an input the Invocation reader took.
void check_taken(std::string_view text, const hub::Message& m) {
  const json doc = json::parse(text.begin(), text.end(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) std::abort();
  if (doc.value("type", json()) != static_cast<int>(m.type) || doc.value("target", json()) != m.target) std::abort();
  const json id = doc.value("invocationId", json());
  if (id.is_null() ? !m.invocation_id.empty() : id != m.invocation_id) std::abort();
  if (!same_value(doc.value("arguments", json()), m.arguments.to_json())) std::abort();
  const json ids = doc.value("streamIds", json());
  if (ids.is_null() ? !m.stream_ids.empty() : ids != json(m.stream_ids)) std::abort();
}

// Arguments read straight from the wire equal their nlohmann values.
void check_arguments(const hub::Arguments& a) {
  for (std::size_t i = 0; i < a.size(); ++i) {
    const json v = a.value(i);
    std::string s;
    if (a.read_string(i, s) != v.is_string() || (v.is_string() && s != v.get<std::string>())) std::abort();
    bool b = false;
    if (a.read_bool(i, b) != v.is_boolean() || (v.is_boolean() && b != v.get<bool>())) std::abort();
    std::uint64_t bits = 0;
    bool negative = false;
    if (a.read_integer(i, bits, negative) != v.is_number_integer()) std::abort();
    if (!v.is_number_integer()) continue;
    const bool below_zero = !v.is_number_unsigned() && v.get<std::int64_t>() < 0;
    if (bits != v.get<std::uint64_t>() || negative != below_zero) std::abort();
  }
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

  if (p == hub::HubProtocol::Json) {
    hub::Message taken;
    if (hub::read_json_invocation(input, taken)) check_taken(input, taken);
  }
  const hub::ParseResult first = hub::parse_message(p, input);
  if (first.status == hub::ParseResult::Status::Error && first.error.empty()) std::abort();
  if (first.status != hub::ParseResult::Status::Ok) return 0;
  check_arguments(first.message.arguments);

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
