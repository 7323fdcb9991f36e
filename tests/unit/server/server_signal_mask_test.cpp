// Regression test: Server::start() documents that it "blocks SIGINT/SIGTERM in every thread
// it starts", so that only run_until_signal() sees them. It does so by blocking them on
// the calling thread before spawning the loops (threads inherit the mask) and never
// restores the caller's mask: a program that calls start() and does not use
// run_until_signal() can no longer be stopped with Ctrl-C or a plain SIGTERM, since the
// signals stay pending on every thread.

#include <pthread.h>
#include <signal.h>

#include <gtest/gtest.h>

#include "wirehub/server.hpp"

namespace wirehub {
namespace {

TEST(ServerSignalMask, StartLeavesTheCallersSignalMaskAsItWas) {
  sigset_t original;
  pthread_sigmask(SIG_SETMASK, nullptr, &original);
  sigset_t unblocked = original;
  sigdelset(&unblocked, SIGINT);
  sigdelset(&unblocked, SIGTERM);
  pthread_sigmask(SIG_SETMASK, &unblocked, nullptr);

  bool int_blocked = false, term_blocked = false;
  {
    ServerOptions o;
    o.listen = "127.0.0.1:0";
    o.threads = 1;
    Server server(o);
    server.start();
    sigset_t now;
    pthread_sigmask(SIG_SETMASK, nullptr, &now);
    int_blocked = sigismember(&now, SIGINT) == 1;
    term_blocked = sigismember(&now, SIGTERM) == 1;
    server.shutdown();
  }
  pthread_sigmask(SIG_SETMASK, &original, nullptr);  // whatever happened, undo it
  EXPECT_FALSE(int_blocked) << "start() left SIGINT blocked on the calling thread";
  EXPECT_FALSE(term_blocked) << "start() left SIGTERM blocked on the calling thread";
}

}  // namespace
}  // namespace wirehub
