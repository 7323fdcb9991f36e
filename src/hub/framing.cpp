#include "hub/framing.hpp"

#include <stdexcept>

namespace wirehub::hub {

std::string_view describe(FramingError e) noexcept {
  switch (e) {
    case FramingError::None: return "no error";
    case FramingError::Incomplete: return "the payload ends inside a message";
    case FramingError::TooLarge: return "a message is larger than the limit";
    case FramingError::BadLength: return "a length prefix is longer than 5 bytes or above 2^31 - 1";
  }
  return "unknown framing error";
}

FramingError split_json(std::string_view payload, std::size_t max_message_bytes, std::vector<std::string_view>& out) {
  while (!payload.empty()) {
    const std::size_t end = payload.find(kRecordSeparator);
    if (end == std::string_view::npos) {
      return payload.size() > max_message_bytes ? FramingError::TooLarge : FramingError::Incomplete;
    }
    if (end > max_message_bytes) return FramingError::TooLarge;
    out.push_back(payload.substr(0, end));
    payload.remove_prefix(end + 1);
  }
  return FramingError::None;
}

FramingError split_messagepack(std::string_view payload, std::size_t max_message_bytes,
                               std::vector<std::string_view>& out) {
  while (!payload.empty()) {
    std::uint64_t length = 0;
    std::size_t i = 0;
    for (;; ++i) {
      if (i == 5) return FramingError::BadLength;  // a sixth byte would pass 2^35
      if (i == payload.size()) return FramingError::Incomplete;
      const auto byte = static_cast<std::uint8_t>(payload[i]);
      length |= std::uint64_t{byte & 0x7fu} << (7 * i);
      if (!(byte & 0x80)) break;
    }
    if (length > kMaxVarIntLength) return FramingError::BadLength;
    payload.remove_prefix(i + 1);
    if (length > max_message_bytes) return FramingError::TooLarge;
    if (length > payload.size()) return FramingError::Incomplete;
    out.push_back(payload.substr(0, length));
    payload.remove_prefix(length);
  }
  return FramingError::None;
}

std::size_t write_varint(std::uint32_t n, char* out) noexcept {
  std::size_t i = 0;
  do {
    auto byte = static_cast<std::uint8_t>(n & 0x7f);
    n >>= 7;
    if (n) byte |= 0x80;
    out[i++] = static_cast<char>(byte);
  } while (n);
  return i;
}

void append_json(std::string& out, std::string_view json) {
  out.append(json);
  out.push_back(kRecordSeparator);
}

void append_messagepack(std::string& out, std::string_view bytes) {
  if (bytes.size() > kMaxVarIntLength) throw std::length_error("hub message over 2^31 - 1 bytes");
  char prefix[5];
  out.append(prefix, write_varint(static_cast<std::uint32_t>(bytes.size()), prefix));
  out.append(bytes);
}

}  // namespace wirehub::hub
