#include "hub_wire.hpp"

#include <charconv>
#include <cstdint>
#include <cstring>

#include "hub/framing.hpp"

namespace wirehub::bench {

namespace {

constexpr char kRs = '\x1e';
// Values nest at most this deep in what the reader skips (headers, results it ignores),
// so a hostile or broken server cannot exhaust the generator's stack.
constexpr int kMaxDepth = 32;

// --- writing -----------------------------------------------------------------------------

// Appends s as a JSON string: quotes, backslashes and control characters escaped.
void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t run = 0;  // start of the bytes not yet copied
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else {
      out.append("\\u00");
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

std::size_t msgpack_string_size(std::size_t n) noexcept {
  return n + (n < 32 ? 1 : n < 256 ? 2 : n < 65536 ? 3 : 5);
}

std::size_t msgpack_array_header_size(std::size_t n) noexcept { return n < 16 ? 1 : n < 65536 ? 3 : 5; }

void put_be(std::string& out, std::uint32_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void append_msgpack_string(std::string& out, std::string_view s) {
  const auto n = static_cast<std::uint32_t>(s.size());
  if (n < 32) {
    out.push_back(static_cast<char>(0xa0 | n));
  } else if (n < 256) {
    out.push_back(static_cast<char>(0xd9));
    put_be(out, n, 1);
  } else if (n < 65536) {
    out.push_back(static_cast<char>(0xda));
    put_be(out, n, 2);
  } else {
    out.push_back(static_cast<char>(0xdb));
    put_be(out, n, 4);
  }
  out.append(s);
}

void append_msgpack_array_header(std::string& out, std::size_t count) {
  const auto n = static_cast<std::uint32_t>(count);
  if (n < 16) {
    out.push_back(static_cast<char>(0x90 | n));
  } else if (n < 65536) {
    out.push_back(static_cast<char>(0xdc));
    put_be(out, n, 2);
  } else {
    out.push_back(static_cast<char>(0xdd));
    put_be(out, n, 4);
  }
}

// --- reading JSON ------------------------------------------------------------------------

// Appends code point cp as UTF-8.
void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

// A cursor over one JSON text (RFC 8259), reading only what a hub message needs.
class JsonCursor {
 public:
  explicit JsonCursor(std::string_view s) noexcept : p_(s.data()), end_(s.data() + s.size()) {}

  void skip_ws() noexcept {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }
  bool at_end() noexcept {
    skip_ws();
    return p_ == end_;
  }
  // Consumes c (after whitespace) if it is next.
  bool eat(char c) noexcept {
    skip_ws();
    if (p_ < end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }
  char peek() noexcept {
    skip_ws();
    return p_ < end_ ? *p_ : '\0';
  }

  // A string; its text is a view into the input when it has no escapes, else decoded
  // into buf.
  bool string(std::string_view& out, std::string& buf) {
    if (!eat('"')) return false;
    const char* start = p_;
    while (p_ < end_ && *p_ != '"' && *p_ != '\\') {
      if (static_cast<unsigned char>(*p_) < 0x20) return false;
      ++p_;
    }
    if (p_ == end_) return false;
    if (*p_ == '"') {
      out = std::string_view(start, static_cast<std::size_t>(p_ - start));
      ++p_;
      return true;
    }
    buf.assign(start, static_cast<std::size_t>(p_ - start));
    while (p_ < end_ && *p_ != '"') {
      const auto c = static_cast<unsigned char>(*p_);
      if (c < 0x20) return false;
      if (c != '\\') {
        buf.push_back(*p_++);
        continue;
      }
      if (++p_ == end_) return false;
      switch (*p_++) {
        case '"': buf.push_back('"'); break;
        case '\\': buf.push_back('\\'); break;
        case '/': buf.push_back('/'); break;
        case 'b': buf.push_back('\b'); break;
        case 'f': buf.push_back('\f'); break;
        case 'n': buf.push_back('\n'); break;
        case 'r': buf.push_back('\r'); break;
        case 't': buf.push_back('\t'); break;
        case 'u': {
          std::uint32_t cp;
          if (!hex4(cp)) return false;
          if (cp >= 0xd800 && cp < 0xdc00) {  // a high surrogate: its low half must follow
            std::uint32_t low;
            if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
            p_ += 2;
            if (!hex4(low) || low < 0xdc00 || low >= 0xe000) return false;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
          } else if (cp >= 0xdc00 && cp < 0xe000) {
            return false;
          }
          append_utf8(buf, cp);
          break;
        }
        default: return false;
      }
    }
    if (p_ == end_) return false;
    ++p_;
    out = buf;
    return true;
  }

  // A non-negative integer that fits an int (a message type).
  bool small_integer(int& out) noexcept {
    skip_ws();
    const auto [ptr, ec] = std::from_chars(p_, end_, out);
    if (ec != std::errc() || out < 0) return false;
    p_ = ptr;
    // 1.0 or 1e0 is a number too, but not a type the protocols use.
    return p_ == end_ || (*p_ != '.' && *p_ != 'e' && *p_ != 'E');
  }

  // Skips any value.
  bool skip_value(int depth = 0) {
    if (depth > kMaxDepth) return false;
    std::string scratch;
    std::string_view ignored;
    switch (peek()) {
      case '"': return string(ignored, scratch);
      case '{':
        ++p_;
        if (eat('}')) return true;
        do {
          if (!string(ignored, scratch) || !eat(':') || !skip_value(depth + 1)) return false;
        } while (eat(','));
        return eat('}');
      case '[':
        ++p_;
        if (eat(']')) return true;
        do {
          if (!skip_value(depth + 1)) return false;
        } while (eat(','));
        return eat(']');
      case 't': return literal("true");
      case 'f': return literal("false");
      case 'n': return literal("null");
      default: return number();
    }
  }

 private:
  bool hex4(std::uint32_t& out) noexcept {
    if (end_ - p_ < 4) return false;
    out = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = *p_++;
      out <<= 4;
      if (c >= '0' && c <= '9') out |= static_cast<std::uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') out |= static_cast<std::uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') out |= static_cast<std::uint32_t>(c - 'A' + 10);
      else return false;
    }
    return true;
  }
  bool literal(std::string_view word) noexcept {
    if (static_cast<std::size_t>(end_ - p_) < word.size() || std::memcmp(p_, word.data(), word.size()) != 0) return false;
    p_ += word.size();
    return true;
  }
  // -?digits[.digits][e[+-]digits], leniently (the value is thrown away).
  bool number() noexcept {
    const char* start = p_;
    if (p_ < end_ && *p_ == '-') ++p_;
    const char* digits = p_;
    while (p_ < end_ && ((*p_ >= '0' && *p_ <= '9') || *p_ == '.' || *p_ == 'e' || *p_ == 'E' || *p_ == '+' ||
                         *p_ == '-'))
      ++p_;
    return p_ > digits && p_ > start;
  }

  const char* p_;
  const char* end_;
};

// --- reading MessagePack -----------------------------------------------------------------

class MsgpackCursor {
 public:
  explicit MsgpackCursor(std::string_view s) noexcept
      : p_(reinterpret_cast<const unsigned char*>(s.data())), end_(p_ + s.size()) {}

  bool at_end() const noexcept { return p_ == end_; }
  bool next_is_nil() const noexcept { return p_ < end_ && *p_ == 0xc0; }
  bool next_is_string() const noexcept {
    return p_ < end_ && ((*p_ >= 0xa0 && *p_ <= 0xbf) || (*p_ >= 0xd9 && *p_ <= 0xdb));
  }

  bool array(std::size_t& n) noexcept {
    if (p_ == end_) return false;
    const unsigned char b = *p_;
    if (b >= 0x90 && b <= 0x9f) {
      ++p_;
      n = b & 0x0f;
      return true;
    }
    if (b == 0xdc) return ++p_, be(2, n);
    if (b == 0xdd) return ++p_, be(4, n);
    return false;
  }

  // An integer of any width that fits an int.
  bool integer(int& out) noexcept {
    if (p_ == end_) return false;
    const unsigned char b = *p_++;
    if (b <= 0x7f || b >= 0xe0) {  // positive and negative fixint
      out = static_cast<signed char>(b);
      return true;
    }
    const int width = b == 0xcc || b == 0xd0 ? 1 : b == 0xcd || b == 0xd1 ? 2 : b == 0xce || b == 0xd2 ? 4 : 0;
    std::size_t v;
    if (width == 0 || !be(width, v)) return false;  // 64-bit and floats: never a type or a kind
    if (b >= 0xd0) {  // signed: extend the sign of the top bit
      const std::size_t sign = std::size_t{1} << (8 * width - 1);
      const auto s = static_cast<std::int64_t>(v ^ sign) - static_cast<std::int64_t>(sign);
      if (s < INT32_MIN || s > INT32_MAX) return false;
      out = static_cast<int>(s);
      return true;
    }
    if (v > 0x7fffffff) return false;
    out = static_cast<int>(v);
    return true;
  }

  bool string(std::string_view& out) noexcept {
    if (p_ == end_) return false;
    const unsigned char b = *p_++;
    std::size_t n;
    if (b >= 0xa0 && b <= 0xbf) {
      n = b & 0x1f;
    } else if (b >= 0xd9 && b <= 0xdb) {
      if (!be(b == 0xd9 ? 1 : b == 0xda ? 2 : 4, n)) return false;
    } else {
      return false;
    }
    if (static_cast<std::size_t>(end_ - p_) < n) return false;
    out = std::string_view(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return true;
  }

  // Skips any value.
  bool skip(int depth = 0) noexcept {
    if (depth > kMaxDepth || p_ == end_) return false;
    const unsigned char b = *p_++;
    std::size_t n = 0;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) return true;
    if (b >= 0xa0 && b <= 0xbf) return bytes(b & 0x1f);
    if (b >= 0x90 && b <= 0x9f) return items(b & 0x0f, depth);
    if (b >= 0x80 && b <= 0x8f) return items(2 * (b & 0x0f), depth);
    switch (b) {
      case 0xcc: case 0xd0: return bytes(1);
      case 0xcd: case 0xd1: return bytes(2);
      case 0xce: case 0xd2: case 0xca: return bytes(4);
      case 0xcf: case 0xd3: case 0xcb: return bytes(8);
      case 0xd9: case 0xc4: return be(1, n) && bytes(n);
      case 0xda: case 0xc5: return be(2, n) && bytes(n);
      case 0xdb: case 0xc6: return be(4, n) && bytes(n);
      case 0xdc: return be(2, n) && items(n, depth);
      case 0xdd: return be(4, n) && items(n, depth);
      case 0xde: return be(2, n) && items(2 * n, depth);
      case 0xdf: return be(4, n) && items(2 * n, depth);
      case 0xd4: return bytes(2);   // fixext 1: type + 1
      case 0xd5: return bytes(3);
      case 0xd6: return bytes(5);
      case 0xd7: return bytes(9);
      case 0xd8: return bytes(17);
      case 0xc7: return be(1, n) && bytes(n + 1);
      case 0xc8: return be(2, n) && bytes(n + 1);
      case 0xc9: return be(4, n) && bytes(n + 1);
      default: return false;  // 0xc1 is never used
    }
  }

 private:
  bool be(int width, std::size_t& out) noexcept {
    if (end_ - p_ < width) return false;
    out = 0;
    for (int i = 0; i < width; ++i) out = (out << 8) | *p_++;
    return true;
  }
  bool bytes(std::size_t n) noexcept {
    if (static_cast<std::size_t>(end_ - p_) < n) return false;
    p_ += n;
    return true;
  }
  bool items(std::size_t n, int depth) noexcept {
    for (std::size_t i = 0; i < n; ++i) {
      if (!skip(depth + 1)) return false;
    }
    return true;
  }

  const unsigned char* p_;
  const unsigned char* end_;
};

}  // namespace

std::optional<HubProtocol> parse_hub_protocol(std::string_view name) noexcept {
  if (name == "json") return HubProtocol::Json;
  if (name == "messagepack") return HubProtocol::MessagePack;
  return std::nullopt;
}

std::string_view hub_protocol_name(HubProtocol p) noexcept { return p == HubProtocol::Json ? "json" : "messagepack"; }

std::string hub_handshake_request(HubProtocol p) {
  std::string out = "{\"protocol\":\"";
  out.append(hub_protocol_name(p)).append("\",\"version\":1}");
  out.push_back(kRs);
  return out;
}

std::size_t check_handshake_response(std::string_view payload, std::string* error) {
  const std::size_t rs = payload.find(kRs);
  if (rs == std::string_view::npos) {
    *error = "the handshake answer has no record separator";
    return 0;
  }
  JsonCursor c(payload.substr(0, rs));
  if (!c.eat('{')) {
    *error = "the handshake answer is not a JSON object";
    return 0;
  }
  // {} is success; any property is an error ({"error": text} says which).
  if (c.eat('}') && c.at_end()) return rs + 1;
  JsonCursor props(payload.substr(0, rs));
  props.eat('{');
  std::string name_buf, value_buf;
  std::string_view name, value;
  if (props.string(name, name_buf) && name == "error" && props.eat(':') && props.string(value, value_buf)) {
    *error = "the server refused the handshake: " + std::string(value);
  } else {
    *error = "unexpected handshake answer: " + std::string(payload.substr(0, rs));
  }
  return 0;
}

void append_invocation(std::string& out, HubProtocol p, std::optional<std::uint64_t> invocation_id,
                       std::string_view target, std::initializer_list<std::string_view> arguments) {
  char id[20];
  std::size_t id_len = 0;
  if (invocation_id) id_len = static_cast<std::size_t>(std::to_chars(id, id + sizeof id, *invocation_id).ptr - id);
  if (p == HubProtocol::Json) {
    out.append("{\"type\":1");
    if (invocation_id) out.append(",\"invocationId\":\"").append(id, id_len).push_back('"');
    out.append(",\"target\":");
    append_json_string(out, target);
    out.append(",\"arguments\":[");
    bool first = true;
    for (std::string_view a : arguments) {
      if (!first) out.push_back(',');
      first = false;
      append_json_string(out, a);
    }
    out.append("]}");
    out.push_back(kRs);
    return;
  }
  // [1, {}, id|nil, target, [args]]: every size is known, so the VarInt goes first.
  std::size_t length = 3 + (invocation_id ? msgpack_string_size(id_len) : 1) + msgpack_string_size(target.size()) +
                       msgpack_array_header_size(arguments.size());
  for (std::string_view a : arguments) length += msgpack_string_size(a.size());
  char prefix[5];
  out.append(prefix, hub::write_varint(static_cast<std::uint32_t>(length), prefix));
  out.push_back(static_cast<char>(0x95));
  out.push_back(static_cast<char>(kHubInvocation));
  out.push_back(static_cast<char>(0x80));
  if (invocation_id) {
    append_msgpack_string(out, std::string_view(id, id_len));
  } else {
    out.push_back(static_cast<char>(0xc0));
  }
  append_msgpack_string(out, target);
  append_msgpack_array_header(out, arguments.size());
  for (std::string_view a : arguments) append_msgpack_string(out, a);
}

HubReader::Status HubReader::next(HubMessage& m) {
  if (error_) return Status::Error;
  if (rest_.empty()) return Status::End;
  std::string_view one;
  if (protocol_ == HubProtocol::Json) {
    const std::size_t rs = rest_.find(kRs);
    if (rs == std::string_view::npos) {
      error_ = "a JSON hub message without its record separator";
      return Status::Error;
    }
    one = rest_.substr(0, rs);
    rest_.remove_prefix(rs + 1);
  } else {
    std::uint32_t length = 0;
    std::size_t i = 0;
    for (;; ++i) {
      if (i == rest_.size() || i == 5) {
        error_ = "a MessagePack hub message with a bad length prefix";
        return Status::Error;
      }
      const auto b = static_cast<unsigned char>(rest_[i]);
      length |= static_cast<std::uint32_t>(b & 0x7f) << (7 * i);
      if (!(b & 0x80)) break;
    }
    if (rest_.size() - i - 1 < length) {
      error_ = "a MessagePack hub message longer than its payload";
      return Status::Error;
    }
    one = rest_.substr(i + 1, length);
    rest_.remove_prefix(i + 1 + length);
  }
  m = HubMessage{};
  if (!(protocol_ == HubProtocol::Json ? parse_json(one, m) : parse_messagepack(one, m))) {
    if (!error_) error_ = "a malformed hub message";
    return Status::Error;
  }
  return Status::Message;
}

bool HubReader::parse_json(std::string_view text, HubMessage& m) {
  JsonCursor c(text);
  if (!c.eat('{')) return false;
  bool have_type = false;
  std::string name_buf;
  if (!c.eat('}')) {
    do {
      std::string_view name;
      if (!c.string(name, name_buf) || !c.eat(':')) return false;
      bool ok;
      if (name == "type") {
        ok = have_type = c.small_integer(m.type);
      } else if (name == "invocationId") {
        ok = c.peek() == 'n' ? c.skip_value() : c.string(m.invocation_id, id_buf_);
      } else if (name == "target") {
        ok = c.string(m.target, target_buf_);
      } else if (name == "arguments") {
        ok = c.eat('[');
        if (ok && !c.eat(']')) {
          do {
            if (m.arguments++ == 0 && c.peek() == '"') {
              m.first_argument_is_string = true;
              ok = c.string(m.first_argument, argument_buf_);
            } else {
              ok = c.skip_value();
            }
          } while (ok && c.eat(','));
          ok = ok && c.eat(']');
        }
      } else if (name == "result") {
        // A result property beside an error one is a protocol error (section 8).
        if (m.outcome == HubMessage::Outcome::Error) return false;
        if (c.peek() == '"') {
          m.outcome = HubMessage::Outcome::String;
          ok = c.string(m.text, text_buf_);
        } else {
          m.outcome = HubMessage::Outcome::Other;
          ok = c.skip_value();
        }
      } else if (name == "error") {
        if (m.outcome != HubMessage::Outcome::None) return false;
        m.outcome = HubMessage::Outcome::Error;
        ok = c.string(m.text, text_buf_);
      } else {
        ok = c.skip_value();
      }
      if (!ok) return false;
    } while (c.eat(','));
    if (!c.eat('}')) return false;
  }
  if (!c.at_end()) return false;
  if (!have_type) {
    error_ = "a JSON hub message without a type";
    return false;
  }
  return true;
}

bool HubReader::parse_messagepack(std::string_view bytes, HubMessage& m) {
  MsgpackCursor c(bytes);
  std::size_t n;
  if (!c.array(n) || n == 0 || !c.integer(m.type)) return false;
  std::size_t used = 1;
  // An id element: a string, or nil for none.
  auto id = [&] { return c.next_is_nil() ? c.skip() : c.string(m.invocation_id); };
  if (m.type == kHubInvocation) {
    // [1, headers, id|nil, target, [args], [streamIds]?]
    if (n < 5 || !c.skip() || !id() || !c.string(m.target) || !c.array(m.arguments)) return false;
    for (std::size_t i = 0; i < m.arguments; ++i) {
      if (i == 0 && c.next_is_string()) {
        m.first_argument_is_string = true;
        if (!c.string(m.first_argument)) return false;
      } else if (!c.skip()) {
        return false;
      }
    }
    used = 5;
  } else if (m.type == kHubCompletion) {
    // [3, headers, id, kind, value?]: kind 1 error, 2 void, 3 result.
    int kind;
    if (n < 4 || !c.skip() || !c.string(m.invocation_id) || !c.integer(kind)) return false;
    used = 4;
    if (kind == 2) {
      m.outcome = HubMessage::Outcome::None;
    } else if (kind == 1 || kind == 3) {
      if (n < 5) return false;
      used = 5;
      if (kind == 1) {
        m.outcome = HubMessage::Outcome::Error;
        if (!c.string(m.text)) return false;
      } else if (c.next_is_string()) {
        m.outcome = HubMessage::Outcome::String;
        if (!c.string(m.text)) return false;
      } else {
        m.outcome = HubMessage::Outcome::Other;
        if (!c.skip()) return false;
      }
    } else {
      error_ = "a MessagePack Completion of an unknown result kind";
      return false;
    }
  } else if (m.type == kHubClose) {
    // [7, error|nil, allowReconnect?]
    if (n < 2) return false;
    used = 2;
    if (c.next_is_nil()) {
      if (!c.skip()) return false;
    } else {
      m.outcome = HubMessage::Outcome::Error;
      if (!c.string(m.text)) return false;
    }
  }
  // Whatever else the message holds (other types; extra trailing elements) is skipped.
  for (std::size_t i = used; i < n; ++i) {
    if (!c.skip()) return false;
  }
  if (!c.at_end()) {
    error_ = "bytes after a MessagePack hub message's array";
    return false;
  }
  return true;
}

}  // namespace wirehub::bench
