#include "fanout/history_json.hpp"

#include "core/base64.hpp"

namespace wirehub::fanout {

namespace {

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20) {
      out.append("\\u00");
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xF]);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

// {"topic":...,[reset,]"position":...,"seq":n  (unclosed)
std::string head(std::string_view topic, HistoryPosition p, bool reset, std::size_t room) {
  std::string out;
  out.reserve(64 + topic.size() + room);
  out.append(R"({"topic":)");
  append_json_string(out, topic);
  if (reset) out.append(R"(,"reset":true)");
  out.append(R"(,"position":")").append(format_position(p)).append(R"(","seq":)").append(std::to_string(p.seq));
  return out;
}

}  // namespace

std::string numbered_message_json(std::string_view topic, HistoryPosition p, std::string_view payload, bool binary) {
  std::string out = head(topic, p, false, payload.size() + payload.size() / 3 + 16);
  if (binary) {
    out.append(R"(,"data_base64":")").append(base64_encode(payload, Base64Alphabet::Standard, true)).append("\"}");
  } else {
    out.append(R"(,"data":)");
    append_json_string(out, payload);
    out.push_back('}');
  }
  return out;
}

std::string reset_message_json(std::string_view topic, HistoryPosition p) {
  std::string out = head(topic, p, true, 1);
  out.push_back('}');
  return out;
}

}  // namespace wirehub::fanout
