#include "auth/bearer.hpp"

#include <strings.h>

namespace wirehub::auth {

namespace {
bool is_b64token_char(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~' || c == '+' || c == '/';
}
}  // namespace

bool is_b64token(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size() && is_b64token_char(s[i])) ++i;
  if (i == 0) return false;
  while (i < s.size() && s[i] == '=') ++i;
  return i == s.size();
}

std::optional<std::string_view> bearer_credentials(std::string_view authorization) noexcept {
  constexpr std::string_view kScheme = "Bearer";
  if (authorization.size() < kScheme.size() ||
      strncasecmp(authorization.data(), kScheme.data(), kScheme.size()) != 0) {
    return std::nullopt;
  }
  std::string_view rest = authorization.substr(kScheme.size());
  if (!rest.empty() && rest[0] != ' ') return std::nullopt;  // "Bearerx": another scheme
  std::size_t spaces = rest.find_first_not_of(' ');
  if (spaces == std::string_view::npos) return std::string_view{};
  std::string_view token = rest.substr(spaces);
  if (!is_b64token(token)) return std::string_view{};
  return token;
}

std::string bearer_challenge(std::string_view realm, std::string_view error, std::string_view description) {
  std::string v = "Bearer realm=\"";
  v += realm;
  v += '"';
  if (!error.empty()) {
    v += ", error=\"";
    v += error;
    v += '"';
  }
  if (!description.empty()) {
    v += ", error_description=\"";
    v += description;
    v += '"';
  }
  return v;
}

bool claim_satisfies(const nlohmann::json& claims, std::string_view name, std::string_view value) {
  auto it = claims.find(std::string(name));
  if (it == claims.end()) return false;
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    if (s == value) return true;
    if (name != "scope") return false;
    std::string_view list = s;
    while (!list.empty()) {
      std::size_t sp = list.find(' ');
      if (list.substr(0, sp) == value) return true;
      if (sp == std::string_view::npos) break;
      list.remove_prefix(sp + 1);
    }
    return false;
  }
  if (it->is_array()) {
    for (const auto& e : *it) {
      if (e.is_string() && e.get_ref<const std::string&>() == value) return true;
    }
  }
  return false;
}

}  // namespace wirehub::auth
