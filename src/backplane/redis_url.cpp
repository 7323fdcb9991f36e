// parse_redis_url (declared in redis_backplane.hpp).
#include <charconv>
#include <string>
#include <string_view>

#include "backplane/redis_backplane.hpp"

namespace wirehub::backplane {
namespace {

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX decoding of the user and password; false on a malformed escape.
bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    const int hi = hex_value(in[i + 1]);
    const int lo = hex_value(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

// Digits only, within [lo, hi].
bool parse_number(std::string_view s, long lo, long hi, long& out) {
  if (s.empty() || s.size() > 10) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() && out >= lo && out <= hi;
}

}  // namespace

RedisUrl parse_redis_url(std::string_view url) {
  RedisUrl r;
  auto fail = [&](std::string why) {
    // The URL is quoted for the operator, but never its password.
    std::string shown(url);
    const std::size_t scheme_end = shown.find("://");
    const std::size_t at = shown.rfind('@');
    if (scheme_end != std::string::npos && at != std::string::npos && at > scheme_end) {
      shown.replace(scheme_end + 3, at - scheme_end - 3, "***");
    }
    r.error = "bad Redis URL '" + shown + "': " + std::move(why);
    return r;
  };
  if (starts_with_ci(url, "rediss://")) {
    return fail("rediss:// (TLS) is not supported: the hiredis this build uses (0.14) has no TLS; use redis://");
  }
  if (!starts_with_ci(url, "redis://")) return fail("expected redis://[[user]:password@]host[:port][/db]");
  std::string_view rest = url.substr(8);
  if (rest.find_first_of("?#") != std::string_view::npos) return fail("query and fragment are not supported");

  // The password may hold '@' and '/': the last '@' ends the user information.
  if (const std::size_t at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const std::size_t colon = userinfo.find(':');
    if (colon == std::string_view::npos) return fail("user information needs ':' before the password (redis://:password@host)");
    if (!percent_decode(userinfo.substr(0, colon), r.options.user) ||
        !percent_decode(userinfo.substr(colon + 1), r.options.password)) {
      return fail("bad %-escape in the user information");
    }
    if (r.options.password.empty()) return fail("empty password");
  }

  const std::size_t slash = rest.find('/');
  std::string_view hostport = rest.substr(0, slash);
  const std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);

  std::string_view host;
  std::string_view port;
  bool has_port = false;
  if (!hostport.empty() && hostport.front() == '[') {
    const std::size_t close = hostport.find(']');
    if (close == std::string_view::npos) return fail("IPv6 address without its closing ']'");
    host = hostport.substr(1, close - 1);
    const std::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail("unexpected text after the IPv6 address");
      port = after.substr(1);
      has_port = true;
    }
    if (host.find(':') == std::string_view::npos) return fail("brackets are for IPv6 addresses only");
  } else {
    const std::size_t colon = hostport.find(':');
    host = hostport.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = hostport.substr(colon + 1);
      has_port = true;
    }
  }
  if (host.empty()) return fail("missing host");
  for (char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '-' || c == '_' || c == ':';
    if (!ok) return fail("bad character in host '" + std::string(host) + "'");
  }
  r.options.host = std::string(host);

  if (has_port) {
    long p = 0;
    if (!parse_number(port, 1, 65535, p)) return fail("port must be a number from 1 to 65535, not '" + std::string(port) + "'");
    r.options.port = static_cast<std::uint16_t>(p);
  }
  if (!path.empty()) {
    long db = 0;
    if (!parse_number(path, 0, 1'000'000, db)) return fail("database must be a number from 0, not '" + std::string(path) + "'");
    r.options.db = static_cast<int>(db);
  }
  return r;
}

}  // namespace wirehub::backplane
