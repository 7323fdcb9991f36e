#include "hub/messages.hpp"

#include <charconv>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "hub/framing.hpp"
#include "hub/json_invocation.hpp"

namespace wirehub::hub {
namespace {

using nlohmann::json;

using Status = ParseResult::Status;

// Forgets everything but the buffers' capacity.
void reset(Message& m) noexcept {
  m.type = MessageType::Ping;
  m.invocation_id.clear();
  m.target.clear();
  m.arguments.clear();
  m.stream_ids.clear();
  if (!m.item.is_null()) m.item = nullptr;
  m.completion = CompletionKind::Void;
  if (!m.result.is_null()) m.result = nullptr;
  m.error.clear();
  m.allow_reconnect = false;
  m.sequence_id = 0;
}

Status failed(std::string& error, std::string why) {
  error = std::move(why);
  return Status::Error;
}

std::string missing(std::string_view name) { return "Missing required property '" + std::string(name) + "'."; }

constexpr bool known_type(std::uint64_t n) noexcept { return n >= 1 && n <= 9; }

// ---- JSON writing -----------------------------------------------------------------

// The length of the valid UTF-8 sequence at s[i] (complete), or else of the maximal
// subpart of one, which is replaced by a single U+FFFD — Unicode's recommended practice,
// and what nlohmann's `replace` handler does inside the values we dump.
std::size_t utf8_sequence(std::string_view s, std::size_t i, bool& complete) noexcept {
  const auto lead = static_cast<unsigned char>(s[i]);
  std::size_t continuation = 0;
  unsigned char lo = 0x80, hi = 0xbf;  // the range of the next byte (RFC 3629 section 4)
  if (lead >= 0xc2 && lead <= 0xdf) {
    continuation = 1;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    continuation = 2;
    if (lead == 0xe0) lo = 0xa0;       // no overlong forms
    if (lead == 0xed) hi = 0x9f;       // no surrogates
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    continuation = 3;
    if (lead == 0xf0) lo = 0x90;       // no overlong forms
    if (lead == 0xf4) hi = 0x8f;       // nothing above U+10FFFF
  } else {
    complete = false;
    return 1;
  }
  std::size_t n = 1;
  for (; n <= continuation && i + n < s.size(); ++n) {
    const auto c = static_cast<unsigned char>(s[i + n]);
    if (c < lo || c > hi) break;
    lo = 0x80;
    hi = 0xbf;
  }
  complete = n == continuation + 1;
  return n;
}

// Appends s as a JSON string: quotes, backslashes and control characters escaped, and
// invalid UTF-8 replaced by U+FFFD (a writer must not fail on what an app gave it).
void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t copied = 0;  // s[copied, i) is plain text still to copy
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      bool complete = false;
      const std::size_t n = utf8_sequence(s, i, complete);
      if (complete) {
        i += n;
        continue;
      }
      out.append(s.substr(copied, i - copied));
      out.append("\xef\xbf\xbd");
      i += n;
      copied = i;
      continue;
    }
    out.append(s.substr(copied, i - copied));
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\b': out.append("\\b"); break;
      case '\f': out.append("\\f"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      default: {
        const char u[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
        out.append(u, sizeof u);
      }
    }
    copied = ++i;
  }
  out.append(s.substr(copied));
  out.push_back('"');
}

template <typename Integer>
void append_decimal(std::string& out, Integer n) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
  out.append(digits, end);
}

// Dumps a value straight into out, as json::dump() would with invalid UTF-8 replaced.
// Strings, integers, booleans and null are written here (the same bytes as nlohmann's
// serializer, whose set-up costs more than the value: an allocation and a localeconv());
// the rest by nlohmann's serializer, what dump() itself uses, with the `replace` handler
// (invalid UTF-8 in strings becomes U+FFFD instead of an exception).
void append_json_value(std::string& out, const json& v) {
  switch (v.type()) {
    case json::value_t::null: out.append("null"); return;
    case json::value_t::boolean: out.append(v.get_ref<const json::boolean_t&>() ? "true" : "false"); return;
    case json::value_t::number_integer: append_decimal(out, v.get_ref<const json::number_integer_t&>()); return;
    case json::value_t::number_unsigned: append_decimal(out, v.get_ref<const json::number_unsigned_t&>()); return;
    case json::value_t::string: append_json_string(out, v.get_ref<const json::string_t&>()); return;
    default: break;
  }
  nlohmann::detail::serializer<json> s(nlohmann::detail::output_adapter<char>(out), ' ',
                                       json::error_handler_t::replace);
  s.dump(v, /*pretty_print=*/false, /*ensure_ascii=*/false, /*indent_step=*/0);
}

void append_json_arguments(std::string& out, const Arguments& a) {
  if (a.on_wire()) {
    append_json_value(out, a.to_json());
  } else if (a.held().is_null()) {
    out.append("[]");
  } else {
    append_json_value(out, a.held());
  }
}

void append_json_id(std::string& out, const Message& m) {
  out.append(",\"invocationId\":");
  append_json_string(out, m.invocation_id);
}

// ---- JSON parsing -----------------------------------------------------------------

// Whether no array or object in text opens more than kMaxDepth deep. A cheap pass before
// the parser, which would otherwise build (and the app later walk recursively) any depth.
// Brackets inside strings do not count; for invalid JSON the answer does not matter, the
// parser refuses it anyway.
bool within_depth(std::string_view text) noexcept {
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxDepth) return false;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return true;
}

// ASP.NET's names for JSON token types, used in its "Expected a JSON Object." message.
const char* token_type_name(const json& v) noexcept {
  switch (v.type()) {
    case json::value_t::null: return "Null";
    case json::value_t::boolean: return "Boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "Integer";
    case json::value_t::number_float: return "Float";
    case json::value_t::string: return "String";
    case json::value_t::array: return "Array";
    default: return "Object";
  }
}

// The properties of one parsed JSON message object. Each reader returns false with
// `error` set when a property is missing or has the wrong type; values are moved out of
// the document.
class JsonFields {
 public:
  explicit JsonFields(json& object) : object_(object) {}

  std::string error;

  // The property, or null when it is absent or JSON null (both mean "not given").
  json* find(std::string_view name) {
    auto it = object_.find(name);
    return it == object_.end() || it->is_null() ? nullptr : &*it;
  }

  bool wrong_type(std::string_view name, std::string_view type) {
    error = "Expected '" + std::string(name) + "' to be of type " + std::string(type) + ".";
    return false;
  }

  bool optional_string(std::string_view name, std::string& out) {
    json* v = find(name);
    if (!v) return true;
    if (!v->is_string()) return wrong_type(name, "String");
    out = std::move(v->get_ref<std::string&>());
    return true;
  }

  bool required_string(std::string_view name, std::string& out) {
    if (!find(name)) {
      error = missing(name);
      return false;
    }
    return optional_string(name, out);
  }

  // A non-empty invocationId (all types but Invocation need one).
  bool required_id(std::string& out) {
    if (!required_string("invocationId", out)) return false;
    if (out.empty()) error = missing("invocationId");
    return !out.empty();
  }

  // "headers": an object of strings, or absent. Its contents are not used.
  bool headers() {
    const json* h = find("headers");
    if (!h) return true;
    if (!h->is_object()) return wrong_type("headers", "Object");
    for (auto it = h->begin(); it != h->end(); ++it) {
      if (!it->is_string()) {
        error = "Expected header '" + it.key() + "' to be of type String.";
        return false;
      }
    }
    return true;
  }

  bool invocation(Message& m, bool id_required) {
    if (id_required ? !required_id(m.invocation_id) : !optional_string("invocationId", m.invocation_id)) return false;
    if (!required_string("target", m.target)) return false;
    json* args = find("arguments");
    if (!args) {
      error = missing("arguments");
      return false;
    }
    if (!args->is_array()) return wrong_type("arguments", "Array");
    m.arguments = std::move(*args);
    json* ids = find("streamIds");
    if (!ids) return true;
    if (!ids->is_array()) return wrong_type("streamIds", "Array");
    m.stream_ids.reserve(ids->size());
    for (json& id : *ids) {
      if (!id.is_string()) return wrong_type("streamIds", "Array of String");
      m.stream_ids.push_back(std::move(id.get_ref<std::string&>()));
    }
    return true;
  }

  bool completion(Message& m) {
    if (!required_id(m.invocation_id)) return false;
    const bool has_error = find("error") != nullptr;
    // A present "result" counts even when null: that is a null result, not a void one.
    auto result = object_.find("result");
    const bool has_result = result != object_.end();
    if (has_error && has_result) {
      error = "The 'error' and 'result' properties are mutually exclusive.";
      return false;
    }
    if (has_error) {
      m.completion = CompletionKind::Error;
      return optional_string("error", m.error);
    }
    if (has_result) {
      m.completion = CompletionKind::Result;
      m.result = std::move(*result);
    }
    return true;
  }

  bool close(Message& m) {
    if (!optional_string("error", m.error)) return false;
    const json* reconnect = find("allowReconnect");
    if (!reconnect) return true;
    if (!reconnect->is_boolean()) return wrong_type("allowReconnect", "Boolean");
    m.allow_reconnect = reconnect->get<bool>();
    return true;
  }

  bool sequence_id(Message& m) {
    const json* id = find("sequenceId");
    if (!id) {
      error = missing("sequenceId");
      return false;
    }
    if (!id->is_number_integer() ||
        (id->is_number_unsigned() && id->get<std::uint64_t>() > std::uint64_t{INT64_MAX})) {
      return wrong_type("sequenceId", "Integer");
    }
    m.sequence_id = id->get<std::int64_t>();
    return true;
  }

 private:
  json& object_;
};

// ---- MessagePack reading ----------------------------------------------------------

// A cursor over one MessagePack message. Each reader consumes its element only when it
// has the expected type (and returns false otherwise, leaving the cursor where it was);
// an integer above INT64_MAX is consumed and reported as OutOfRange.
class MsgpackReader {
 public:
  explicit MsgpackReader(std::string_view bytes)
      : p_(reinterpret_cast<const unsigned char*>(bytes.data())), end_(p_ + bytes.size()) {}

  bool at_end() const noexcept { return p_ == end_; }

  bool array_header(std::uint64_t& n) noexcept {
    if (at_end()) return false;
    const unsigned char b = *p_;
    if (b >= 0x90 && b <= 0x9f) {
      n = b & 0x0f;
      ++p_;
      return true;
    }
    return sized_header(b, 0xdc, n);
  }

  bool map_header(std::uint64_t& n) noexcept {
    if (at_end()) return false;
    const unsigned char b = *p_;
    if (b >= 0x80 && b <= 0x8f) {
      n = b & 0x0f;
      ++p_;
      return true;
    }
    return sized_header(b, 0xde, n);
  }

  bool next_is_array() const noexcept {
    return !at_end() && ((*p_ >= 0x90 && *p_ <= 0x9f) || *p_ == 0xdc || *p_ == 0xdd);
  }

  bool next_is_string() const noexcept { return !at_end() && ((*p_ >= 0xa0 && *p_ <= 0xbf) || (*p_ >= 0xd9 && *p_ <= 0xdb)); }

  bool nil() noexcept {
    if (at_end() || *p_ != 0xc0) return false;
    ++p_;
    return true;
  }

  bool boolean(bool& v) noexcept {
    if (at_end() || (*p_ != 0xc2 && *p_ != 0xc3)) return false;
    v = *p_++ == 0xc3;
    return true;
  }

  enum class Int : std::uint8_t { Ok, NotInteger, OutOfRange /* above INT64_MAX */ };
  Int integer(std::int64_t& v) noexcept {
    if (at_end()) return Int::NotInteger;
    const unsigned char b = *p_;
    if (b <= 0x7f || b >= 0xe0) {  // positive and negative fixint
      v = static_cast<std::int8_t>(b);
      ++p_;
      return Int::Ok;
    }
    if (b < 0xcc || b > 0xd3) return Int::NotInteger;
    const std::size_t size = std::size_t{1} << ((b - 0xcc) & 3);  // 1, 2, 4, 8 bytes
    if (static_cast<std::size_t>(end_ - p_) < 1 + size) return Int::NotInteger;
    const std::uint64_t raw = big_endian(p_ + 1, size);
    p_ += 1 + size;
    if (b <= 0xcf) {  // uint 8..64
      if (raw > std::uint64_t{INT64_MAX}) return Int::OutOfRange;
      v = static_cast<std::int64_t>(raw);
    } else {  // int 8..64: sign-extend from the field's width
      const unsigned shift = 64 - 8 * static_cast<unsigned>(size);
      v = static_cast<std::int64_t>(raw << shift) >> shift;
    }
    return Int::Ok;
  }

  bool string(std::string& out) {
    if (at_end()) return false;
    const unsigned char b = *p_;
    std::size_t header = 1;
    std::uint64_t length = 0;
    if (b >= 0xa0 && b <= 0xbf) {
      length = b & 0x1f;
    } else if (b >= 0xd9 && b <= 0xdb) {
      header = 1 + (std::size_t{1} << (b - 0xd9));  // str 8, 16, 32
      if (static_cast<std::size_t>(end_ - p_) < header) return false;
      length = big_endian(p_ + 1, header - 1);
    } else {
      return false;
    }
    if (static_cast<std::uint64_t>(end_ - p_) - header < length) return false;
    out.assign(reinterpret_cast<const char*>(p_ + header), length);
    p_ += header + length;
    return true;
  }

  // Reads one value whose containers start at depth base_depth + 1 into out.
  bool value(json& out, std::size_t base_depth) {
    const unsigned char* start = p_;
    if (!skip(base_depth)) return false;
    out = json::from_msgpack(start, p_, /*strict=*/true, /*allow_exceptions=*/false);
    if (out.is_discarded()) {  // e.g. a map with a key that is not a string
      p_ = start;
      return false;
    }
    return true;
  }

  // Reads an arguments array (at depth 2) into args as its wire bytes, each element
  // validated as value() validates: what value() accepts, this accepts, and the other way
  // round.
  bool arguments(Arguments& args) {
    const unsigned char* start = p_;
    std::uint64_t n = 0;
    if (!array_header(n)) return false;
    for (std::uint64_t i = 0; i < n; ++i) {
      const unsigned char* element = p_;
      if (!skip(2, /*string_keys=*/true)) {
        p_ = start;
        return false;
      }
      args.add(static_cast<std::size_t>(element - start), static_cast<std::size_t>(p_ - element));
    }
    args.set_wire(HubProtocol::MessagePack,
                  std::string_view(reinterpret_cast<const char*>(start), static_cast<std::size_t>(p_ - start)));
    return true;
  }

  // Steps over one well-formed value whose containers start at depth base_depth + 1,
  // refusing deeper nesting and, with string_keys, maps with a key that is not a string
  // (which nlohmann's reader refuses). Iterative: the input chooses the depth.
  bool skip(std::size_t base_depth, bool string_keys = false) noexcept {
    const unsigned char* start = p_;
    std::uint64_t pending[kMaxDepth + 1];  // elements left in each open container; [0]: the value
    bool map[kMaxDepth + 1];               // whether that container is a map (keys, values alternating)
    std::size_t open = 0;
    pending[0] = 1;
    map[0] = false;
    for (;;) {
      while (pending[open] == 0) {
        if (open == 0) return true;
        --open;
      }
      // A map of n entries holds 2n elements, a key where an even number is left.
      const bool key = string_keys && map[open] && pending[open] % 2 == 0;
      --pending[open];
      std::uint64_t elements = 0;
      bool container = false, is_map = false;
      if ((key && !next_is_string()) || !skip_one(elements, container, is_map) ||
          (container && base_depth + open + 1 > kMaxDepth)) {
        p_ = start;
        return false;
      }
      if (container && elements > 0) {
        pending[++open] = elements;
        map[open] = is_map;
      }
    }
  }

 private:
  static std::uint64_t big_endian(const unsigned char* p, std::size_t n) noexcept {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
    return v;
  }

  // array 16/32 (first = 0xdc) or map 16/32 (first = 0xde).
  bool sized_header(unsigned char b, unsigned char first, std::uint64_t& n) noexcept {
    if (b != first && b != first + 1) return false;
    const std::size_t size = b == first ? 2 : 4;
    if (static_cast<std::size_t>(end_ - p_) < 1 + size) return false;
    n = big_endian(p_ + 1, size);
    p_ += 1 + size;
    return true;
  }

  // Steps over one element's own bytes; for an array or map, its header only (elements:
  // how many values follow inside it, two per map entry).
  bool skip_one(std::uint64_t& elements, bool& container, bool& is_map) noexcept {
    if (at_end()) return false;
    const unsigned char b = *p_;
    const auto left = static_cast<std::uint64_t>(end_ - p_);
    std::uint64_t size = 0;  // bytes of this element
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
      size = 1;
    } else if (b <= 0x8f || b == 0xde || b == 0xdf) {
      container = true;
      is_map = true;
      if (!map_header(elements)) return false;
      elements *= 2;
      return true;
    } else if (b <= 0x9f || b == 0xdc || b == 0xdd) {
      container = true;
      return array_header(elements);
    } else if (b <= 0xbf) {
      size = 1 + (b & 0x1fu);
    } else if (b >= 0xc4 && b <= 0xc9) {  // bin 8/16/32, ext 8/16/32 (+ a type byte)
      const bool ext = b >= 0xc7;
      const std::size_t width = std::size_t{1} << ((b - 0xc4) % 3);
      if (left < 1 + width) return false;
      size = 1 + width + (ext ? 1 : 0) + big_endian(p_ + 1, width);
    } else if (b == 0xca || b == 0xcb) {  // float 32/64
      size = b == 0xca ? 5 : 9;
    } else if (b >= 0xcc && b <= 0xd3) {  // uint/int 8..64
      size = 1 + (std::uint64_t{1} << ((b - 0xcc) & 3));
    } else if (b >= 0xd4 && b <= 0xd8) {  // fixext 1..16: a type byte and the data
      size = 2 + (std::uint64_t{1} << (b - 0xd4));
    } else if (b >= 0xd9 && b <= 0xdb) {  // str 8/16/32
      const std::size_t width = std::size_t{1} << (b - 0xd9);
      if (left < 1 + width) return false;
      size = 1 + width + big_endian(p_ + 1, width);
    } else {
      return false;  // 0xc1 is never used
    }
    if (size > left) return false;
    p_ += size;
    return true;
  }

  const unsigned char* p_;
  const unsigned char* end_;
};

// The elements of one MessagePack message after its type: each `need` claims the next
// element, or fails with "Missing required property" when the array has no more.
class MsgpackFields {
 public:
  MsgpackFields(MsgpackReader& r, std::uint64_t elements) : r_(r), left_(elements) {}

  std::string error;

  bool need(std::string_view name) {
    if (left_ == 0) {
      error = missing(name);
      return false;
    }
    --left_;
    return true;
  }

  bool optional() {
    if (left_ == 0) return false;
    --left_;
    return true;
  }

  bool wrong_type(std::string_view name, std::string_view type) {
    error = "Reading '" + std::string(name) + "' as " + std::string(type) + " failed.";
    return false;
  }

  // A map of strings, or nil. Its contents are not used.
  bool headers() {
    if (!need("headers")) return false;
    if (r_.nil()) return true;
    std::uint64_t n = 0;
    if (!r_.map_header(n)) return wrong_type("headers", "Map");
    std::string scratch;
    for (std::uint64_t i = 0; i < n; ++i) {
      if (!r_.string(scratch) || !r_.string(scratch)) return wrong_type("headers", "Map of String");
    }
    return true;
  }

  // nil and "" mean "no id", which only an Invocation may have.
  bool id(Message& m, bool required) {
    if (!need("invocationId")) return false;
    if (!r_.nil() && !r_.string(m.invocation_id)) return wrong_type("invocationId", "String");
    if (required && m.invocation_id.empty()) {
      error = missing("invocationId");
      return false;
    }
    return true;
  }

  bool string(std::string_view name, std::string& out) {
    if (!need(name)) return false;
    return r_.string(out) || wrong_type(name, "String");
  }

  bool value(std::string_view name, json& out) {
    if (!need(name)) return false;
    return r_.value(out, 1) || unreadable(name);
  }

  bool unreadable(std::string_view name) {
    error = "Reading '" + std::string(name) + "' failed: invalid MessagePack, a map key that is not a string, "
            "or nesting deeper than " + std::to_string(kMaxDepth) + ".";
    return false;
  }

  bool invocation(Message& m, bool id_required) {
    if (!headers() || !id(m, id_required) || !string("target", m.target)) return false;
    if (left_ > 0 && !r_.next_is_array()) return wrong_type("arguments", "Array");
    if (!need("arguments")) return false;
    if (!r_.arguments(m.arguments)) return unreadable("arguments");
    if (!optional() || r_.nil()) return true;  // 5 elements: no upload streams
    std::uint64_t n = 0;
    if (!r_.array_header(n)) return wrong_type("streamIds", "Array");
    for (std::uint64_t i = 0; i < n; ++i) {
      if (!r_.string(m.stream_ids.emplace_back())) return wrong_type("streamIds", "Array of String");
    }
    return true;
  }

  bool completion(Message& m) {
    if (!headers() || !id(m, true) || !need("resultKind")) return false;
    std::int64_t kind = 0;
    if (r_.integer(kind) != MsgpackReader::Int::Ok || kind < 1 || kind > 3) {
      error = "Invalid invocation result kind.";
      return false;
    }
    if (kind == 1) {
      m.completion = CompletionKind::Error;
      return string("error", m.error);
    }
    if (kind == 2) return true;
    m.completion = CompletionKind::Result;
    return value("result", m.result);
  }

  bool close(Message& m) {
    if (!need("error")) return false;
    if (!r_.nil() && !r_.string(m.error)) return wrong_type("error", "String");
    if (!optional() || r_.nil()) return true;
    return r_.boolean(m.allow_reconnect) || wrong_type("allowReconnect", "Boolean");
  }

  bool sequence_id(Message& m) {
    if (!need("sequenceId")) return false;
    return r_.integer(m.sequence_id) == MsgpackReader::Int::Ok || wrong_type("sequenceId", "Int64");
  }

  // Steps over elements a later protocol version may add.
  bool skip_rest() {
    for (; left_ > 0; --left_) {
      if (!r_.skip(1)) {
        error = "Reading an extra element failed: invalid MessagePack or nesting deeper than " +
                std::to_string(kMaxDepth) + ".";
        return false;
      }
    }
    return true;
  }

 private:
  MsgpackReader& r_;
  std::uint64_t left_;
};

// ---- MessagePack writing ----------------------------------------------------------

class MsgpackWriter {
 public:
  explicit MsgpackWriter(std::string& out) : out_(out) {}

  void array(std::uint64_t n) {
    if (n <= 15) {
      out_.push_back(static_cast<char>(0x90 | n));
    } else if (n <= 0xffff) {
      sized(0xdc, n, 2);
    } else {
      sized(0xdd, n, 4);  // more elements than 2^32 - 1 cannot fit in 2^31 - 1 bytes anyway
    }
  }
  void nil() { out_.push_back('\xc0'); }
  void empty_map() { out_.push_back('\x80'); }
  void boolean(bool v) { out_.push_back(v ? '\xc3' : '\xc2'); }

  // The shortest encoding, as MessagePack asks of writers.
  void integer(std::int64_t v) {
    if (v >= -32 && v <= 127) {
      out_.push_back(static_cast<char>(v));  // positive or negative fixint
    } else if (v >= 0) {
      unsigned_integer(static_cast<std::uint64_t>(v));
    } else if (v >= INT8_MIN) {
      sized(0xd0, static_cast<std::uint64_t>(v), 1);
    } else if (v >= INT16_MIN) {
      sized(0xd1, static_cast<std::uint64_t>(v), 2);
    } else if (v >= INT32_MIN) {
      sized(0xd2, static_cast<std::uint64_t>(v), 4);
    } else {
      sized(0xd3, static_cast<std::uint64_t>(v), 8);
    }
  }

  void unsigned_integer(std::uint64_t u) {
    if (u <= 127) {
      out_.push_back(static_cast<char>(u));  // positive fixint
    } else if (u <= 0xff) {
      sized(0xcc, u, 1);
    } else if (u <= 0xffff) {
      sized(0xcd, u, 2);
    } else if (u <= 0xffffffff) {
      sized(0xce, u, 4);
    } else {
      sized(0xcf, u, 8);
    }
  }

  void string(std::string_view s) {
    const std::uint64_t n = s.size();
    if (n <= 31) {
      out_.push_back(static_cast<char>(0xa0 | n));
    } else if (n <= 0xff) {
      sized(0xd9, n, 1);
    } else if (n <= 0xffff) {
      sized(0xda, n, 2);
    } else if (n <= 0xffffffff) {
      sized(0xdb, n, 4);
    } else {
      throw std::length_error("hub message over 2^31 - 1 bytes");
    }
    out_.append(s);
  }

  // The bytes json::to_msgpack writes: strings, integers, booleans and nil here (the same
  // shortest forms), the rest by nlohmann (e.g. a double that a float holds exactly
  // becomes a float 32).
  void value(const json& v) {
    switch (v.type()) {
      case json::value_t::null: nil(); return;
      case json::value_t::boolean: boolean(v.get_ref<const json::boolean_t&>()); return;
      case json::value_t::number_integer: integer(v.get_ref<const json::number_integer_t&>()); return;
      case json::value_t::number_unsigned: unsigned_integer(v.get_ref<const json::number_unsigned_t&>()); return;
      case json::value_t::string: string(v.get_ref<const json::string_t&>()); return;
      default: break;
    }
    json::to_msgpack(v, nlohmann::detail::output_adapter<char>(out_));
  }

  void arguments(const Arguments& a) {
    if (a.on_wire()) {
      value(a.to_json());
    } else if (a.held().is_null()) {
      array(0);
    } else {
      value(a.held());
    }
  }

 private:
  // A type byte and the low `bytes` bytes of v, big-endian.
  void sized(unsigned char type, std::uint64_t v, std::size_t bytes) {
    char b[9];
    b[0] = static_cast<char>(type);
    for (std::size_t i = 0; i < bytes; ++i) b[bytes - i] = static_cast<char>((v >> (8 * i)) & 0xff);
    out_.append(b, bytes + 1);
  }

  std::string& out_;
};

void write_messagepack_body(MsgpackWriter& w, const Message& m) {
  switch (m.type) {
    case MessageType::Invocation:
    case MessageType::StreamInvocation:
      // 5 elements without upload streams, as the JS client writes them too.
      w.array(m.stream_ids.empty() ? 5 : 6);
      w.integer(static_cast<std::int64_t>(m.type));
      w.empty_map();
      if (m.invocation_id.empty()) {
        w.nil();
      } else {
        w.string(m.invocation_id);
      }
      w.string(m.target);
      w.arguments(m.arguments);
      if (!m.stream_ids.empty()) {
        w.array(m.stream_ids.size());
        for (const std::string& id : m.stream_ids) w.string(id);
      }
      return;
    case MessageType::StreamItem:
      w.array(4);
      w.integer(2);
      w.empty_map();
      w.string(m.invocation_id);
      w.value(m.item);
      return;
    case MessageType::Completion:
      // [3, headers, id, kind, value?]: kind 1 = error, 2 = void (no value), 3 = result.
      w.array(m.completion == CompletionKind::Void ? 4 : 5);
      w.integer(3);
      w.empty_map();
      w.string(m.invocation_id);
      if (m.completion == CompletionKind::Error) {
        w.integer(1);
        w.string(m.error);
      } else if (m.completion == CompletionKind::Result) {
        w.integer(3);
        w.value(m.result);
      } else {
        w.integer(2);
      }
      return;
    case MessageType::CancelInvocation:
      w.array(3);
      w.integer(5);
      w.empty_map();
      w.string(m.invocation_id);
      return;
    case MessageType::Ping:
      w.array(1);
      w.integer(6);
      return;
    case MessageType::Close:
      // The JS client refuses [7] alone: the error element is always there, nil for none.
      w.array(m.allow_reconnect ? 3 : 2);
      w.integer(7);
      if (m.error.empty()) {
        w.nil();
      } else {
        w.string(m.error);
      }
      if (m.allow_reconnect) w.boolean(true);
      return;
    case MessageType::Ack:
    case MessageType::Sequence:
      w.array(2);
      w.integer(static_cast<std::int64_t>(m.type));
      w.integer(m.sequence_id);
      return;
  }
  // A type number outside the enumeration: the bare [type], which receivers ignore.
  w.array(1);
  w.integer(static_cast<std::int64_t>(m.type));
}

Status parse_json_into(std::string_view text, Message& m, std::string& error) {
  reset(m);
  if (read_json_invocation(text, m)) return Status::Ok;
  // The general path: a nlohmann document, then its properties.
  reset(m);
  if (!within_depth(text)) {
    return failed(error, "The message nests deeper than " + std::to_string(kMaxDepth) + " levels.");
  }
  json v = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (v.is_discarded()) return failed(error, "Error reading JSON.");
  if (!v.is_object()) {
    return failed(error,
                  "Unexpected JSON Token Type '" + std::string(token_type_name(v)) + "'. Expected a JSON Object.");
  }
  JsonFields f(v);
  const json* type = f.find("type");
  if (!type) return failed(error, missing("type"));
  if (!type->is_number_integer()) return failed(error, "Expected 'type' to be of type Integer.");
  // Non-negative integers parse as unsigned; a negative one is no known type either.
  const std::uint64_t number = type->is_number_unsigned() ? type->get<std::uint64_t>() : 0;
  if (!known_type(number)) return Status::Ignored;
  if (!f.headers()) return failed(error, std::move(f.error));

  m.type = static_cast<MessageType>(number);
  bool good = true;
  switch (m.type) {
    case MessageType::Invocation: good = f.invocation(m, /*id_required=*/false); break;
    case MessageType::StreamInvocation: good = f.invocation(m, /*id_required=*/true); break;
    case MessageType::StreamItem: {
      good = f.required_id(m.invocation_id);
      if (!good) break;
      auto item = v.find("item");  // present even when null
      if (item == v.end()) {
        f.error = missing("item");
        good = false;
      } else {
        m.item = std::move(*item);
      }
      break;
    }
    case MessageType::Completion: good = f.completion(m); break;
    case MessageType::CancelInvocation: good = f.required_id(m.invocation_id); break;
    case MessageType::Ping: break;
    case MessageType::Close: good = f.close(m); break;
    case MessageType::Ack:
    case MessageType::Sequence: good = f.sequence_id(m); break;
  }
  return good ? Status::Ok : failed(error, std::move(f.error));
}

Status parse_messagepack_into(std::string_view bytes, Message& m, std::string& error) {
  reset(m);
  MsgpackReader r(bytes);
  std::uint64_t elements = 0;
  if (!r.array_header(elements)) return failed(error, "Expected a MessagePack array.");
  if (elements == 0) return failed(error, missing("type"));
  std::int64_t number = 0;
  switch (r.integer(number)) {
    case MsgpackReader::Int::Ok: break;
    case MsgpackReader::Int::OutOfRange: return Status::Ignored;
    case MsgpackReader::Int::NotInteger: return failed(error, "Reading 'type' as Int32 failed.");
  }
  if (number < 1 || !known_type(static_cast<std::uint64_t>(number))) return Status::Ignored;

  MsgpackFields f(r, elements - 1);
  m.type = static_cast<MessageType>(number);
  bool good = true;
  switch (m.type) {
    case MessageType::Invocation: good = f.invocation(m, /*id_required=*/false); break;
    case MessageType::StreamInvocation: good = f.invocation(m, /*id_required=*/true); break;
    case MessageType::StreamItem: good = f.headers() && f.id(m, true) && f.value("item", m.item); break;
    case MessageType::Completion: good = f.completion(m); break;
    case MessageType::CancelInvocation: good = f.headers() && f.id(m, true); break;
    case MessageType::Ping: break;
    case MessageType::Close: good = f.close(m); break;
    case MessageType::Ack:
    case MessageType::Sequence: good = f.sequence_id(m); break;
  }
  if (!good || !f.skip_rest()) return failed(error, std::move(f.error));
  if (!r.at_end()) return failed(error, "Unexpected bytes after the message's array.");
  return Status::Ok;
}

ParseResult parse_into_result(HubProtocol p, std::string_view piece) {
  ParseResult r;
  r.status = parse_message(p, piece, r.message, r.error);
  if (r.status != Status::Ok) r.message = Message{};
  return r;
}

}  // namespace

ParseResult parse_json_message(std::string_view text) { return parse_into_result(HubProtocol::Json, text); }

ParseResult parse_messagepack_message(std::string_view bytes) {
  return parse_into_result(HubProtocol::MessagePack, bytes);
}

ParseResult parse_message(HubProtocol p, std::string_view framed_payload_piece) {
  return parse_into_result(p, framed_payload_piece);
}

Status parse_message(HubProtocol p, std::string_view framed_payload_piece, Message& m, std::string& error) {
  return p == HubProtocol::Json ? parse_json_into(framed_payload_piece, m, error)
                                : parse_messagepack_into(framed_payload_piece, m, error);
}

void append_json_message(std::string& out, const Message& m) {
  out.append("{\"type\":");
  append_decimal(out, static_cast<unsigned>(m.type));
  switch (m.type) {
    case MessageType::Invocation:
    case MessageType::StreamInvocation:
      // Never "invocationId":null or "": the JS client refuses both; absent = no answer wanted.
      if (!m.invocation_id.empty()) append_json_id(out, m);
      out.append(",\"target\":");
      append_json_string(out, m.target);
      out.append(",\"arguments\":");
      append_json_arguments(out, m.arguments);
      if (!m.stream_ids.empty()) {
        out.append(",\"streamIds\":[");
        for (std::size_t i = 0; i < m.stream_ids.size(); ++i) {
          if (i) out.push_back(',');
          append_json_string(out, m.stream_ids[i]);
        }
        out.push_back(']');
      }
      break;
    case MessageType::StreamItem:
      append_json_id(out, m);
      out.append(",\"item\":");  // always present, null included
      append_json_value(out, m.item);
      break;
    case MessageType::Completion:
      append_json_id(out, m);
      if (m.completion == CompletionKind::Error) {
        out.append(",\"error\":");
        append_json_string(out, m.error);
      } else if (m.completion == CompletionKind::Result) {
        out.append(",\"result\":");
        append_json_value(out, m.result);
      }
      break;
    case MessageType::CancelInvocation: append_json_id(out, m); break;
    case MessageType::Ping: break;
    case MessageType::Close:
      if (!m.error.empty()) {
        out.append(",\"error\":");
        append_json_string(out, m.error);
      }
      if (m.allow_reconnect) out.append(",\"allowReconnect\":true");
      break;
    case MessageType::Ack:
    case MessageType::Sequence:
      out.append(",\"sequenceId\":");
      append_decimal(out, m.sequence_id);
      break;
  }
  out.push_back('}');
  out.push_back(kRecordSeparator);
}

namespace {

// Appends the VarInt-framed message that body writes.
template <class Body>
void append_messagepack_framed(std::string& out, Body&& body) {
  // The length prefix is known only after the body: write the body after a one-byte
  // prefix (right for messages under 128 bytes) and make room for a longer one after.
  const std::size_t start = out.size();
  try {
    out.push_back('\0');
    MsgpackWriter w(out);
    body(w);
    const std::size_t length = out.size() - start - 1;
    if (length > kMaxVarIntLength) throw std::length_error("hub message over 2^31 - 1 bytes");
    char prefix[5];
    const std::size_t n = write_varint(static_cast<std::uint32_t>(length), prefix);
    if (n > 1) out.insert(start + 1, n - 1, '\0');
    std::memcpy(out.data() + start, prefix, n);
  } catch (...) {
    out.resize(start);  // out as it was: no half message ever goes out
    throw;
  }
}

}  // namespace

void append_messagepack_message(std::string& out, const Message& m) {
  append_messagepack_framed(out, [&m](MsgpackWriter& w) { write_messagepack_body(w, m); });
}

void append_string_completion(std::string& out, HubProtocol p, std::string_view invocation_id,
                              std::string_view text) {
  if (p == HubProtocol::Json) {
    out.append("{\"type\":3,\"invocationId\":");
    append_json_string(out, invocation_id);
    out.append(",\"result\":");
    append_json_string(out, text);
    out.push_back('}');
    out.push_back(kRecordSeparator);
    return;
  }
  append_messagepack_framed(out, [&](MsgpackWriter& w) {
    w.array(5);
    w.integer(3);
    w.empty_map();
    w.string(invocation_id);
    w.integer(3);
    w.string(text);
  });
}

void append_message(std::string& out, HubProtocol p, const Message& m) {
  if (p == HubProtocol::Json) {
    append_json_message(out, m);
  } else {
    append_messagepack_message(out, m);
  }
}

}  // namespace wirehub::hub
