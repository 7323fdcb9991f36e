#include "hub/json_invocation.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>

namespace wirehub::hub {
namespace {

int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A forward cursor that validates JSON as nlohmann's lexer and parser do (RFC 8259, with
// the same UTF-8 and \u rules). Each reader returns false on anything it does not accept;
// the cursor's position is then meaningless and the caller gives up.
class Cursor {
 public:
  explicit Cursor(std::string_view text) : p_(text.data()), end_(text.data() + text.size()) {}

  const char* pos() const noexcept { return p_; }
  bool at_end() const noexcept { return p_ == end_; }
  // The next byte, or 0 at the end (a NUL byte is never valid outside a string either).
  char peek() const noexcept { return p_ == end_ ? '\0' : *p_; }

  void skip_whitespace() noexcept {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }

  bool eat(char c) noexcept {
    if (p_ == end_ || *p_ != c) return false;
    ++p_;
    return true;
  }

  // A string token; body: its text between the quotes, escaped: whether it holds a '\'.
  bool string(std::string_view& body, bool& escaped) noexcept {
    if (!eat('"')) return false;
    const char* start = p_;
    escaped = false;
    for (;;) {
      if (p_ == end_) return false;
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') break;
      if (c < 0x20) return false;  // control characters must be escaped
      if (c == '\\') {
        escaped = true;
        if (!escape()) return false;
      } else if (c < 0x80) {
        ++p_;
      } else if (!utf8()) {
        return false;
      }
    }
    body = std::string_view(start, static_cast<std::size_t>(p_ - start));
    ++p_;
    return true;
  }

  // A number token. Integers that fit 64 bits are integers to nlohmann; every other
  // number is read as a double, and nlohmann refuses one that overflows. A double that
  // underflows nlohmann takes (as 0 or a subnormal) but std::from_chars reports as out
  // of range: refused here too, so the general path decides.
  bool number() noexcept {
    const char* start = p_;
    eat('-');
    if (!eat('0') && !digits()) return false;  // 0, or digits not starting with 0
    bool integer = true;
    if (eat('.')) {
      integer = false;
      if (!digits()) return false;
    }
    if (eat('e') || eat('E')) {
      integer = false;
      if (!eat('+')) eat('-');
      if (!digits()) return false;
    }
    if (integer) {
      std::uint64_t u = 0;
      std::int64_t i = 0;
      const auto r = *start == '-' ? std::from_chars(start, p_, i) : std::from_chars(start, p_, u);
      if (r.ec == std::errc() && r.ptr == p_) return true;
    }
    double d = 0;
    const auto r = std::from_chars(start, p_, d);
    return r.ec == std::errc() && r.ptr == p_ && std::isfinite(d);
  }

  bool literal(std::string_view word) noexcept {
    if (static_cast<std::size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word) return false;
    p_ += word.size();
    return true;
  }

  // Any value; a container opening here is at nesting depth `depth`.
  bool value(std::size_t depth) noexcept {
    switch (peek()) {
      case '{': return object(depth);
      case '[': return array(depth);
      case '"': {
        std::string_view body;
        bool escaped = false;
        return string(body, escaped);
      }
      case 't': return literal("true");
      case 'f': return literal("false");
      case 'n': return literal("null");
      default: return number();
    }
  }

  bool object(std::size_t depth) noexcept {
    if (depth > kMaxDepth || !eat('{')) return false;
    skip_whitespace();
    if (eat('}')) return true;
    for (;;) {
      std::string_view key;
      bool escaped = false;
      if (!string(key, escaped)) return false;
      skip_whitespace();
      if (!eat(':')) return false;
      skip_whitespace();
      if (!value(depth + 1)) return false;
      skip_whitespace();
      if (eat('}')) return true;
      if (!eat(',')) return false;
      skip_whitespace();
    }
  }

  bool array(std::size_t depth) noexcept {
    if (depth > kMaxDepth || !eat('[')) return false;
    skip_whitespace();
    if (eat(']')) return true;
    for (;;) {
      if (!value(depth + 1)) return false;
      skip_whitespace();
      if (eat(']')) return true;
      if (!eat(',')) return false;
      skip_whitespace();
    }
  }

 private:
  bool digits() noexcept {
    const char* start = p_;
    while (p_ != end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    return p_ != start;
  }

  // The 4 hex digits at p_ (after "\u").
  bool code_unit(unsigned& out) noexcept {
    if (end_ - p_ < 4) return false;
    out = 0;
    for (int k = 0; k < 4; ++k) {
      const int d = hex_digit(p_[k]);
      if (d < 0) return false;
      out = out << 4 | static_cast<unsigned>(d);
    }
    p_ += 4;
    return true;
  }

  // An escape at p_ ('\'): one of \" \\ \/ \b \f \n \r \t, or \uXXXX where a high
  // surrogate must be followed by \u and a low one, and a low one may not stand alone.
  bool escape() noexcept {
    ++p_;
    if (p_ == end_) return false;
    const char c = *p_++;
    switch (c) {
      case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't': return true;
      case 'u': break;
      default: return false;
    }
    unsigned unit = 0;
    if (!code_unit(unit)) return false;
    if (unit >= 0xdc00 && unit <= 0xdfff) return false;
    if (unit < 0xd800 || unit > 0xdbff) return true;
    unsigned low = 0;
    return eat('\\') && eat('u') && code_unit(low) && low >= 0xdc00 && low <= 0xdfff;
  }

  // A well-formed UTF-8 sequence at p_ (RFC 3629 section 4: no overlong forms, no
  // surrogates, nothing above U+10FFFF).
  bool utf8() noexcept {
    const auto lead = static_cast<unsigned char>(*p_);
    std::size_t continuation = 0;
    unsigned char lo = 0x80, hi = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) {
      continuation = 1;
    } else if (lead >= 0xe0 && lead <= 0xef) {
      continuation = 2;
      if (lead == 0xe0) lo = 0xa0;
      if (lead == 0xed) hi = 0x9f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      continuation = 3;
      if (lead == 0xf0) lo = 0x90;
      if (lead == 0xf4) hi = 0x8f;
    } else {
      return false;
    }
    if (static_cast<std::size_t>(end_ - p_) <= continuation) return false;
    for (std::size_t n = 1; n <= continuation; ++n) {
      const auto c = static_cast<unsigned char>(p_[n]);
      if (c < lo || c > hi) return false;
      lo = 0x80;
      hi = 0xbf;
    }
    p_ += continuation + 1;
    return true;
  }

  const char* p_;
  const char* end_;
};

// The properties the reader takes apart; any other name is stepped over.
enum class Property : std::uint8_t { Type, InvocationId, Target, Arguments, StreamIds, Headers, Other };

Property property_of(std::string_view name) noexcept {
  if (name == "type") return Property::Type;
  if (name == "invocationId") return Property::InvocationId;
  if (name == "target") return Property::Target;
  if (name == "arguments") return Property::Arguments;
  if (name == "streamIds") return Property::StreamIds;
  if (name == "headers") return Property::Headers;
  return Property::Other;
}

void assign_string(std::string_view body, bool escaped, std::string& out) {
  out.clear();
  if (escaped) {
    decode_json_string(body, out);
  } else {
    out.assign(body);
  }
}

// The value of "arguments" (at depth 2): an array whose elements' ranges go to m.
bool arguments(Cursor& c, Message& m) {
  const char* start = c.pos();
  if (!c.eat('[')) return false;
  c.skip_whitespace();
  if (!c.eat(']')) {
    for (;;) {
      const char* element = c.pos();
      if (!c.value(3)) return false;
      m.arguments.add(static_cast<std::size_t>(element - start), static_cast<std::size_t>(c.pos() - element));
      c.skip_whitespace();
      if (c.eat(']')) break;
      if (!c.eat(',')) return false;
      c.skip_whitespace();
    }
  }
  m.arguments.set_wire(HubProtocol::Json, std::string_view(start, static_cast<std::size_t>(c.pos() - start)));
  return true;
}

// The value of "streamIds": null, or an array of strings.
bool stream_ids(Cursor& c, Message& m) {
  if (c.literal("null")) return true;
  if (!c.eat('[')) return false;
  c.skip_whitespace();
  if (c.eat(']')) return true;
  for (;;) {
    std::string_view body;
    bool escaped = false;
    if (!c.string(body, escaped)) return false;
    assign_string(body, escaped, m.stream_ids.emplace_back());
    c.skip_whitespace();
    if (c.eat(']')) return true;
    if (!c.eat(',')) return false;
    c.skip_whitespace();
  }
}

// The value of "headers": null, or an object of strings (whose contents are not used).
bool headers(Cursor& c) {
  if (c.literal("null")) return true;
  if (!c.eat('{')) return false;
  c.skip_whitespace();
  if (c.eat('}')) return true;
  for (;;) {
    std::string_view body;
    bool escaped = false;
    if (!c.string(body, escaped)) return false;
    c.skip_whitespace();
    if (!c.eat(':')) return false;
    c.skip_whitespace();
    if (!c.string(body, escaped)) return false;
    c.skip_whitespace();
    if (c.eat('}')) return true;
    if (!c.eat(',')) return false;
    c.skip_whitespace();
  }
}

}  // namespace

bool read_json_invocation(std::string_view text, Message& m) {
  m.invocation_id.clear();
  m.target.clear();
  m.arguments.clear();
  m.stream_ids.clear();
  Cursor c(text);
  c.skip_whitespace();
  if (!c.eat('{')) return false;
  c.skip_whitespace();
  bool seen[static_cast<std::size_t>(Property::Other)] = {};
  std::uint64_t type = 0;
  for (;;) {
    std::string_view name;
    bool escaped = false;
    // An escaped name may spell a property we read: the general path sorts that out.
    if (!c.string(name, escaped) || escaped) return false;
    c.skip_whitespace();
    if (!c.eat(':')) return false;
    c.skip_whitespace();
    const Property property = property_of(name);
    if (property != Property::Other) {
      // nlohmann keeps the last of duplicate names; rare enough to leave to it.
      bool& once = seen[static_cast<std::size_t>(property)];
      if (once) return false;
      once = true;
    }
    std::string_view body;
    switch (property) {
      case Property::Type: {
        // A non-negative integer token; "1.0", "-1" or a huge number go the general way.
        const char* start = c.pos();
        if (!c.number()) return false;
        const auto r = std::from_chars(start, c.pos(), type);
        if (r.ec != std::errc() || r.ptr != c.pos()) return false;
        // Not an invocation: no need to read on.
        if (type != static_cast<std::uint64_t>(MessageType::Invocation) &&
            type != static_cast<std::uint64_t>(MessageType::StreamInvocation)) {
          return false;
        }
        break;
      }
      case Property::InvocationId:
        if (c.literal("null")) break;  // as absent: no id
        if (!c.string(body, escaped)) return false;
        assign_string(body, escaped, m.invocation_id);
        break;
      case Property::Target:
        if (!c.string(body, escaped)) return false;
        assign_string(body, escaped, m.target);
        break;
      case Property::Arguments:
        if (!arguments(c, m)) return false;
        break;
      case Property::StreamIds:
        if (!stream_ids(c, m)) return false;
        break;
      case Property::Headers:
        if (!headers(c)) return false;
        break;
      case Property::Other:
        if (!c.value(2)) return false;
        break;
    }
    c.skip_whitespace();
    if (c.eat('}')) break;
    if (!c.eat(',')) return false;
    c.skip_whitespace();
  }
  c.skip_whitespace();
  if (!c.at_end()) return false;
  if (!seen[static_cast<std::size_t>(Property::Type)] || !seen[static_cast<std::size_t>(Property::Target)] ||
      !seen[static_cast<std::size_t>(Property::Arguments)]) {
    return false;
  }
  if (type == static_cast<std::uint64_t>(MessageType::Invocation)) {
    m.type = MessageType::Invocation;
    return true;
  }
  if (type == static_cast<std::uint64_t>(MessageType::StreamInvocation) && !m.invocation_id.empty()) {
    m.type = MessageType::StreamInvocation;
    return true;
  }
  return false;
}

void decode_json_string(std::string_view body, std::string& out) {
  std::size_t copied = 0;  // body[copied, i) is plain text still to copy
  for (std::size_t i = 0; i < body.size();) {
    if (body[i] != '\\') {
      ++i;
      continue;
    }
    out.append(body.substr(copied, i - copied));
    const char c = body[i + 1];
    i += 2;
    switch (c) {
      case 'b': out.push_back('\b'); break;
      case 'f': out.push_back('\f'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 't': out.push_back('\t'); break;
      case 'u': {
        auto unit = [&body](std::size_t at) {
          unsigned v = 0;
          for (std::size_t k = 0; k < 4; ++k) v = v << 4 | static_cast<unsigned>(hex_digit(body[at + k]));
          return v;
        };
        std::uint32_t cp = unit(i);
        i += 4;
        if (cp >= 0xd800 && cp <= 0xdbff) {  // validated: "\uDC00".."\uDFFF" follows
          cp = 0x10000 + ((cp - 0xd800) << 10) + (unit(i + 2) - 0xdc00);
          i += 6;
        }
        char utf8[4];
        std::size_t n = 0;
        if (cp < 0x80) {
          utf8[n++] = static_cast<char>(cp);
        } else if (cp < 0x800) {
          utf8[n++] = static_cast<char>(0xc0 | cp >> 6);
          utf8[n++] = static_cast<char>(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
          utf8[n++] = static_cast<char>(0xe0 | cp >> 12);
          utf8[n++] = static_cast<char>(0x80 | (cp >> 6 & 0x3f));
          utf8[n++] = static_cast<char>(0x80 | (cp & 0x3f));
        } else {
          utf8[n++] = static_cast<char>(0xf0 | cp >> 18);
          utf8[n++] = static_cast<char>(0x80 | (cp >> 12 & 0x3f));
          utf8[n++] = static_cast<char>(0x80 | (cp >> 6 & 0x3f));
          utf8[n++] = static_cast<char>(0x80 | (cp & 0x3f));
        }
        out.append(utf8, n);
        break;
      }
      default: out.push_back(c); break;  // " \ /
    }
    copied = i;
  }
  out.append(body.substr(copied));
}

}  // namespace wirehub::hub
