#include "http/parse_error.hpp"

#include <array>
#include <cstddef>

namespace wirehub::http {

namespace {

struct Entry {
  int status;
  std::string_view reason;
};

// Indexed by ParseError: the one place an error becomes a status.
constexpr std::array<Entry, 6> kTable = {{
    {400, "malformed request"},                // BadRequest
    {414, "request-target too long"},          // UriTooLong
    {431, "request header fields too large"},  // HeadersTooLarge
    {413, "request content too large"},        // BodyTooLarge
    {505, "HTTP version not supported"},       // VersionNotSupported
    {501, "transfer-coding not implemented"},  // NotImplemented
}};
static_assert(static_cast<std::size_t>(ParseError::NotImplemented) + 1 == kTable.size());

const Entry& entry(ParseError e) noexcept {
  const auto i = static_cast<std::size_t>(e);
  return i < kTable.size() ? kTable[i] : kTable[0];
}

}  // namespace

int http_status(ParseError e) noexcept {
  return entry(e).status;
}

std::string_view describe(ParseError e) noexcept {
  return entry(e).reason;
}

}  // namespace wirehub::http
