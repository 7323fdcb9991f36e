#include "dashboard.hpp"

#include <string>
#include <string_view>

#include "web_assets.hpp"
#include "wirehub/server.hpp"

namespace wirehub::app {
namespace {

// Scripts, styles and images only from the server itself; connections (fetch,
// EventSource, WebSocket) to it and to WebSocket URLs (older browsers do not let 'self'
// cover ws: and wss:); no plugins, no <base>, no framing.
constexpr std::string_view kContentSecurityPolicy =
    "default-src 'self'; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'";

constexpr bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

// True when an If-None-Match field value matches etag (a quoted strong tag): "*", or a
// list of entity tags one of which equals it under the weak comparison (RFC 9110 13.1.2:
// a W/ prefix is ignored). A tag's quotes delimit it, since commas may appear inside one.
bool if_none_match_matches(std::string_view field, std::string_view etag) noexcept {
  std::size_t i = 0;
  while (i < field.size()) {
    if (is_ows(field[i]) || field[i] == ',') {
      ++i;
      continue;
    }
    if (field[i] == '*') return true;
    if (field.substr(i, 2) == "W/") i += 2;
    if (i >= field.size() || field[i] != '"') return false;  // malformed: no match
    const std::size_t close = field.find('"', i + 1);
    if (close == std::string_view::npos) return false;
    if (field.substr(i, close + 1 - i) == etag) return true;
    i = close + 1;
  }
  return false;
}

void serve(const HttpRequest& req, HttpResponse& res, const WebAsset& asset) {
  res.headers = {{"ETag", std::string(asset.etag)},
                 {"Cache-Control", "no-cache"},
                 {"X-Content-Type-Options", "nosniff"},
                 {"Content-Security-Policy", std::string(kContentSecurityPolicy)},
                 {"Referrer-Policy", "no-referrer"}};
  if (auto field = req.header("If-None-Match"); field && if_none_match_matches(*field, asset.etag)) {
    res.status = 304;
    res.content_type.clear();  // a 304 has no content to describe
    return;
  }
  res.content_type = std::string(asset.content_type);
  res.body = std::string(asset.body);
}

void not_found(HttpResponse& res) {
  res.status = 404;
  res.body = "not found\n";
  res.headers = {{"X-Content-Type-Options", "nosniff"}};
}

}  // namespace

void mount_dashboard(Server& server) {
  server.route("GET", "/", [](const HttpRequest& req, HttpResponse& res) {
    if (const WebAsset* index = find_web_asset("index.html")) {
      serve(req, res, *index);
    } else {
      not_found(res);
    }
  });
  server.route("GET", "/assets/*", [](const HttpRequest& req, HttpResponse& res) {
    const WebAsset* asset = find_web_asset(req.param("*").value_or(""));
    if (asset) {
      serve(req, res, *asset);
    } else {
      not_found(res);
    }
  });
}

}  // namespace wirehub::app
