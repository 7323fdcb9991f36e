#pragma once
// RequestParser: a sans-I/O HTTP/1.1 request parser (RFC 9112). Bytes in, events out; it
// never owns or copies the caller's bytes.
//
// Caller model: keep the unconsumed bytes in a buffer, append what the socket gave, then
// call parse() until it says NeedMore (or Error), dropping `consumed` bytes after each
// event. NeedMore always has consumed == 0, so a caller may keep the bytes and append.
//
//   Head  in[0, consumed) is the complete head; head() views into it stay valid while the
//         caller keeps those bytes unchanged. The parser never needs them again.
//   Body  `body` is content (for chunked: the data of a chunk, never framing).
//   Done  the message is complete; the parser is ready for the next pipelined request.
//         For chunked messages consumed covers the last chunk and trailer section.
//   Error error(), error_reason() and error_offset() tell what, which rule and where;
//         every later call returns Error until reset().
//
// While a head, a chunk-size line or a trailer section is incomplete the parser remembers
// how far it has scanned and validated, so feeding a message byte by byte costs O(n).
// In steady state parsing allocates nothing: header storage keeps its capacity.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "http/parse_error.hpp"
#include "http/request.hpp"

namespace wirehub::http {

class RequestParser {
 public:
  explicit RequestParser(Limits limits = {});

  enum class Event : std::uint8_t { NeedMore, Head, Body, Done, Error };
  struct Result {
    std::size_t consumed;
    Event event;
    std::string_view body;  // only for Body
  };

  // Parses from `in`, which starts at the first byte not yet consumed.
  Result parse(std::string_view in);

  // The last head. Its views are valid while the caller keeps the head bytes; its flags
  // (keep_alive, chunked, ...) until the next Head or reset(), so they can be read at Done.
  const RequestHead& head() const noexcept { return head_; }
  ParseError error() const noexcept { return error_; }
  // Byte position of the error relative to the start of the current message.
  std::size_t error_offset() const noexcept { return error_offset_; }
  // The rule that failed, e.g. "bare CR"; "" when there was no error.
  std::string_view error_reason() const noexcept { return error_reason_; }
  const Limits& limits() const noexcept { return limits_; }

  // Back to waiting for a head, forgetting any partial message or error.
  void reset() noexcept;

 private:
  // Named after the RFC 9112 grammar; Failed is sticky until reset().
  enum class State : std::uint8_t {
    StartLine,
    Fields,
    Body,
    ChunkSize,
    ChunkData,
    ChunkDataEnd,
    Trailers,
    MessageEnd,
    Failed
  };
  // An offset/length pair into the current message's head bytes.
  struct Span {
    std::size_t off = 0, len = 0;
  };
  struct FieldSpan {
    Span name, value;
  };
  // Result of validating one field line.
  struct Field {
    std::string_view name, value;
    std::size_t value_off = 0;  // offset of value within the line
  };

  Result parse_head(std::string_view in);
  Result parse_chunked(std::string_view in);
  bool parse_request_line(std::string_view line, std::size_t off);
  bool parse_version(std::string_view version, std::size_t off);
  bool split_target(std::string_view target, std::size_t off);
  bool parse_field_line(std::string_view line, std::size_t off, Field& out);
  bool on_head_field(const Field& f, std::size_t off);
  bool on_content_length(std::string_view value, std::size_t off);
  bool on_transfer_encoding(std::string_view value, std::size_t off);
  Result finish_head(std::string_view in, std::size_t head_size);
  Result head_overflow(std::string_view in);
  bool parse_chunk_size(std::string_view line, std::size_t off);
  // Record an error (state Failed); the bool forms return false for `return bad_request(...)`.
  bool set_error(ParseError e, std::string_view reason, std::size_t local_offset) noexcept;
  bool bad_request(std::string_view reason, std::size_t local_offset) noexcept {
    return set_error(ParseError::BadRequest, reason, local_offset);
  }
  Result fail(ParseError e, std::string_view reason, std::size_t local_offset);
  Result fail_bad_request(std::string_view reason, std::size_t local_offset) {
    return fail(ParseError::BadRequest, reason, local_offset);
  }
  void start_message() noexcept;

  Limits limits_;
  State state_ = State::StartLine;
  RequestHead head_;
  std::vector<FieldSpan> fields_;  // head fields as offsets: the caller's buffer may move

  // Bytes at the front of `in` already validated but not yet consumed by an event, and
  // where to resume looking for the next LF.
  std::size_t parsed_ = 0;
  std::size_t scan_ = 0;
  // Bytes of the current message consumed by earlier events (for error offsets).
  std::size_t message_offset_ = 0;

  // The request line, as offsets into the head.
  struct RequestLine {
    Span method, target, path, query;
    Method kind = Method::Other;
    int minor = 1;
    bool root_path = false;  // absolute-form target without a path: path is "/"
  };
  // What the head's field lines said, gathered as each line is read.
  struct FieldFacts {
    std::uint32_t host_count = 0;
    bool content_length_seen = false;
    std::uint64_t content_length = 0;
    bool te_seen = false;
    bool te_chunked_last = false, te_chunked_not_last = false, te_unknown = false;
    bool close = false, keep_alive = false, upgrade_token = false;
    bool upgrade_present = false, expect_continue = false;
  };
  RequestLine line_;
  FieldFacts facts_;

  // Body state.
  std::uint64_t remaining_ = 0;   // of the current Content-Length body or chunk
  std::uint64_t body_total_ = 0;  // chunked: data bytes announced so far
  std::size_t trailer_start_ = 0;
  std::size_t trailer_count_ = 0;

  ParseError error_ = ParseError::BadRequest;
  std::size_t error_offset_ = 0;
  std::string_view error_reason_;
};

}  // namespace wirehub::http
