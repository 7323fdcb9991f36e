// BearerAuth (include/wirehub/auth.hpp): the WebSocket handshake's token check, applied
// to the head of a plain HTTP request.

#include <chrono>

#include "http/request.hpp"
#include "wirehub/auth.hpp"
#include "wirehub/server.hpp"
#include "ws/token_auth.hpp"

namespace wirehub {

struct BearerAuth::Impl {
  explicit Impl(const JwtAuthOptions& o) : auth(o) {}
  ws::TokenAuth auth;
};

BearerAuth::BearerAuth(const JwtAuthOptions& options) : impl_(std::make_unique<Impl>(options)) {}
BearerAuth::~BearerAuth() = default;
BearerAuth::BearerAuth(BearerAuth&&) noexcept = default;
BearerAuth& BearerAuth::operator=(BearerAuth&&) noexcept = default;

BearerAuth::Verdict BearerAuth::check(const HttpRequest& request) const {
  const auto now_s =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  ws::TokenAuth::Verdict v = impl_->auth.check(*static_cast<const http::RequestHead*>(request.impl_), now_s);
  Verdict out;
  out.status = v.status;
  out.challenge = std::move(v.challenge);
  out.reason = std::string(v.reason);
  out.principal = std::move(v.principal);
  return out;
}

}  // namespace wirehub
