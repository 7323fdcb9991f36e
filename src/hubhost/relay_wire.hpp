#pragma once
// The byte layout of what a hub relays to other nodes (hub_relay.cpp, hub_forward.cpp):
// little-endian unsigned integers of 2 and 4 bytes, and a reader that notes any shortfall.

#include <cstddef>
#include <string>
#include <string_view>

namespace wirehub::hubhost::relay_wire {

inline void put_u16(std::string& out, std::size_t v) {
  out.push_back(static_cast<char>(v & 0xFF));
  out.push_back(static_cast<char>((v >> 8) & 0xFF));
}
inline void put_u32(std::string& out, std::size_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

// Reads what the writer above wrote; any shortfall makes ok false.
struct Reader {
  std::string_view in;
  bool ok = true;
  std::size_t uint(int bytes) {
    if (in.size() < static_cast<std::size_t>(bytes)) {
      ok = false;
      return 0;
    }
    std::size_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= static_cast<std::size_t>(static_cast<unsigned char>(in[i])) << (8 * i);
    in.remove_prefix(static_cast<std::size_t>(bytes));
    return v;
  }
  std::string_view bytes(std::size_t n) {
    if (!ok || in.size() < n) {
      ok = false;
      return {};
    }
    std::string_view b = in.substr(0, n);
    in.remove_prefix(n);
    return b;
  }
};

}  // namespace wirehub::hubhost::relay_wire
