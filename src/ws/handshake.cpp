#include "ws/handshake.hpp"

#include <openssl/evp.h>

#include <array>
#include <stdexcept>

#include "core/base64.hpp"

namespace wirehub::ws {
namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

// RFC 6455 4.1: the key is "a randomly selected 16-byte value that has been
// base64-encoded". 16 bytes encode as 22 characters and "=="; the 22nd character carries
// only 2 data bits, so its low 4 bits must be zero in the canonical encoding (RFC 4648 3.5).
bool is_valid_key(std::string_view key) noexcept {
  if (key.size() != 24 || key[22] != '=' || key[23] != '=') return false;
  for (std::size_t i = 0; i < 22; ++i)
    if (base64_value(key[i], Base64Alphabet::Standard) < 0) return false;
  return (base64_value(key[21], Base64Alphabet::Standard) & 0x0F) == 0;
}

}  // namespace

bool has_token(std::string_view list, std::string_view token) noexcept {
  while (true) {
    std::size_t comma = list.find(',');
    if (iequals(trim(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) return false;
    list.remove_prefix(comma + 1);
  }
}

std::optional<HandshakeError> check_upgrade(const HandshakeRequest& req) {
  // RFC 6455 4.2.1: each item below is a MUST of the client's handshake; a request that
  // misses one gets "an appropriate error code (such as 400 Bad Request)".
  if (req.method != "GET") return HandshakeError{400, "WebSocket upgrade requires GET", false};
  if (req.version_minor < 1) return HandshakeError{400, "WebSocket upgrade requires HTTP/1.1", false};
  if (!req.host) return HandshakeError{400, "missing Host", false};
  if (!req.upgrade || !has_token(*req.upgrade, "websocket"))
    return HandshakeError{400, "Upgrade header must include \"websocket\"", false};
  if (!req.connection || !has_token(*req.connection, "upgrade"))
    return HandshakeError{400, "Connection header must include \"Upgrade\"", false};
  if (!req.version) return HandshakeError{400, "missing Sec-WebSocket-Version", false};
  // RFC 6455 4.4: an unsupported version is answered with 426 and the versions we speak.
  if (trim(*req.version) != kWebSocketVersion) return HandshakeError{426, "unsupported Sec-WebSocket-Version", true};
  if (!req.key || !is_valid_key(*req.key)) return HandshakeError{400, "invalid Sec-WebSocket-Key", false};
  return std::nullopt;
}

std::string accept_key(std::string_view sec_websocket_key) {
  std::string input;
  input.reserve(sec_websocket_key.size() + kGuid.size());
  input.append(sec_websocket_key).append(kGuid);
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest;
  unsigned int digest_len = 0;
  if (EVP_Digest(input.data(), input.size(), digest.data(), &digest_len, EVP_sha1(), nullptr) != 1 ||
      digest_len != 20)
    throw std::runtime_error("SHA-1 unavailable");
  std::array<unsigned char, 29> b64;  // 4 * ceil(20 / 3) = 28, plus the NUL EVP_EncodeBlock writes
  int n = EVP_EncodeBlock(b64.data(), digest.data(), 20);
  return std::string(reinterpret_cast<const char*>(b64.data()), static_cast<std::size_t>(n));
}

std::vector<std::string_view> split_tokens(std::string_view comma_list) {
  std::vector<std::string_view> out;
  while (true) {
    std::size_t comma = comma_list.find(',');
    std::string_view item = trim(comma_list.substr(0, comma));
    if (!item.empty()) out.push_back(item);
    if (comma == std::string_view::npos) return out;
    comma_list.remove_prefix(comma + 1);
  }
}

void write_upgrade_response(std::string& out, std::string_view accept, std::string_view subprotocol,
                            std::string_view extra_header_lines) {
  out.append(
      "HTTP/1.1 101 Switching Protocols\r\n"
      "Upgrade: websocket\r\n"
      "Connection: Upgrade\r\n"
      "Sec-WebSocket-Accept: ");
  out.append(accept).append("\r\n");
  if (!subprotocol.empty()) out.append("Sec-WebSocket-Protocol: ").append(subprotocol).append("\r\n");
  out.append(extra_header_lines).append("\r\n");
}

}  // namespace wirehub::ws
