#include "http/response.hpp"

#include <algorithm>
#include <charconv>

namespace wirehub::http {

namespace {

// Grows geometrically: responses for pipelined requests are appended to one string.
void reserve_for(std::string& out, std::size_t extra) {
  const std::size_t need = out.size() + extra;
  if (out.capacity() < need) out.reserve(std::max(need, out.capacity() * 2));
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ");
  const std::size_t start = out.size();
  out.append(value);
  for (std::size_t i = start; i < out.size(); ++i) {
    if (out[i] == '\r' || out[i] == '\n' || out[i] == '\0') out[i] = ' ';
  }
  out.append("\r\n");
}

// An upper bound on the bytes write_response_head appends.
std::size_t head_size_bound(std::string_view reason, std::string_view content_type,
                            std::span<const Header> extra_headers) {
  constexpr std::size_t kFixed = 128;  // status line, Content-Length, Connection, CRLFs
  std::size_t size = kFixed + reason.size() + content_type.size();
  for (const Header& h : extra_headers) size += h.name.size() + h.value.size() + 4;
  return size;
}

}  // namespace

std::string_view reason_phrase(int status) noexcept {
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
}

void write_response_head(std::string& out, int status, std::string_view content_type,
                         std::uint64_t content_length, std::span<const Header> extra_headers,
                         bool keep_alive) {
  if (status < 100 || status > 999) status = 500;
  const std::string_view reason = reason_phrase(status);

  reserve_for(out, head_size_bound(reason, content_type, extra_headers));

  char digits[24];
  out.append("HTTP/1.1 ");
  out.append(digits, std::to_chars(digits, digits + sizeof digits, status).ptr);
  out.push_back(' ');
  out.append(reason);
  out.append("\r\n");
  if (!content_type.empty()) append_header(out, "Content-Type", content_type);
  if (!status_has_no_content(status)) {
    out.append("Content-Length: ");
    out.append(digits, std::to_chars(digits, digits + sizeof digits, content_length).ptr);
    out.append("\r\n");
  }
  if (!keep_alive) out.append("Connection: close\r\n");
  for (const Header& h : extra_headers) append_header(out, h.name, h.value);
  out.append("\r\n");
}

void write_response(std::string& out, int status, std::string_view content_type, std::string_view body,
                    std::span<const Header> extra_headers, bool keep_alive) {
  const bool no_content = status_has_no_content(status);
  reserve_for(out, head_size_bound(reason_phrase(status), content_type, extra_headers) +
                       (no_content ? 0 : body.size()));
  write_response_head(out, status, content_type, body.size(), extra_headers, keep_alive);
  if (!no_content) out.append(body);
}

void write_error_response(std::string& out, ParseError e) {
  const std::string_view reason = describe(e);
  write_response_head(out, http_status(e), "text/plain; charset=utf-8", reason.size() + 1, {}, false);
  out.append(reason);
  out.push_back('\n');
}

}  // namespace wirehub::http
