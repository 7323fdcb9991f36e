#pragma once
// TokenAuth: the bearer-token check of a WebSocket upgrade (include/wirehub/auth.hpp),
// sans-I/O: a request head and the time in, a verdict out (accept with the principal, or
// the HTTP status and WWW-Authenticate challenge to answer with, RFC 6750 3).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "auth/jwt.hpp"
#include "http/request.hpp"
#include "wirehub/auth.hpp"

namespace wirehub::ws {

// The subprotocol offer that announces a token in the next offer (see auth.hpp).
inline constexpr std::string_view kTokenSubprotocol = "access_token";

class TokenAuth {
 public:
  // Throws std::invalid_argument for a missing, doubled or unusable key.
  explicit TokenAuth(const JwtAuthOptions& options);

  struct Verdict {
    int status = 0;              // 0: accepted; else 400, 401 or 403
    std::string challenge;       // WWW-Authenticate value when refused
    std::string_view reason;     // response body text when refused (never the token)
    Principal principal;         // when accepted
    bool via_subprotocol = false;  // the token came as "access_token, <jwt>" offers
  };
  // now_s: seconds since the Unix epoch.
  Verdict check(const http::RequestHead& head, std::int64_t now_s) const;

  // When an accepted connection must be closed (seconds since the epoch), 0 for never.
  std::int64_t close_at_s(const Principal& p) const noexcept {
    return options_.close_on_expiry && p.expires_s ? p.expires_s + options_.leeway_s : 0;
  }

 private:
  JwtAuthOptions options_;
  auth::JwtVerifier verifier_;
};

// The subprotocol offers of a request (every Sec-WebSocket-Protocol field, in order).
std::vector<std::string_view> offered_subprotocols(const http::RequestHead& head);

}  // namespace wirehub::ws
