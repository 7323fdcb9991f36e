#pragma once
// The arguments of a hub Invocation, without I/O.
//
// Parsed arguments stay the bytes they came as: a copy of the arguments array's wire bytes
// (JSON text or MessagePack) and where each argument lies in it. A hub method's parameter
// of a common type is read straight from those bytes (read_string, read_integer,
// read_bool); anything else goes through value(i), the argument as a nlohmann value. So
// an Echo(string) call builds no nlohmann value at all. Arguments given as a nlohmann
// array (what the hub sends, and what the JSON parser's general path produces) are held
// as that array.
//
// Wire arguments are always well-formed: the parsers only store arguments they have
// validated exactly as nlohmann's readers would (see messages.hpp), so value(i) equals
// the element a nlohmann parse of the whole message would hold.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "hub/handshake.hpp"

namespace wirehub::hub {

class Arguments {
 public:
  Arguments() = default;  // none
  // Held values: an array (a null value counts as no arguments). Implicit, so a Message's
  // arguments are assigned a nlohmann array as before.
  Arguments(nlohmann::json values) : held_(std::move(values)) {}  // NOLINT(google-explicit-constructor)

  // Parser side: clear() (which keeps the buffers' capacity), then in either order
  // set_wire() with a copy of the arguments array's bytes as p encodes them, and add()
  // with each argument's range of those bytes, in order.
  void clear() noexcept;
  void set_wire(HubProtocol p, std::string_view array_bytes);
  void add(std::size_t offset, std::size_t length);

  std::size_t size() const noexcept { return wire_ ? spans_.size() : held_.size(); }
  bool on_wire() const noexcept { return wire_; }
  // The held values when not on_wire() (null: none).
  const nlohmann::json& held() const noexcept { return held_; }

  // Argument i (< size()) read straight from the wire when it is of that kind there: a
  // string (JSON escapes decoded; MessagePack str bytes as they are); an integer token
  // that nlohmann stores as a 64-bit integer (bits: its two's complement, negative: below
  // zero); true or false. false: not that kind, or held values — value(i) then decides.
  bool read_string(std::size_t i, std::string& out) const;
  bool read_integer(std::size_t i, std::uint64_t& bits, bool& negative) const;
  bool read_bool(std::size_t i, bool& out) const;
  // Argument i as a nlohmann value.
  nlohmann::json value(std::size_t i) const;
  // All of them as a nlohmann array.
  nlohmann::json to_json() const;

  // Equal values (nlohmann equality, so NaN is unequal to itself), wherever they are.
  friend bool operator==(const Arguments& a, const Arguments& b) { return a.to_json() == b.to_json(); }

 private:
  struct Span {
    std::size_t offset, length;
  };
  std::string_view wire(std::size_t i) const noexcept {
    return std::string_view(bytes_).substr(spans_[i].offset, spans_[i].length);
  }

  bool wire_ = false;
  HubProtocol protocol_ = HubProtocol::Json;
  std::string bytes_;
  std::vector<Span> spans_;
  nlohmann::json held_;
};

}  // namespace wirehub::hub
