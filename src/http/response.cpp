#include "http/response.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace wirehub::http {

namespace {

// Writes into memory already sized to an upper bound of what is written; no checks per
// piece, which is most of the cost of a chain of std::string::append calls.
class Writer {
 public:
  explicit Writer(char* p) noexcept : p_(p) {}
  char* end() const noexcept { return p_; }

  void put(std::string_view s) noexcept {
    if (s.empty()) return;  // s.data() may be null, which memcpy must not see
    std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  void put_number(std::uint64_t n) noexcept { p_ = std::to_chars(p_, p_ + 20, n).ptr; }
  // A header line. CR, LF and NUL in the value become SP (RFC 9110 5.5), so a value taken
  // from a request can never end the line early and start a header of its own.
  void put_header(std::string_view name, std::string_view value) noexcept {
    put(name);
    put(": ");
    char* const start = p_;
    put(value);
    for (char* q = start; q != p_; ++q) {
      if (*q == '\r' || *q == '\n' || *q == '\0') *q = ' ';
    }
    put("\r\n");
  }

 private:
  char* p_;
};

// An upper bound on the bytes put_head writes.
std::size_t head_size_bound(std::string_view reason, std::string_view content_type,
                            std::span<const Header> extra_headers) noexcept {
  // Status line 15, Content-Type 16, Content-Length 38 (20 digits), Connection 19, CRLF 2.
  constexpr std::size_t kFixed = 128;
  std::size_t size = kFixed + reason.size() + content_type.size();
  for (const Header& h : extra_headers) size += h.name.size() + h.value.size() + 4;
  return size;
}

void put_head(Writer& w, int status, std::string_view reason, std::string_view content_type,
              std::uint64_t content_length, std::span<const Header> extra_headers,
              bool keep_alive) noexcept {
  w.put("HTTP/1.1 ");
  w.put_number(static_cast<std::uint64_t>(status));
  w.put(" ");
  w.put(reason);
  w.put("\r\n");
  if (!content_type.empty()) w.put_header("Content-Type", content_type);
  if (!status_has_no_content(status)) {
    w.put("Content-Length: ");
    w.put_number(content_length);
    w.put("\r\n");
  }
  if (!keep_alive) w.put("Connection: close\r\n");
  for (const Header& h : extra_headers) w.put_header(h.name, h.value);
  w.put("\r\n");
}

// Appends at most `bound` bytes to out through f(Writer&). Capacity grows geometrically:
// responses to pipelined requests are appended to one string.
template <class F>
void append_bounded(std::string& out, std::size_t bound, F&& f) {
  const std::size_t old = out.size();
  if (out.capacity() < old + bound) out.reserve(std::max(old + bound, 2 * out.capacity()));
  out.resize(old + bound);
  Writer w(out.data() + old);
  f(w);
  out.resize(static_cast<std::size_t>(w.end() - out.data()));
}

int valid_status(int status) noexcept {
  return status < 100 || status > 999 ? 500 : status;
}

}  // namespace

std::string_view reason_phrase(int status) noexcept {
  // clang-format off
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "";
  }
  // clang-format on
}

void write_response_head(std::string& out, int status, std::string_view content_type,
                         std::uint64_t content_length, std::span<const Header> extra_headers,
                         bool keep_alive) {
  status = valid_status(status);
  const std::string_view reason = reason_phrase(status);
  append_bounded(out, head_size_bound(reason, content_type, extra_headers), [&](Writer& w) {
    put_head(w, status, reason, content_type, content_length, extra_headers, keep_alive);
  });
}

void write_response(std::string& out, int status, std::string_view content_type,
                    std::string_view body, std::span<const Header> extra_headers, bool keep_alive) {
  status = valid_status(status);
  const std::string_view reason = reason_phrase(status);
  const bool no_content = status_has_no_content(status);
  const std::size_t bound =
      head_size_bound(reason, content_type, extra_headers) + (no_content ? 0 : body.size());
  append_bounded(out, bound, [&](Writer& w) {
    put_head(w, status, reason, content_type, body.size(), extra_headers, keep_alive);
    if (!no_content) w.put(body);
  });
}

void write_error_response(std::string& out, ParseError e) {
  const std::string_view reason = describe(e);
  write_response_head(out, http_status(e), "text/plain; charset=utf-8", reason.size() + 1, {},
                      false);
  out.append(reason);
  out.push_back('\n');
}

}  // namespace wirehub::http
