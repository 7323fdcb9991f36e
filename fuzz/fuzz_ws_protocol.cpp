// Fuzzes ws::Protocol (server role) with input split into chunks chosen by the first
// byte, whose top bit also turns permessage-deflate on (RSV1 messages are inflated) and
// whose next bit then picks context takeover for the inflater. Checks: every message
// delivered (inflated or not) is within the limit, text messages are valid UTF-8,
// control payloads are at most 125 bytes, and nothing is delivered after a close or an
// error.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "ws/deflate.hpp"
#include "ws/protocol.hpp"
#include "ws/utf8.hpp"

namespace {

using namespace wirehub::ws;

struct Checker final : Handler {
  std::uint64_t limit;
  bool ended = false;
  Inflater inflater_;
  Checker(std::uint64_t l, bool takeover) : limit(l), inflater_(15, takeover, 0) {}
  Inflater* inflater() override { return &inflater_; }
  bool on_message(Opcode op, std::string_view p) override {
    if (ended || p.size() > limit) std::abort();
    if (op == Opcode::Text && !is_valid_utf8(p)) std::abort();
    return true;
  }
  bool on_ping(std::string_view p) override {
    if (ended || p.size() > 125) std::abort();
    return true;
  }
  bool on_pong(std::string_view p) override {
    if (ended || p.size() > 125) std::abort();
    return true;
  }
  bool on_close(std::uint16_t, std::string_view reason) override {
    if (ended || !is_valid_utf8(reason)) std::abort();
    ended = true;
    return false;
  }
  void on_error(CloseCode, std::string_view) override {
    if (ended) std::abort();
    ended = true;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  std::size_t chunk = 1 + data[0] % 128;
  Limits limits;
  limits.max_message_bytes = 1 << 16;
  Protocol protocol(Role::Server, limits);
  if (data[0] & 0x80) protocol.accept_compressed();
  Checker checker(limits.max_message_bytes, (data[0] & 0x40) != 0);
  std::vector<char> buf(data + 1, data + size);
  for (std::size_t off = 0; off < buf.size() && !checker.ended;) {
    std::size_t n = std::min(chunk, buf.size() - off);
    std::size_t used = protocol.receive(buf.data() + off, n, checker);
    if (used > n) std::abort();
    if (used < n && !checker.ended) std::abort();  // only a close or an error stops early
    off += n;
  }
  return 0;
}
