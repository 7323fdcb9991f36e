#pragma once
// Bearer tokens over HTTP (RFC 6750), sans-I/O: reading one out of an Authorization
// field, writing the WWW-Authenticate challenge, and checking a token's claims against
// what an endpoint requires.

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace wirehub::auth {

// The credentials of "Authorization: Bearer <token>" (RFC 6750 2.1): the scheme is
// case-insensitive and followed by one or more spaces. nullopt when the field uses another
// scheme. An empty view when it is Bearer but the token is not a b64token
// (1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="): malformed.
std::optional<std::string_view> bearer_credentials(std::string_view authorization) noexcept;

// True when s is a b64token (RFC 6750 2.1), the syntax of every bearer token.
bool is_b64token(std::string_view s) noexcept;

// The value of a WWW-Authenticate field (RFC 6750 3): Bearer realm="<realm>", then
// error="<error>" and error_description="<description>" when given. Neither may contain
// '"' or '\\' (they are constants of ours, never request data).
std::string bearer_challenge(std::string_view realm, std::string_view error = {},
                             std::string_view description = {});

// Whether claims satisfy name = value: a string claim equals value; an array claim holds
// value as one of its strings; the "scope" claim, a space-separated string, lists value.
bool claim_satisfies(const nlohmann::json& claims, std::string_view name, std::string_view value);

}  // namespace wirehub::auth
