// Fuzzing of the permessage-deflate negotiation (RFC 7692 7.1): arbitrary
// Sec-WebSocket-Extensions field values (the input split at '\n' into field lines), with
// the first byte choosing the server's policy. Nothing may crash or read out of bounds,
// and whatever is agreed must respect the policy and be answered with a value that is
// itself a well-formed offer of exactly the same parameters.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "ws/deflate_negotiation.hpp"

using wirehub::ws::DeflatePolicy;
using wirehub::ws::negotiate_deflate;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  DeflatePolicy policy;
  policy.server_max_window_bits = static_cast<std::uint8_t>(8 + (data[0] & 0x7));
  policy.client_max_window_bits = static_cast<std::uint8_t>(8 + ((data[0] >> 3) & 0x7));
  policy.server_no_context_takeover = data[0] & 0x40;
  policy.client_no_context_takeover = data[0] & 0x80;

  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::vector<std::string_view> lines;
  while (true) {
    std::size_t nl = in.find('\n');
    lines.push_back(in.substr(0, nl));
    if (nl == std::string_view::npos) break;
    in.remove_prefix(nl + 1);
  }
  auto agreed = negotiate_deflate(lines, policy);
  if (!agreed) return 0;

  const auto& a = agreed->agreement;
  if (!a.enabled) std::abort();
  if (a.server_window_bits < 8 || a.server_window_bits > policy.server_max_window_bits) std::abort();
  if (a.client_window_bits < 8 || a.client_window_bits > 15) std::abort();
  if (policy.server_no_context_takeover && !a.server_no_context_takeover) std::abort();
  if (policy.client_no_context_takeover && !a.client_no_context_takeover) std::abort();

  // Our answer, read back as an offer by a server that accepts anything, must parse and
  // name the same parameters.
  DeflatePolicy lenient;
  const std::string_view answer[] = {agreed->response};
  auto again = negotiate_deflate(answer, lenient);
  if (!again) std::abort();
  const auto& b = again->agreement;
  if (b.server_no_context_takeover != a.server_no_context_takeover ||
      b.client_no_context_takeover != a.client_no_context_takeover || b.server_window_bits != a.server_window_bits) {
    std::abort();
  }
  return 0;
}
