#include "hub/negotiate.hpp"

#include <sys/random.h>

#include <cerrno>
#include <charconv>
#include <limits>
#include <system_error>

#include <nlohmann/json.hpp>

#include "core/base64.hpp"

namespace wirehub::hub {
namespace {


int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Appends the percent-decoded form of a query component ('+' is a space).
void append_decoded(std::string& out, std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
}

char ascii_lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

// .NET's white space for number and bool parsing: U+0009..U+000D and U+0020.
bool is_dotnet_space(char c) noexcept { return c == ' ' || (c >= '\t' && c <= '\r'); }

std::string_view trim(std::string_view s, bool (*is_space)(char) noexcept) noexcept {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// int.TryParse with NumberStyles.Integer: [ws][sign]digits[ws], within Int32.
std::optional<int> parse_dotnet_int(std::string_view s) {
  s = trim(s, is_dotnet_space);
  bool negative = false;
  if (!s.empty() && (s.front() == '+' || s.front() == '-')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return std::nullopt;
  // The magnitude is read unsigned so that -2147483648 (one past INT_MAX) fits.
  std::uint32_t magnitude = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), magnitude);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  const auto max = static_cast<std::uint32_t>(std::numeric_limits<int>::max());
  if (magnitude > max + (negative ? 1u : 0u)) return std::nullopt;
  if (negative) return static_cast<int>(-static_cast<std::int64_t>(magnitude));
  return static_cast<int>(magnitude);
}

// A JSON string literal; invalid UTF-8 becomes U+FFFD rather than an exception.
void append_json_string(std::string& out, std::string_view s) {
  out += nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::string random_id() {
  unsigned char bytes[16];
  std::size_t got = 0;
  // getrandom may return fewer bytes than asked, or fail with EINTR, when a signal arrives
  // while it waits for the pool at boot; both just mean "ask again for the rest".
  while (got < sizeof bytes) {
    const ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "getrandom");
    }
    got += static_cast<std::size_t>(n);
  }
  // 128 bits = 21 groups of 6 bits and 2 bits left over: 22 characters, no padding.
  return base64_encode(std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes), Base64Alphabet::Url, false);
}

std::string_view transport_name(Transport t) noexcept {
  switch (t) {
    case Transport::WebSockets: return "WebSockets";
    case Transport::ServerSentEvents: return "ServerSentEvents";
    case Transport::LongPolling: return "LongPolling";
  }
  return "";
}

std::variant<NegotiateRequest, std::string> parse_negotiate_query(std::string_view query) {
  NegotiateRequest r;
  if (auto v = query_param_ci(query, "negotiateVersion")) {
    const std::optional<int> n = parse_dotnet_int(*v);
    if (!n) return std::string("The client requested a non-integer protocol version.");
    // The minimum version is 0, ASP.NET's default MinimumProtocolVersion.
    if (*n < 0) {
      return "The client requested version '" + std::to_string(*n) + "', but the server does not support this version.";
    }
    r.version = *n > kMaxNegotiateVersion ? kMaxNegotiateVersion : *n;
  }
  if (auto v = query_param_ci(query, "useStatefulReconnect")) {
    r.stateful_reconnect = iequals(trim(*v, is_dotnet_space), "true");
  }
  return r;
}

std::string negotiate_body(const NegotiateAnswer& a) {
  std::string out = "{\"negotiateVersion\":" + std::to_string(a.version) + ",\"connectionId\":";
  append_json_string(out, a.connection_id);
  // Version 0 clients use the connectionId as the id= value; ASP.NET leaves the token out.
  if (a.version > 0) {
    out += ",\"connectionToken\":";
    append_json_string(out, a.connection_token);
  }
  out += ",\"availableTransports\":[";
  bool first = true;
  for (Transport t : {Transport::WebSockets, Transport::ServerSentEvents, Transport::LongPolling}) {
    if ((a.transports & static_cast<unsigned>(t)) == 0) continue;
    if (!first) out += ',';
    first = false;
    out += "{\"transport\":\"";
    out += transport_name(t);
    // An event stream is text (section 4.2): SSE never lists Binary.
    const bool binary = a.binary_formats && t != Transport::ServerSentEvents;
    out += binary ? "\",\"transferFormats\":[\"Text\",\"Binary\"]}" : "\",\"transferFormats\":[\"Text\"]}";
  }
  out += ']';
  if (a.stateful_reconnect) out += ",\"useStatefulReconnect\":true";
  out += '}';
  return out;
}

std::string negotiate_error_body(std::string_view text) {
  std::string out = "{\"error\":";
  append_json_string(out, text);
  out += '}';
  return out;
}

std::string negotiate_redirect_body(std::string_view url, std::string_view access_token) {
  std::string out = "{\"url\":";
  append_json_string(out, url);
  if (!access_token.empty()) {
    out += ",\"accessToken\":";
    append_json_string(out, access_token);
  }
  out += '}';
  return out;
}

std::optional<std::string> query_param_ci(std::string_view query, std::string_view key) {
  std::string name;
  while (true) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const std::size_t eq = pair.find('=');
    name.clear();
    append_decoded(name, pair.substr(0, eq));
    if (!pair.empty() && iequals(name, key)) {
      std::string value;
      if (eq != std::string_view::npos) append_decoded(value, pair.substr(eq + 1));
      return value;
    }
    if (amp == std::string_view::npos) return std::nullopt;
    query.remove_prefix(amp + 1);
  }
}

std::optional<std::string> cookie_value(std::string_view cookie_header, std::string_view name) {
  constexpr auto is_ows = [](char c) noexcept { return c == ' ' || c == '\t'; };
  while (true) {
    const std::size_t semi = cookie_header.find(';');
    const std::string_view pair = cookie_header.substr(0, semi);
    const std::size_t eq = pair.find('=');
    if (eq != std::string_view::npos && trim(pair.substr(0, eq), is_ows) == name) {
      std::string_view value = trim(pair.substr(eq + 1), is_ows);
      // cookie-value = *cookie-octet / ( DQUOTE *cookie-octet DQUOTE ); the quotes are not
      // part of the value.
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
      return std::string(value);
    }
    if (semi == std::string_view::npos) return std::nullopt;
    cookie_header.remove_prefix(semi + 1);
  }
}

}  // namespace wirehub::hub
