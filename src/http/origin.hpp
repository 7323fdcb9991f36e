#pragma once
// OriginPolicy: which web origins may open a WebSocket or an event stream on an endpoint.
//
// A browser sends the page's origin (RFC 6454) in the Origin field of every WebSocket
// handshake (and of a cross-origin EventSource request), and any page may try to open a
// socket to any server, with the user's cookies: a server that authenticates by cookie
// and accepts every origin lets another site act as the user ("cross-site WebSocket
// hijacking", RFC 6455 10.2). An allow-list closes that door; a request whose origin is
// not on it is answered 403. It lives in http, below both ws and sse, which use it alike.
//
// Entries: exact origins ("https://app.example.com", "http://localhost:8080"), one
// wildcard form ("https://*.example.com": any subdomain, at any depth, of example.com but
// not example.com itself), and "null" (the opaque origin of sandboxed frames and
// file: pages, allowed only when listed). Scheme and host compare case-insensitively; a
// default port (80 for http/ws, 443 for https/wss) may be written or left out.
// An empty list allows every origin. A handshake without Origin is not from a browser and
// is allowed: the check protects browsers' users, other clients can send any value.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wirehub::http {

class OriginPolicy {
 public:
  OriginPolicy() = default;
  // Throws std::invalid_argument naming the first entry that is not an origin or pattern.
  explicit OriginPolicy(const std::vector<std::string>& allowed);

  bool allows_any() const noexcept { return entries_.empty() && !allow_null_; }
  // origin: the Origin field's value, or nullopt when the request has none.
  bool allows(std::optional<std::string_view> origin) const;

 private:
  struct Origin {
    std::string scheme;  // lower case
    std::string host;    // lower case; for a wildcard, the part after "*."
    std::uint16_t port;  // the default port of the scheme when none was written
    bool wildcard;
  };
  // Parses "scheme://host[:port]" (and "scheme://*.host[:port]" when patterns are allowed).
  static std::optional<Origin> parse(std::string_view text, bool allow_wildcard);

  std::vector<Origin> entries_;
  bool allow_null_ = false;
};

}  // namespace wirehub::http
