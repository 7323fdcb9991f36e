#include "modes.hpp"

namespace wirehub::bench {
int run_broadcast(const Options&) { return kExitUsage; }
}  // namespace wirehub::bench
