// Fuzzes http::RequestParser the way HttpConnection drives it: bytes arrive in chunks
// whose sizes come from the input, unconsumed bytes are kept and re-presented. Checks the
// parser's contract: consumed never exceeds the input, NeedMore consumes nothing, body
// views lie inside the input, and a message's body bytes never exceed the limit.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "http/request_parser.hpp"

using wirehub::http::RequestParser;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  std::size_t chunk = 1 + data[0] % 64;
  wirehub::http::Limits limits;
  limits.max_head_bytes = 1024;
  limits.max_headers = 16;
  limits.max_body_bytes = 4096;
  RequestParser parser(limits);
  std::string pending;
  std::uint64_t body_bytes = 0;
  for (std::size_t off = 1; off < size;) {
    std::size_t n = std::min(chunk, size - off);
    pending.append(reinterpret_cast<const char*>(data + off), n);
    off += n;
    for (;;) {
      auto r = parser.parse(pending);
      if (r.consumed > pending.size()) std::abort();
      if (r.event == RequestParser::Event::NeedMore) {
        if (r.consumed != 0) std::abort();
        break;
      }
      if (r.event == RequestParser::Event::Error) return 0;
      if (r.event == RequestParser::Event::Body) {
        if (r.body.data() < pending.data() || r.body.data() + r.body.size() > pending.data() + pending.size())
          std::abort();
        body_bytes += r.body.size();
        if (body_bytes > limits.max_body_bytes) std::abort();
      }
      if (r.event == RequestParser::Event::Done) body_bytes = 0;
      pending.erase(0, r.consumed);
    }
  }
  return 0;
}
