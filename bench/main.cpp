// wirehub-bench: the load generator. See bench/README.md.

#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <exception>

#include "modes.hpp"
#include "options.hpp"

namespace {

// Raises the soft descriptor limit to the hard one; returns the limit in force.
std::size_t raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit want = rl;
    want.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
  }
  return static_cast<std::size_t>(rl.rlim_cur);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace wirehub::bench;
  // A server that resets a connection must not kill us through a write to it.
  std::signal(SIGPIPE, SIG_IGN);
  const std::size_t fd_limit = raise_fd_limit();
  Options o;
  if (auto code = parse_options(argc, argv, fd_limit, o)) return *code;
  try {
    switch (o.mode) {
      case Mode::Echo:
        return run_echo(o);
      case Mode::Broadcast:
        return run_broadcast(o);
      case Mode::Connect:
        return run_connect(o);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wirehub-bench: %s\n", e.what());
  }
  return kExitErrors;
}
