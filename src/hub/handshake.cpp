#include "hub/handshake.hpp"

#include <nlohmann/json.hpp>

#include "hub/framing.hpp"

namespace wirehub::hub {

std::string_view protocol_name(HubProtocol p) noexcept {
  return p == HubProtocol::Json ? "json" : "messagepack";
}

std::variant<HandshakeRequest, std::string> parse_handshake(std::string_view message, bool binary_transport) {
  const nlohmann::json v = nlohmann::json::parse(message, nullptr, /*allow_exceptions=*/false);
  const std::string malformed = "The handshake request must be a JSON object with a string \"protocol\" and an "
                                "integer \"version\".";
  if (!v.is_object()) return malformed;
  auto protocol = v.find("protocol");
  auto version = v.find("version");
  if (protocol == v.end() || !protocol->is_string() || version == v.end() || !version->is_number_integer())
    return malformed;
  const std::string& name = protocol->get_ref<const std::string&>();
  HandshakeRequest r;
  if (name == "json") {
    r.protocol = HubProtocol::Json;
  } else if (name == "messagepack") {
    r.protocol = HubProtocol::MessagePack;
  } else {
    return "The protocol '" + name + "' is not supported.";
  }
  // Both protocols exist in versions 1 and 2 (2: stateful reconnect).
  const auto n = version->get<std::int64_t>();
  if (n < 1 || n > 2) {
    return "The server does not support version " + std::to_string(n) + " of the '" + name + "' protocol.";
  }
  r.version = static_cast<int>(n);
  if (r.protocol == HubProtocol::MessagePack && !binary_transport) {
    return "Cannot use the '" + name +
           "' protocol on the current transport. The transport does not support 'Binary' transfer format.";
  }
  return r;
}

std::string handshake_response(std::string_view error) {
  std::string out;
  if (error.empty()) {
    append_json(out, "{}");
  } else {
    append_json(out, nlohmann::json{{"error", error}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  return out;
}

}  // namespace wirehub::hub
