#include "modes.hpp"

namespace wirehub::bench {
int run_connect(const Options&) { return kExitUsage; }
}  // namespace wirehub::bench
