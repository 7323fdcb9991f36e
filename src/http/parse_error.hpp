#pragma once
// ParseError: why a request was rejected, and the one table mapping that to an HTTP status.
//
// Kinds are as coarse as the status codes they map to; the rule that failed is told by
// RequestParser::error_reason() and where by error_offset().

#include <cstdint>
#include <string_view>

namespace wirehub::http {

enum class ParseError : std::uint8_t {
  BadRequest,           // 400: malformed syntax or framing
  UriTooLong,           // 414: request-target over Limits::max_target_bytes
  HeadersTooLarge,      // 431: head (or trailer section) over its byte or field-count limit
  BodyTooLarge,         // 413: Content-Length or chunked total over Limits::max_body_bytes
  VersionNotSupported,  // 505: a well-formed HTTP version other than 1.x
  NotImplemented,       // 501: a transfer-coding other than chunked
};

// The HTTP status to answer with: 400, 414, 431, 413, 505 or 501.
int http_status(ParseError e) noexcept;

// A short human reason, e.g. "request header fields too large".
std::string_view describe(ParseError e) noexcept;

}  // namespace wirehub::http
