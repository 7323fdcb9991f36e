#include "http/parse_error.hpp"

namespace wirehub::http {

int http_status(ParseError e) noexcept {
  switch (e) {
    case ParseError::BadRequest: return 400;
    case ParseError::UriTooLong: return 414;
    case ParseError::HeadersTooLarge: return 431;
    case ParseError::BodyTooLarge: return 413;
    case ParseError::VersionNotSupported: return 505;
    case ParseError::NotImplemented: return 501;
  }
  return 400;
}

std::string_view describe(ParseError e) noexcept {
  switch (e) {
    case ParseError::BadRequest: return "malformed request";
    case ParseError::UriTooLong: return "request-target too long";
    case ParseError::HeadersTooLarge: return "request header fields too large";
    case ParseError::BodyTooLarge: return "request content too large";
    case ParseError::VersionNotSupported: return "HTTP version not supported";
    case ParseError::NotImplemented: return "transfer-coding not implemented";
  }
  return "malformed request";
}

}  // namespace wirehub::http
