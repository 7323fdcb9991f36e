#pragma once
// The three things wirehub-bench measures. Each runs to completion on the calling thread
// and returns the process exit code (0, or 1 when any connection failed or erred).

#include "options.hpp"

namespace wirehub::bench {

int run_echo(const Options& o);
int run_broadcast(const Options& o);
int run_connect(const Options& o);

}  // namespace wirehub::bench
