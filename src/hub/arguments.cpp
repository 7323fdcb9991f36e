#include "hub/arguments.hpp"

#include <charconv>

#include "hub/json_invocation.hpp"

namespace wirehub::hub {
namespace {

std::uint64_t big_endian(const unsigned char* p, std::size_t n) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

const unsigned char* bytes_of(std::string_view s) noexcept { return reinterpret_cast<const unsigned char*>(s.data()); }

}  // namespace

void Arguments::clear() noexcept {
  wire_ = false;
  bytes_.clear();
  spans_.clear();
  if (!held_.is_null()) held_ = nullptr;
}

void Arguments::set_wire(HubProtocol p, std::string_view array_bytes) {
  wire_ = true;
  protocol_ = p;
  bytes_.assign(array_bytes);
}

void Arguments::add(std::size_t offset, std::size_t length) { spans_.push_back({offset, length}); }

bool Arguments::read_string(std::size_t i, std::string& out) const {
  if (!wire_) return false;
  const std::string_view v = wire(i);
  if (protocol_ == HubProtocol::Json) {
    if (v.front() != '"') return false;
    out.clear();
    decode_json_string(v.substr(1, v.size() - 2), out);
    return true;
  }
  // MessagePack fixstr, str 8/16/32: the value is the bytes after the header.
  const auto b = static_cast<unsigned char>(v.front());
  std::size_t header = 1;
  if (b >= 0xd9 && b <= 0xdb) {
    header += std::size_t{1} << (b - 0xd9);
  } else if (b < 0xa0 || b > 0xbf) {
    return false;
  }
  out.assign(v.substr(header));
  return true;
}

bool Arguments::read_integer(std::size_t i, std::uint64_t& bits, bool& negative) const {
  if (!wire_) return false;
  const std::string_view v = wire(i);
  if (protocol_ == HubProtocol::Json) {
    // An integer token is all digits after an optional '-' (no fraction, no exponent);
    // one that does not fit 64 bits is a double to nlohmann.
    const char* end = v.data() + v.size();
    negative = v.front() == '-';
    if (negative) {
      std::int64_t n = 0;
      const auto r = std::from_chars(v.data(), end, n);
      if (r.ec != std::errc() || r.ptr != end) return false;
      bits = static_cast<std::uint64_t>(n);
    } else {
      const auto r = std::from_chars(v.data(), end, bits);
      if (r.ec != std::errc() || r.ptr != end) return false;
    }
    // "-0" is the integer 0.
    negative = negative && bits != 0;
    return true;
  }
  const unsigned char* p = bytes_of(v);
  const unsigned char b = p[0];
  if (b <= 0x7f) {  // positive fixint
    bits = b;
    negative = false;
  } else if (b >= 0xe0) {  // negative fixint
    bits = static_cast<std::uint64_t>(static_cast<std::int64_t>(static_cast<std::int8_t>(b)));
    negative = true;
  } else if (b >= 0xcc && b <= 0xcf) {  // uint 8..64
    bits = big_endian(p + 1, v.size() - 1);
    negative = false;
  } else if (b >= 0xd0 && b <= 0xd3) {  // int 8..64: sign-extended from the field's width
    const unsigned shift = 64 - 8 * static_cast<unsigned>(v.size() - 1);
    const std::int64_t n = static_cast<std::int64_t>(big_endian(p + 1, v.size() - 1) << shift) >> shift;
    bits = static_cast<std::uint64_t>(n);
    negative = n < 0;
  } else {
    return false;
  }
  return true;
}

bool Arguments::read_bool(std::size_t i, bool& out) const {
  if (!wire_) return false;
  const std::string_view v = wire(i);
  if (protocol_ == HubProtocol::Json) {
    if (v != "true" && v != "false") return false;
    out = v == "true";
    return true;
  }
  if (v.size() != 1 || (v[0] != '\xc2' && v[0] != '\xc3')) return false;
  out = v[0] == '\xc3';
  return true;
}

nlohmann::json Arguments::value(std::size_t i) const {
  if (!wire_) return held_.at(i);
  const std::string_view v = wire(i);
  // The parsers validated these bytes as nlohmann reads them: neither call fails.
  if (protocol_ == HubProtocol::Json) return nlohmann::json::parse(v.begin(), v.end(), nullptr, false);
  return nlohmann::json::from_msgpack(v.begin(), v.end(), /*strict=*/true, /*allow_exceptions=*/false);
}

nlohmann::json Arguments::to_json() const {
  if (!wire_) return held_.is_null() ? nlohmann::json::array() : held_;
  nlohmann::json all = nlohmann::json::array();
  for (std::size_t i = 0; i < spans_.size(); ++i) all.push_back(value(i));
  return all;
}

}  // namespace wirehub::hub
