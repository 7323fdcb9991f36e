#pragma once
// The parsed form of an HTTP/1.1 request head (RFC 9112 sections 3 and 5) and the limits
// the parser enforces. RequestHead holds views into the caller's bytes, not copies.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wirehub::http {

// Methods the server routes on; anything else (CONNECT, TRACE, extensions) is Other and
// its text is in RequestHead::method_text. Methods are case-sensitive (RFC 9110 9.1).
enum class Method : std::uint8_t { Get, Head, Post, Put, Delete, Options, Patch, Other };

// Maps a method token to the enum; Other when it is not one of the named ones.
Method method_from_text(std::string_view text) noexcept;
// "GET", "HEAD", ...; "" for Other.
std::string_view method_text(Method m) noexcept;

// One field line. Both are views into the caller's bytes; value is trimmed of OWS.
struct Header {
  std::string_view name, value;
};

struct Limits {
  std::size_t max_head_bytes = 16 * 1024;  // request line + headers + final CRLF; over -> 431
  std::size_t max_headers = 64;            // field lines in the head (and in trailers); over -> 431
  std::size_t max_target_bytes = 8 * 1024;  // over -> 414
  std::uint64_t max_body_bytes = 1 << 20;   // Content-Length or chunked total; over -> 413
  std::size_t max_chunk_line_bytes =
      1024;  // chunk-size line incl. extensions and CRLF; over -> 400
};

struct RequestHead {
  Method method = Method::Other;
  std::string_view method_text;
  std::string_view target;      // raw request-target
  std::string_view path;        // target up to '?' (for absolute-form: the path part, "/" if empty)
  std::string_view query;       // after '?', without it ("" if none)
  int version_minor = 1;        // 0 or 1; HTTP/1.2+ is read as 1.1 (RFC 9110 6.2)
  std::vector<Header> headers;  // the parser reuses capacity across requests
  bool keep_alive = false;      // RFC 9112 9.3
  bool chunked = false;         // framing per RFC 9112 6.3
  std::uint64_t content_length = 0;  // 0 when chunked
  bool has_body = false;             // chunked, or Content-Length > 0
  bool upgrade = false;          // HTTP/1.1, Connection has token "upgrade" and Upgrade is present
  bool expect_continue = false;  // HTTP/1.1 with "Expect: 100-continue" (RFC 9110 10.1.1)

  // First header value with this name (ASCII case-insensitive), or empty optional.
  std::optional<std::string_view> header(std::string_view name) const noexcept;
  // True when a comma-separated header (all instances) contains token (case-insensitive).
  bool has_token(std::string_view name, std::string_view token) const noexcept;
};

// Query parameter lookup: the value of the first `key` (names are compared after
// percent-decoding), percent-decoded with '+' as space; "" for a bare "key"; nullopt if
// absent. A '%' not followed by two hex digits is kept as is.
std::optional<std::string> query_param(std::string_view query, std::string_view key);

}  // namespace wirehub::http
