#pragma once
// Where a session's permessage-deflate state lives (I/O side; the codecs are deflate.hpp).
//
// Without context takeover in a direction, a message needs no history, so the zlib state
// for it is the thread's: one Deflater per (level, window, memLevel) and one Inflater per
// thread, reset after every message. Only a direction with context takeover needs state
// of its own per connection: a ConnectionDeflate, allocated at first use and kept in the
// endpoint's per-slot side table, so a Session never grows for it.

#include <memory>

#include "ws/deflate.hpp"

namespace wirehub::ws {

struct ConnectionDeflate {
  std::unique_ptr<Deflater> deflater;  // server -> client, with context takeover
  std::unique_ptr<Inflater> inflater;  // client -> server, with context takeover
};

// The calling thread's compressor for messages sent without context takeover.
Deflater& thread_deflater(int level, int window_bits, int mem_level);
// The calling thread's decompressor for whole messages received without context
// takeover. Its window is 15 bits, which decodes any smaller window too.
Inflater& thread_inflater();

}  // namespace wirehub::ws
