#include "wire.hpp"

#include <sys/random.h>
#include <time.h>

#include <cstring>

#include "ws/handshake.hpp"

namespace wirehub::bench {

std::uint64_t random_seed() noexcept {
  std::uint64_t seed = 0;
  if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof seed) || seed == 0) {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    seed = static_cast<std::uint64_t>(ts.tv_nsec) * 0x9E3779B97F4A7C15ull ^ static_cast<std::uint64_t>(ts.tv_sec);
  }
  return seed;
}

void encode_seq(char* out, std::uint64_t seq) noexcept {
  for (std::size_t i = 0; i < kSeqBytes; ++i) {
    out[i] = static_cast<char>(0x40 | ((seq >> (6 * (kSeqBytes - 1 - i))) & 0x3F));
  }
}

std::optional<std::uint64_t> decode_seq(const char* in) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < kSeqBytes; ++i) {
    const auto b = static_cast<unsigned char>(in[i]);
    if ((b & 0xC0) != 0x40) return std::nullopt;
    v = (v << 6) | (b & 0x3F);
  }
  return v;
}

std::size_t mask_copy(char* dst, const char* src, std::size_t n, std::uint32_t key, std::size_t phase) noexcept {
  phase &= 3;
  // key is in wire order (its first byte masks the first payload byte); rotate it so that
  // byte 0 of the 8-byte lane pairs with key byte `phase`.
  unsigned char k[4];
  std::memcpy(k, &key, 4);
  unsigned char lane[8];
  for (std::size_t i = 0; i < 8; ++i) lane[i] = k[(phase + i) & 3];
  std::uint64_t k64;
  std::memcpy(&k64, lane, 8);
  std::size_t i = 0;
  // Four independent 8-byte lanes per step: enough for the compiler to keep the stores
  // streaming; the masked copy is the only per-byte work a large send does.
  for (; i + 32 <= n; i += 32) {
    std::uint64_t a, b, c, d;
    std::memcpy(&a, src + i, 8);
    std::memcpy(&b, src + i + 8, 8);
    std::memcpy(&c, src + i + 16, 8);
    std::memcpy(&d, src + i + 24, 8);
    a ^= k64, b ^= k64, c ^= k64, d ^= k64;
    std::memcpy(dst + i, &a, 8);
    std::memcpy(dst + i + 8, &b, 8);
    std::memcpy(dst + i + 16, &c, 8);
    std::memcpy(dst + i + 24, &d, 8);
  }
  for (; i + 8 <= n; i += 8) {
    std::uint64_t a;
    std::memcpy(&a, src + i, 8);
    a ^= k64;
    std::memcpy(dst + i, &a, 8);
  }
  for (; i < n; ++i) dst[i] = static_cast<char>(static_cast<unsigned char>(src[i]) ^ lane[i & 7]);
  return (phase + n) & 3;
}

std::string make_websocket_key(Xorshift& rng) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  unsigned char raw[18] = {};  // 16 random bytes, zero-padded to a multiple of 3
  const std::uint64_t a = rng.next(), b = rng.next();
  std::memcpy(raw, &a, 8);
  std::memcpy(raw + 8, &b, 8);
  std::string key;
  key.reserve(24);
  for (std::size_t i = 0; i < 18; i += 3) {
    const std::uint32_t v = (std::uint32_t{raw[i]} << 16) | (std::uint32_t{raw[i + 1]} << 8) | raw[i + 2];
    key += kAlphabet[(v >> 18) & 63];
    key += kAlphabet[(v >> 12) & 63];
    key += kAlphabet[(v >> 6) & 63];
    key += kAlphabet[v & 63];
  }
  // 16 bytes encode to 22 significant characters and "==".
  key.resize(22);
  key += "==";
  return key;
}

std::string upgrade_request(std::string_view host_header, std::string_view path, std::string_view key,
                            bool offer_deflate) {
  std::string r;
  r.reserve(160 + host_header.size() + path.size());
  r.append("GET ").append(path).append(" HTTP/1.1\r\nHost: ").append(host_header);
  r.append("\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ").append(key);
  r.append("\r\nSec-WebSocket-Version: 13\r\n");
  if (offer_deflate) r.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n");
  r.append("\r\n");
  return r;
}

std::size_t find_head_end(std::string_view data) noexcept {
  const std::size_t at = data.find("\r\n\r\n");
  return at == std::string_view::npos ? std::string_view::npos : at + 4;
}

namespace {

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

const char* check_upgrade_response(std::string_view head, std::string_view expected_accept,
                                   bool deflate_offered) noexcept {
  std::size_t eol = head.find("\r\n");
  if (eol == std::string_view::npos) return "incomplete response head";
  std::string_view status = head.substr(0, eol);
  // "HTTP/1.1 101 Switching Protocols": the reason phrase is free text.
  if (status.size() < 12 || status.substr(0, 5) != "HTTP/" || status.substr(8, 4) != " 101")
    return "the server did not answer 101 Switching Protocols";
  if (status.size() > 12 && status[12] != ' ') return "malformed status line";
  bool upgrade = false, connection = false, accept = false;
  std::size_t pos = eol + 2;
  while (pos < head.size()) {
    eol = head.find("\r\n", pos);
    if (eol == std::string_view::npos) return "incomplete response head";
    std::string_view line = head.substr(pos, eol - pos);
    pos = eol + 2;
    if (line.empty()) break;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return "malformed header field";
    std::string_view name = line.substr(0, colon), value = trim(line.substr(colon + 1));
    if (iequals(name, "upgrade")) {
      upgrade = ws::has_token(value, "websocket");
    } else if (iequals(name, "connection")) {
      connection = ws::has_token(value, "upgrade");
    } else if (iequals(name, "sec-websocket-accept")) {
      if (value != expected_accept) return "wrong Sec-WebSocket-Accept";
      accept = true;
    } else if (iequals(name, "sec-websocket-extensions")) {
      if (!deflate_offered || value.substr(0, 18) != "permessage-deflate")
        return "the server selected an extension the client did not offer";
    }
  }
  if (!upgrade) return "missing Upgrade: websocket";
  if (!connection) return "missing Connection: upgrade";
  if (!accept) return "missing Sec-WebSocket-Accept";
  return nullptr;
}

}  // namespace wirehub::bench
