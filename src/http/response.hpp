#pragma once
// Response serialisation (RFC 9112 4 and 6): appends complete HTTP/1.1 responses to a
// string the connection later writes out. No Date header: a clock is not ours to read.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "http/parse_error.hpp"
#include "http/request.hpp"

namespace wirehub::http {

// The RFC 9110 reason phrase, e.g. "Not Found"; "" for a code we do not know (the
// reason-phrase may be empty).
std::string_view reason_phrase(int status) noexcept;

// True for statuses that never carry content: 1xx, 204, 304 (RFC 9110 6.4.1).
constexpr bool status_has_no_content(int status) noexcept {
  return status < 200 || status == 204 || status == 304;
}

// Appends the status line and header section, through the empty line: Content-Type when
// content_type is not empty, Content-Length: content_length unless the status has no
// content, "Connection: close" when !keep_alive, then extra_headers in order. For HEAD
// answers and bodies written separately. A status outside 100..999 is written as 500.
// Header values have CR, LF and NUL replaced by SP (RFC 9110 5.5), so a value taken from
// a request can never split the response; names are trusted to be tokens.
void write_response_head(std::string& out, int status, std::string_view content_type,
                         std::uint64_t content_length, std::span<const Header> extra_headers = {},
                         bool keep_alive = true);

// Appends a complete response: the head as above with Content-Length = body.size(), then
// body (dropped for statuses that have no content).
void write_response(std::string& out, int status, std::string_view content_type,
                    std::string_view body, std::span<const Header> extra_headers = {},
                    bool keep_alive = true);

// Appends the answer to a request the parser rejected: http_status(e), a text/plain
// reason, and "Connection: close" since the stream can no longer be trusted.
void write_error_response(std::string& out, ParseError e);

}  // namespace wirehub::http
