#include "http/request_parser.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <limits>

#include "http/syntax.hpp"

namespace wirehub::http {

namespace {

constexpr std::size_t npos = std::string_view::npos;
using Event = RequestParser::Event;
using Result = RequestParser::Result;

constexpr Result kNeedMore{0, Event::NeedMore, {}};
constexpr Result kError{0, Event::Error, {}};

// Position of the first LF in in[from, to), or npos.
std::size_t find_lf(std::string_view in, std::size_t from, std::size_t to) noexcept {
  if (from >= to) return npos;
  const void* p = std::memchr(in.data() + from, '\n', to - from);
  return p == nullptr ? npos : static_cast<std::size_t>(static_cast<const char*>(p) - in.data());
}

// A CR anywhere but right before LF is its own error (RFC 9112 2.2), worth naming.
std::string_view bad_byte(char c, std::string_view reason) noexcept {
  return c == '\r' ? "bare CR" : reason;
}

// Host = uri-host [ ":" port ] (RFC 9110 7.2): reg-name, IP-literal or IPv4 characters.
// This rejects what can never be a host (spaces, '/', '@', ...) without parsing IPv6.
constexpr auto kHostChar = [] {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("-._~%!$&'()*+,;=:[]")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

bool is_valid_host(std::string_view v) noexcept {
  return std::all_of(v.begin(), v.end(),
                     [](char c) { return kHostChar[static_cast<unsigned char>(c)]; });
}

// a + b, saturating: a limit of SIZE_MAX means "no limit" and must not wrap around.
constexpr std::size_t add_sat(std::size_t a, std::size_t b) noexcept {
  return b > std::numeric_limits<std::size_t>::max() - a ? std::numeric_limits<std::size_t>::max()
                                                         : a + b;
}

constexpr bool is_scheme_char(char c) noexcept {
  return syntax::is_alpha(c) || syntax::is_digit(c) || c == '+' || c == '-' || c == '.';
}

}  // namespace

RequestParser::RequestParser(Limits limits) : limits_(limits) {}

void RequestParser::reset() noexcept {
  state_ = State::StartLine;
  error_ = ParseError::BadRequest;
  error_offset_ = 0;
  error_reason_ = {};
  std::vector<Header> headers = std::move(head_.headers);
  headers.clear();
  head_ = RequestHead{};
  head_.headers = std::move(headers);
  start_message();
}

void RequestParser::start_message() noexcept {
  fields_.clear();
  parsed_ = scan_ = 0;
  message_offset_ = 0;
  line_ = {};
  facts_ = {};
  remaining_ = 0;
  body_total_ = 0;
  trailer_start_ = 0;
  trailer_count_ = 0;
}

bool RequestParser::set_error(ParseError e, std::string_view reason,
                              std::size_t local_offset) noexcept {
  state_ = State::Failed;
  error_ = e;
  error_reason_ = reason;
  error_offset_ = message_offset_ + local_offset;
  return false;
}

RequestParser::Result RequestParser::fail(ParseError e, std::string_view reason,
                                          std::size_t local_offset) {
  set_error(e, reason, local_offset);
  return kError;
}

RequestParser::Result RequestParser::parse(std::string_view in) {
  switch (state_) {
    case State::StartLine:
    case State::Fields:
      return parse_head(in);
    case State::Body: {
      if (in.empty()) return kNeedMore;
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size()));
      remaining_ -= n;
      message_offset_ += n;
      if (remaining_ == 0) state_ = State::MessageEnd;
      return {n, Event::Body, in.substr(0, n)};
    }
    case State::ChunkSize:
    case State::ChunkData:
    case State::ChunkDataEnd:
    case State::Trailers:
      return parse_chunked(in);
    case State::MessageEnd:
      state_ = State::StartLine;
      start_message();
      return {0, Event::Done, {}};
    case State::Failed:
      return kError;
  }
  return kError;
}

// ---------------------------------------------------------------------------------------
// Head

RequestParser::Result RequestParser::parse_head(std::string_view in) {
  // The caller presents the same head bytes again with more appended; shrinking them
  // breaks the contract and would make the remembered offsets point past the data.
  assert(in.size() >= scan_);
  if (in.size() < scan_) return kNeedMore;

  // The whole head, final CRLF included, must fit in max_head_bytes, so the terminating
  // LF can only be inside this window.
  const std::size_t window = std::min(in.size(), limits_.max_head_bytes);
  while (true) {
    const std::size_t lf = find_lf(in, scan_, window);
    if (lf == npos) {
      scan_ = std::max(scan_, window);
      if (in.size() >= limits_.max_head_bytes) return head_overflow(in);
      return kNeedMore;
    }
    // RFC 9112 2.2: accept a lone LF as line terminator, ignoring a preceding CR.
    std::size_t end = lf;
    if (end > parsed_ && in[end - 1] == '\r') --end;
    const std::size_t off = parsed_;
    const std::string_view line = in.substr(off, end - off);
    parsed_ = scan_ = lf + 1;

    if (state_ == State::StartLine) {
      // RFC 9112 2.2: a server SHOULD ignore at least one empty line before the
      // request-line (clients send a stray CRLF after a body). They still count towards
      // max_head_bytes, so a stream of them ends in 431.
      if (line.empty()) continue;
      if (!parse_request_line(line, off)) return kError;
      state_ = State::Fields;
      continue;
    }
    if (line.empty()) return finish_head(in, lf + 1);
    Field field;
    if (!parse_field_line(line, off, field) || !on_head_field(field, off)) return kError;
  }
}

// The head reached max_head_bytes without its terminator. When the request line itself
// is still incomplete because of a huge target, 414 is the more useful answer.
RequestParser::Result RequestParser::head_overflow(std::string_view in) {
  const std::size_t max = limits_.max_head_bytes;
  if (state_ == State::StartLine) {
    const std::string_view partial = in.substr(parsed_, max - parsed_);
    const std::size_t sp = partial.find(' ');
    if (sp != npos && sp > 0 && syntax::is_token(partial.substr(0, sp))) {
      const std::size_t target_len = std::min(partial.find(' ', sp + 1), partial.size()) - (sp + 1);
      if (target_len > limits_.max_target_bytes) {
        return fail(ParseError::UriTooLong, "request-target too long",
                    parsed_ + sp + 1 + limits_.max_target_bytes);
      }
    }
  }
  return fail(ParseError::HeadersTooLarge, "head over max_head_bytes", max);
}

// request-line = method SP request-target SP HTTP-version (RFC 9112 3)
bool RequestParser::parse_request_line(std::string_view line, std::size_t off) {
  std::size_t i = 0;
  while (i < line.size() && syntax::is_tchar(line[i])) ++i;
  if (i == line.size()) return bad_request("request-line without request-target", off + i);
  if (i == 0 || line[i] != ' ') {
    return bad_request(bad_byte(line[i], "invalid byte in method"), off + i);
  }
  line_.method = {off, i};
  line_.kind = method_from_text(line.substr(0, i));

  const std::size_t t0 = i + 1;
  const std::size_t sp = line.find(' ', t0);
  if (sp == npos) return bad_request("request-line without HTTP-version", off + line.size());
  const std::string_view target = line.substr(t0, sp - t0);
  if (target.empty()) return bad_request("empty request-target", off + t0);
  if (target.size() > limits_.max_target_bytes) {
    return set_error(ParseError::UriTooLong, "request-target too long",
                     off + t0 + limits_.max_target_bytes);
  }
  for (std::size_t k = 0; k < target.size(); ++k) {
    if (!syntax::is_vchar(target[k])) {
      return bad_request(bad_byte(target[k], "invalid byte in request-target"), off + t0 + k);
    }
  }
  line_.target = {off + t0, target.size()};
  // The version first: "PRI * HTTP/2.0" (the HTTP/2 preface) is a 505, not a bad target.
  return parse_version(line.substr(sp + 1), off + sp + 1) && split_target(target, off + t0);
}

// HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 2.3). Any 1.x is served as 1.1 when
// x >= 1 (RFC 9110 6.2); a well-formed other major version, also written without minor
// as "HTTP/2" and "HTTP/3" are, gets 505.
bool RequestParser::parse_version(std::string_view v, std::size_t off) {
  auto malformed = [&] {
    const std::size_t cr = v.find('\r');
    if (cr != npos) return bad_request("bare CR", off + cr);
    return bad_request("malformed HTTP-version", off);
  };
  constexpr std::string_view kName = "HTTP/";
  if (v.size() < kName.size() + 1 || v.substr(0, kName.size()) != kName || !syntax::is_digit(v[5]))
    return malformed();
  const bool has_minor = v.size() == 8 && v[6] == '.' && syntax::is_digit(v[7]);
  if (v[5] != '1') {
    if (has_minor || v.size() == 6)
      return set_error(ParseError::VersionNotSupported, "HTTP version not supported", off);
    return malformed();
  }
  if (!has_minor) return malformed();
  line_.minor = v[7] == '0' ? 0 : 1;
  return true;
}

// Splits the request-target into path and query by its form (RFC 9112 3.2).
bool RequestParser::split_target(std::string_view target, std::size_t off) {
  auto set_path_query = [&](std::size_t path_begin) {
    const std::size_t q = target.find('?', path_begin);
    const std::size_t path_end = q == npos ? target.size() : q;
    line_.path = {off + path_begin, path_end - path_begin};
    line_.query =
        q == npos ? Span{off + target.size(), 0} : Span{off + q + 1, target.size() - q - 1};
  };
  if (target[0] == '/') {  // origin-form
    set_path_query(0);
    return true;
  }
  if (target == "*") {  // asterisk-form, only for a server-wide OPTIONS
    if (line_.kind != Method::Options) {
      return bad_request("asterisk-form request-target without OPTIONS", off);
    }
    line_.path = {off, 1};
    line_.query = {off + 1, 0};
    return true;
  }
  // absolute-form: scheme "://" authority [ path-abempty ] [ "?" query ]. We require the
  // "://" so authority-form ("host:443", only for CONNECT) is not mistaken for it.
  std::size_t i = 0;
  if (syntax::is_alpha(target[0])) {
    while (i < target.size() && is_scheme_char(target[i])) ++i;
  }
  if (i == 0 || target.substr(i, 3) != "://") {
    return bad_request("request-target is not origin-, absolute- or asterisk-form", off);
  }
  const std::size_t p = target.find_first_of("/?", i + 3);
  if (p != npos && target[p] == '/') {
    set_path_query(p);
    return true;
  }
  line_.root_path = true;
  line_.query = p == npos ? Span{off + target.size(), 0} : Span{off + p + 1, target.size() - p - 1};
  return true;
}

// field-line = field-name ":" OWS field-value OWS (RFC 9112 5). Used for trailers too.
bool RequestParser::parse_field_line(std::string_view line, std::size_t off, Field& out) {
  // RFC 9112 5.2: obs-fold is rejected; RFC 9112 2.2: so is whitespace before the first field.
  if (syntax::is_ows(line[0]))
    return bad_request("obs-fold or leading whitespace in field line", off);
  std::size_t i = 0;
  while (i < line.size() && syntax::is_tchar(line[i])) ++i;
  if (i == line.size()) return bad_request("field line without colon", off + i);
  if (line[i] != ':') {
    // RFC 9112 5.1: whitespace between field name and colon MUST be rejected with 400.
    if (syntax::is_ows(line[i]))
      return bad_request("whitespace before colon in field line", off + i);
    return bad_request(bad_byte(line[i], "invalid byte in field name"), off + i);
  }
  if (i == 0) return bad_request("empty field name", off);

  std::size_t b = i + 1, e = line.size();
  while (b < e && syntax::is_ows(line[b])) ++b;
  while (e > b && syntax::is_ows(line[e - 1])) --e;
  const std::string_view value = line.substr(b, e - b);
  if (const std::size_t k = syntax::find_invalid_field_value_char(value); k != npos) {
    return bad_request(bad_byte(value[k], "invalid byte in field value"), off + b + k);
  }
  out.name = line.substr(0, i);
  out.value = value;
  out.value_off = b;
  return true;
}

// Records a head field and folds what framing and connection management need from it.
bool RequestParser::on_head_field(const Field& f, std::size_t off) {
  if (fields_.size() >= limits_.max_headers) {
    return set_error(ParseError::HeadersTooLarge, "more than max_headers field lines", off);
  }
  fields_.push_back({{off, f.name.size()}, {off + f.value_off, f.value.size()}});

  // Dispatch on length first: most field names are none of these and cost one switch.
  switch (f.name.size()) {
    case 4:
      if (syntax::iequals_lower(f.name, "host")) {
        // RFC 9112 3.2: more than one Host, or an invalid one, is a 400.
        if (++facts_.host_count > 1) return bad_request("more than one Host", off);
        if (!is_valid_host(f.value)) return bad_request("invalid Host", off + f.value_off);
      }
      break;
    case 6:
      if (syntax::iequals_lower(f.name, "expect")) {
        syntax::for_each_list_element(f.value, [&](std::string_view t) {
          if (syntax::iequals_lower(t, "100-continue")) facts_.expect_continue = true;
          return true;
        });
      }
      break;
    case 7:
      if (syntax::iequals_lower(f.name, "upgrade") && !f.value.empty())
        facts_.upgrade_present = true;
      break;
    case 10:
      if (syntax::iequals_lower(f.name, "connection")) {
        syntax::for_each_list_element(f.value, [&](std::string_view t) {
          if (syntax::iequals_lower(t, "close"))
            facts_.close = true;
          else if (syntax::iequals_lower(t, "keep-alive"))
            facts_.keep_alive = true;
          else if (syntax::iequals_lower(t, "upgrade"))
            facts_.upgrade_token = true;
          return true;
        });
      }
      break;
    case 14:
      if (syntax::iequals_lower(f.name, "content-length"))
        return on_content_length(f.value, off + f.value_off);
      break;
    case 17:
      if (syntax::iequals_lower(f.name, "transfer-encoding"))
        return on_transfer_encoding(f.value, off + f.value_off);
      break;
    default:
      break;
  }
  return true;
}

// Content-Length = 1*DIGIT (RFC 9110 8.6). Repeated identical values, as separate lines
// or as a list "5, 5", are accepted as one; anything else is a 400.
bool RequestParser::on_content_length(std::string_view value, std::size_t off) {
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  std::size_t pos = 0;
  while (true) {
    const std::size_t comma = value.find(',', pos);
    const std::string_view element =
        syntax::trim_ows(value.substr(pos, comma == npos ? npos : comma - pos));
    if (element.empty()) return bad_request("invalid Content-Length", off + pos);
    std::uint64_t n = 0;
    for (char c : element) {
      if (!syntax::is_digit(c)) return bad_request("invalid Content-Length", off + pos);
      const auto d = static_cast<std::uint64_t>(c - '0');
      if (n > (kMax - d) / 10) return bad_request("Content-Length overflows", off + pos);
      n = n * 10 + d;
    }
    if (facts_.content_length_seen && n != facts_.content_length) {
      return bad_request("conflicting Content-Length values", off + pos);
    }
    facts_.content_length_seen = true;
    facts_.content_length = n;
    if (comma == npos) return true;
    pos = comma + 1;
  }
}

// Transfer-Encoding = #transfer-coding (RFC 9112 6.1), across all field lines in order.
// Whether chunked is final and whether anything else is present is judged at head end.
bool RequestParser::on_transfer_encoding(std::string_view value, std::size_t off) {
  facts_.te_seen = true;
  bool ok = true;
  syntax::for_each_list_element(value, [&](std::string_view element) {
    const std::size_t semi = element.find(';');
    const std::string_view name = syntax::trim_ows(element.substr(0, semi));
    if (!syntax::is_token(name)) return ok = false;
    if (facts_.te_chunked_last) facts_.te_chunked_not_last = true;
    if (syntax::iequals_lower(name, "chunked")) {
      // chunked has no parameters; "chunked;x" is not the coding we know how to frame.
      if (semi != npos) return ok = false;
      facts_.te_chunked_last = true;
    } else {
      facts_.te_unknown = true;
      facts_.te_chunked_last = false;
    }
    return true;
  });
  if (!ok) return bad_request("invalid Transfer-Encoding", off);
  return true;
}

// The empty line ended the head: decide framing (RFC 9112 6.3) and publish head().
RequestParser::Result RequestParser::finish_head(std::string_view in, std::size_t head_size) {
  // RFC 9112 3.2: an HTTP/1.1 request without Host is a 400.
  if (line_.minor == 1 && facts_.host_count == 0) {
    return fail_bad_request("HTTP/1.1 request without Host", head_size);
  }
  bool chunked = false;
  if (facts_.te_seen) {
    // RFC 9112 6.1: Transfer-Encoding in HTTP/1.0 MUST be treated as faulty framing; with
    // Content-Length it is the classic smuggling vector, which a server MAY reject: we do.
    if (line_.minor == 0)
      return fail_bad_request("Transfer-Encoding in HTTP/1.0 request", head_size);
    if (facts_.content_length_seen) {
      return fail_bad_request("both Transfer-Encoding and Content-Length", head_size);
    }
    // RFC 9112 6.3 (4): when chunked is not the final coding ("gzip" alone too) the length
    // cannot be known, and the server MUST answer 400. Applying chunked twice is as bad.
    if (!facts_.te_chunked_last || facts_.te_chunked_not_last) {
      return fail_bad_request("chunked is not the final transfer-coding", head_size);
    }
    // RFC 9112 6.1: the framing is sound, but a coding we do not understand (we decode none
    // but chunked, e.g. "gzip, chunked") SHOULD get 501.
    if (facts_.te_unknown)
      return fail(ParseError::NotImplemented, "unsupported transfer-coding", head_size);
    chunked = true;
  } else if (facts_.content_length > limits_.max_body_bytes) {
    return fail(ParseError::BodyTooLarge, "Content-Length over max_body_bytes", head_size);
  }

  const char* base = in.data();
  auto view = [base](Span s) { return std::string_view(base + s.off, s.len); };
  head_.method = line_.kind;
  head_.method_text = view(line_.method);
  head_.target = view(line_.target);
  head_.path = line_.root_path ? std::string_view("/") : view(line_.path);
  head_.query = view(line_.query);
  head_.version_minor = line_.minor;
  head_.headers.clear();
  for (const FieldSpan& f : fields_) head_.headers.push_back({view(f.name), view(f.value)});
  // RFC 9112 9.3: "close" always wins; 1.1 persists by default, 1.0 only on request.
  head_.keep_alive = !facts_.close && (line_.minor == 1 || facts_.keep_alive);
  head_.chunked = chunked;
  head_.content_length = chunked ? 0 : facts_.content_length;
  head_.has_body = chunked || head_.content_length > 0;
  // RFC 9110 7.8: Upgrade in an HTTP/1.0 request is ignored; so is 100-continue (10.1.1).
  head_.upgrade = line_.minor == 1 && facts_.upgrade_token && facts_.upgrade_present;
  head_.expect_continue = line_.minor == 1 && facts_.expect_continue;

  remaining_ = head_.content_length;
  state_ = chunked ? State::ChunkSize : head_.has_body ? State::Body : State::MessageEnd;
  message_offset_ = head_size;
  parsed_ = scan_ = 0;
  return {head_size, Event::Head, {}};
}

// ---------------------------------------------------------------------------------------
// Chunked content (RFC 9112 7.1). Framing is CRLF-only here: the lone-LF tolerance of
// RFC 9112 2.2 is for the start line and fields, and lenient chunk framing is exactly
// what request smuggling exploits.

RequestParser::Result RequestParser::parse_chunked(std::string_view in) {
  assert(in.size() >= scan_);
  if (in.size() < scan_) return kNeedMore;
  while (true) {
    switch (state_) {
      case State::ChunkSize: {
        const std::size_t end = add_sat(parsed_, limits_.max_chunk_line_bytes);
        const std::size_t limit = std::min(in.size(), end);
        const std::size_t lf = find_lf(in, scan_, limit);
        if (lf == npos) {
          scan_ = std::max(scan_, limit);
          if (in.size() >= end) return fail_bad_request("chunk-size line too long", end);
          return kNeedMore;
        }
        if (lf == parsed_ || in[lf - 1] != '\r')
          return fail_bad_request("chunk-size line not ended by CRLF", lf);
        if (!parse_chunk_size(in.substr(parsed_, lf - 1 - parsed_), parsed_)) return kError;
        parsed_ = scan_ = lf + 1;
        if (state_ == State::Trailers) trailer_start_ = parsed_;
        break;
      }
      case State::ChunkData: {
        if (parsed_ == in.size()) return kNeedMore;
        const auto n =
            static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size() - parsed_));
        remaining_ -= n;
        if (remaining_ == 0) state_ = State::ChunkDataEnd;
        const Result r{parsed_ + n, Event::Body, in.substr(parsed_, n)};
        message_offset_ += r.consumed;
        parsed_ = scan_ = 0;
        return r;
      }
      case State::ChunkDataEnd: {
        const std::size_t avail = in.size() - parsed_;
        if (avail >= 1 && in[parsed_] != '\r')
          return fail_bad_request("chunk data not followed by CRLF", parsed_);
        if (avail >= 2 && in[parsed_ + 1] != '\n') {
          return fail_bad_request("chunk data not followed by CRLF", parsed_ + 1);
        }
        if (avail < 2) return kNeedMore;
        parsed_ = scan_ = parsed_ + 2;
        state_ = State::ChunkSize;
        break;
      }
      case State::Trailers: {
        // The trailer section is bounded like a head: bytes by max_head_bytes, lines by
        // max_headers. Trailers are validated and discarded, never merged into head().
        const std::size_t end = add_sat(trailer_start_, limits_.max_head_bytes);
        const std::size_t limit = std::min(in.size(), end);
        const std::size_t lf = find_lf(in, scan_, limit);
        if (lf == npos) {
          scan_ = std::max(scan_, limit);
          if (in.size() >= end) {
            return fail(ParseError::HeadersTooLarge, "trailer section over max_head_bytes", end);
          }
          return kNeedMore;
        }
        if (lf == parsed_ || in[lf - 1] != '\r')
          return fail_bad_request("trailer line not ended by CRLF", lf);
        const std::size_t off = parsed_;
        const std::string_view line = in.substr(off, lf - 1 - off);
        parsed_ = scan_ = lf + 1;
        if (line.empty()) {
          const Result r{parsed_, Event::Done, {}};
          state_ = State::StartLine;
          start_message();
          return r;
        }
        if (trailer_count_ >= limits_.max_headers) {
          return fail(ParseError::HeadersTooLarge, "more than max_headers trailer fields", off);
        }
        Field field;
        if (!parse_field_line(line, off, field)) return kError;
        ++trailer_count_;
        break;
      }
      default:
        return kError;
    }
  }
}

// chunk-size [ chunk-ext ] (RFC 9112 7.1): hex, then extensions that we validate as
// field-value bytes and otherwise ignore.
bool RequestParser::parse_chunk_size(std::string_view line, std::size_t off) {
  std::uint64_t size = 0;
  std::size_t i = 0;
  for (; i < line.size(); ++i) {
    const int d = syntax::hex_value(line[i]);
    if (d < 0) break;
    if (size > (std::numeric_limits<std::uint64_t>::max() >> 4)) {
      return bad_request("chunk size overflows", off + i);
    }
    size = size * 16 + static_cast<std::uint64_t>(d);
  }
  if (i == 0)
    return bad_request(bad_byte(line.empty() ? '\0' : line[0], "invalid chunk size"), off);

  std::size_t j = i;
  while (j < line.size() && syntax::is_ows(line[j])) ++j;  // BWS before ';'
  if (j < line.size()) {
    if (line[j] != ';')
      return bad_request(bad_byte(line[j], "invalid byte after chunk size"), off + j);
    const std::string_view ext = line.substr(j + 1);
    if (const std::size_t k = syntax::find_invalid_field_value_char(ext); k != npos) {
      return bad_request(bad_byte(ext[k], "invalid byte in chunk extension"), off + j + 1 + k);
    }
  } else if (j != i) {
    return bad_request("whitespace after chunk size", off + i);
  }

  if (size == 0) {
    state_ = State::Trailers;
    trailer_count_ = 0;
    return true;
  }
  // Checked when the size is announced, before any of the data arrives.
  if (size > limits_.max_body_bytes - body_total_) {
    return set_error(ParseError::BodyTooLarge, "chunked content over max_body_bytes", off);
  }
  body_total_ += size;
  remaining_ = size;
  state_ = State::ChunkData;
  return true;
}

}  // namespace wirehub::http
