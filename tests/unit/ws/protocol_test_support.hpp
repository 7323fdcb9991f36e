#pragma once
// Shared by the Protocol tests: a handler that logs callbacks as comparable strings, a
// frame builder for either role, and the split-point replayer.

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ws/protocol.hpp"

namespace wirehub::ws::test {

// A readable, comparable rendering of a payload: short ones verbatim (escaped), long ones
// as their size and a hash, so logs of 64 KiB messages stay cheap to compare.
inline std::string show(std::string_view p) {
  if (p.size() > 40)
    return "<" + std::to_string(p.size()) + " bytes #" + std::to_string(std::hash<std::string_view>{}(p)) + ">";
  std::string s;
  for (char c : p) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7F && c != '\\') {
      s += c;
    } else {
      static const char* hex = "0123456789abcdef";
      s += "\\x";
      s += hex[u >> 4];
      s += hex[u & 15];
    }
  }
  return s;
}

inline std::string text_event(std::string_view p) { return "text " + show(p); }
inline std::string binary_event(std::string_view p) { return "binary " + show(p); }
inline std::string ping_event(std::string_view p) { return "ping " + show(p); }
inline std::string pong_event(std::string_view p) { return "pong " + show(p); }
inline std::string close_event(int code, std::string_view reason) { return "close " + std::to_string(code) + " " + show(reason); }

class Recorder final : public Handler {
 public:
  explicit Recorder(const Protocol* p = nullptr) : proto_(p) {}
  std::vector<std::string> log;
  bool stop = false;  // return false from every callback (flow-control tests)
  std::vector<State> state_in_on_close;

  bool on_message(Opcode op, std::string_view p) override {
    log.push_back(op == Opcode::Text ? text_event(p) : op == Opcode::Binary ? binary_event(p) : "bad opcode");
    return go_on();
  }
  bool on_ping(std::string_view p) override {
    log.push_back(ping_event(p));
    return go_on();
  }
  bool on_pong(std::string_view p) override {
    log.push_back(pong_event(p));
    return go_on();
  }
  bool on_close(std::uint16_t code, std::string_view reason) override {
    log.push_back(close_event(code, reason));
    if (proto_) state_in_on_close.push_back(proto_->state());
    return true;
  }
  void on_error(CloseCode code, std::string_view) override { log.push_back("error " + std::to_string(to_int(code))); }

 private:
  bool go_on() const { return !stop; }
  const Protocol* proto_;
};

// Frames as a client (masked, with a key that varies per frame) or a server sends them.
struct Wire {
  Role sender = Role::Client;
  int frames = 0;

  std::string frame(Opcode op, std::string_view payload, bool fin = true) {
    std::string out;
    if (sender == Role::Client) {
      const std::uint8_t key[4] = {static_cast<std::uint8_t>(0x3C + 17 * frames), 0xA5, 0x00,
                                   static_cast<std::uint8_t>(0xF1 - frames)};
      write_frame(out, op, payload, key, fin);
    } else {
      write_frame(out, op, payload, nullptr, fin);
    }
    ++frames;
    return out;
  }
  std::string close(std::uint16_t code, std::string_view reason) {
    std::string out;
    const std::uint8_t key[4] = {9, 8, 7, 6};
    write_close(out, code, reason, sender == Role::Client ? key : nullptr);
    return out;
  }
};


// One frame with every header field under the caller's control, including the ones no
// correct sender produces: b0 is the first byte (FIN, RSV, opcode); form picks the length
// encoding (0 minimal, 16 or 64 forced); len overrides the announced length.
inline std::string raw_frame(std::uint8_t b0, std::string_view payload, bool masked = true, int form = 0,
                             std::uint64_t len = ~std::uint64_t{0}) {
  if (len == ~std::uint64_t{0}) len = payload.size();
  std::string out(1, static_cast<char>(b0));
  const char mask_bit = masked ? '\x80' : 0;
  if (form == 0) form = len <= 125 ? 7 : len <= 0xFFFF ? 16 : 64;
  if (form == 7) {
    out += static_cast<char>(mask_bit | static_cast<char>(len));
  } else if (form == 16) {
    out += static_cast<char>(mask_bit | 126);
    out += static_cast<char>(len >> 8);
    out += static_cast<char>(len & 0xFF);
  } else {
    out += static_cast<char>(mask_bit | 127);
    for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((len >> shift) & 0xFF);
  }
  std::string body(payload);
  if (masked) {
    const std::uint8_t key[4] = {0x11, 0x22, 0x33, 0x44};
    out.append(reinterpret_cast<const char*>(key), 4);
    apply_mask(body.data(), body.size(), key);
  }
  return out + body;
}

struct Outcome {
  std::vector<std::string> log;
  std::size_t consumed = 0;
};

// Feeds wire to a fresh Protocol in the chunks [cuts[i], cuts[i+1]). Each chunk is copied
// into its own exactly-sized heap block that is freed after receive(), so AddressSanitizer
// catches any read past the chunk and any view kept across calls.
inline Outcome replay(std::string_view wire, const std::vector<std::size_t>& cuts, Role role, Limits limits = {}) {
  Protocol proto(role, limits);
  Recorder rec;
  Outcome out;
  for (std::size_t i = 0; i + 1 < cuts.size(); ++i) {
    std::size_t len = cuts[i + 1] - cuts[i];
    std::unique_ptr<char[]> chunk(new char[len ? len : 1]);
    std::memcpy(chunk.get(), wire.data() + cuts[i], len);
    std::size_t used = proto.receive(chunk.get(), len, rec);
    out.consumed += used;
    if (used < len || proto.state() == State::Closed) {
      // Stopped for good: nothing more is consumed or reported.
      EXPECT_EQ(proto.state(), State::Closed);
      char more[3] = {'\x81', '\x00', '\x00'};
      EXPECT_EQ(proto.receive(more, sizeof more, rec), 0u);
      break;
    }
  }
  out.log = std::move(rec.log);
  return out;
}

inline std::vector<std::size_t> whole(std::size_t n) { return {0, n}; }
inline std::vector<std::size_t> split_at(std::size_t n, std::size_t a) { return {0, a, n}; }
inline std::vector<std::size_t> bytewise(std::size_t n) {
  std::vector<std::size_t> c;
  for (std::size_t i = 0; i <= n; ++i) c.push_back(i);
  if (n == 0) c.push_back(0);
  return c;
}

// Replays wire whole, at every split point, byte by byte and (when short) at every pair
// of split points, and checks each time that the log and the bytes consumed are the same
// (kAnyConsumed: not checked, for streams that fail part-way through a frame).
constexpr std::size_t kAnyConsumed = std::string::npos;

inline void expect_same_everywhere(const std::string& name, const std::string& wire, Role role,
                            const std::vector<std::string>& log, std::size_t consumed, Limits limits = {}) {
  const std::size_t n = wire.size();
  auto check = [&](const std::vector<std::size_t>& cuts, const std::string& how) {
    Outcome o = replay(wire, cuts, role, limits);
    ASSERT_EQ(o.log, log) << name << ": " << how;
    if (consumed != kAnyConsumed) {
      ASSERT_EQ(o.consumed, consumed) << name << ": " << how;
    }
  };
  check(whole(n), "whole");
  for (std::size_t a = 0; a <= n; ++a) check(split_at(n, a), "split at " + std::to_string(a));
  check(bytewise(n), "byte by byte");
  if (n <= 200)
    for (std::size_t a = 1; a < n; ++a)
      for (std::size_t b = a + 1; b < n; ++b) check({0, a, b, n}, "split at " + std::to_string(a) + "," + std::to_string(b));
}

inline std::string bytes_pattern(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 31 + seed) ^ (i >> 8));
  return s;
}

// Valid UTF-8 of exactly n bytes mixing 1- to 4-byte characters.
inline std::string utf8_text(std::size_t n) {
  static const char* pieces[] = {"a", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "z"};
  std::string s;
  for (std::size_t i = 0; s.size() < n; ++i) {
    std::string_view p = pieces[i % 5];
    if (s.size() + p.size() > n) p = "x";
    s += p;
  }
  return s;
}

}  // namespace wirehub::ws::test
