#include "ws/deflate_state.hpp"

#include <vector>

namespace wirehub::ws {

Deflater& thread_deflater(int level, int window_bits, int mem_level) {
  // Almost always one entry: endpoints rarely differ in level or memLevel, and clients
  // rarely ask for a smaller window.
  thread_local std::vector<std::unique_ptr<Deflater>> deflaters;
  for (auto& d : deflaters) {
    if (d->level() == level && d->window_bits() == window_bits && d->mem_level() == mem_level)
      return *d;
  }
  deflaters.push_back(
      std::make_unique<Deflater>(level, window_bits, mem_level, /*takeover=*/false));
  return *deflaters.back();
}

Inflater& thread_inflater() {
  // Keeps up to 64 KiB of output capacity: most messages then inflate without allocating.
  thread_local Inflater inflater(15, /*takeover=*/false, 64 * 1024);
  return inflater;
}

}  // namespace wirehub::ws
