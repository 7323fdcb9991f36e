#pragma once
// Wire helpers of the client side, all pure: the opening handshake request and the check
// of its response (RFC 6455 4.1), masked frame payloads (5.3), and the 8-byte sequence
// header wirehub-bench puts at the front of every message it sends.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace wirehub::bench {

// xorshift64*: a fast generator for masking keys and handshake nonces. Not for secrets;
// RFC 6455 10.3 only asks that a masking key not be predictable by the page script, and
// here there is no script.
class Xorshift {
 public:
  explicit Xorshift(std::uint64_t seed) noexcept : s_(seed ? seed : 0x9E3779B97F4A7C15ull) {}
  std::uint64_t next() noexcept {
    s_ ^= s_ >> 12;
    s_ ^= s_ << 25;
    s_ ^= s_ >> 27;
    return s_ * 0x2545F4914F6CDD1Dull;
  }

 private:
  std::uint64_t s_;
};

// A seed from the kernel's random source (falls back to the clock).
std::uint64_t random_seed() noexcept;

// Bytes in the sequence header.
constexpr std::size_t kSeqBytes = 8;
// Largest sequence number the header holds (48 bits).
constexpr std::uint64_t kMaxSeq = (std::uint64_t{1} << 48) - 1;

// Writes seq (mod 2^48) as 8 bytes of 6 bits each, every byte in 0x40..0x7F: plain ASCII,
// so the same header works in text messages (UTF-8) and binary ones.
void encode_seq(char* out, std::uint64_t seq) noexcept;
// Reads a header written by encode_seq; nullopt if any byte is outside 0x40..0x7F.
std::optional<std::uint64_t> decode_seq(const char* in) noexcept;

// dst[i] = src[i] ^ key[(phase + i) % 4] for n bytes; returns the phase after them.
// dst and src must not overlap.
std::size_t mask_copy(char* dst, const char* src, std::size_t n, std::uint32_t key, std::size_t phase) noexcept;

// A Sec-WebSocket-Key: the base64 of 16 random bytes (RFC 6455 4.1 item 7).
std::string make_websocket_key(Xorshift& rng);

// The opening handshake request for path on host_header with key.
// offer_deflate adds "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits".
std::string upgrade_request(std::string_view host_header, std::string_view path, std::string_view key,
                            bool offer_deflate = false);

// Offset just past the "\r\n\r\n" that ends an HTTP head in data, or npos.
std::size_t find_head_end(std::string_view data) noexcept;

// Checks the server's handshake response head (status line and fields, up to and
// including the blank line) against RFC 6455 4.1 items 1-4 of the client's duties:
// status 101, Upgrade: websocket, Connection: upgrade, Sec-WebSocket-Accept equal to
// expected_accept; and no extension unless deflate_offered, then only permessage-deflate.
// Returns nullptr when it is acceptable, else a static reason.
const char* check_upgrade_response(std::string_view head, std::string_view expected_accept,
                                   bool deflate_offered = false) noexcept;

}  // namespace wirehub::bench
