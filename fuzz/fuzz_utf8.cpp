// Differential fuzzing of the UTF-8 validator: whole-buffer, incremental at a chunk size
// chosen by the first byte, and a plain reference decoder must agree.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ws/utf8.hpp"

namespace {

// Straightforward RFC 3629 check, written for clarity rather than speed.
bool reference_valid(const unsigned char* s, std::size_t n) {
  std::size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    std::size_t len;
    std::uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    else if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
    else return false;
    if (i + len > n) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return false;
    if (cp >= 0xD800 && cp <= 0xDFFF) return false;
    i += len;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  std::size_t chunk = 1 + data[0] % 17;
  const auto* s = reinterpret_cast<const char*>(data + 1);
  std::size_t n = size - 1;
  bool ref = reference_valid(data + 1, n);
  bool whole = wirehub::ws::is_valid_utf8(std::string_view(s, n));
  wirehub::ws::Utf8Validator v;
  bool ok = true;
  for (std::size_t off = 0; off < n && ok; off += chunk) ok = v.feed(s + off, std::min(chunk, n - off));
  bool incremental = ok && v.complete();
  if (ref != whole || ref != incremental) std::abort();
  return 0;
}
