// Regression test: WebSocketEndpoint::broadcast() and send_to() are thread-safe once
// start() has returned. Both choose between working inline and posting to a loop with
// EventLoop::in_loop_thread(), which compares the caller's id with EventLoop::thread_: a
// plain std::thread::id that the EventLoop constructor sets to the constructing thread and
// run() overwrites on the loop thread. Server builds its loops on the caller's thread,
// so right after start():
//  - until each loop thread has entered run(), the thread that built the Server passes
//    for every loop's own thread: send_to() looks the id up in the loop's map from the
//    wrong thread and answers "no such connection" (false) instead of posting (true), and
//    broadcast() walks the loop's session list from the wrong thread;
//  - the read of thread_ races with its write in run() (ThreadSanitizer reports it).

#include <gtest/gtest.h>

#include "wirehub/server.hpp"

namespace wirehub {
namespace {

TEST(ServerStartRace, SendToRightAfterStartFromTheThreadThatBuiltTheServerPosts) {
  constexpr int kRounds = 200;
  int answered_as_loop_thread = 0;
  for (int round = 0; round < kRounds; ++round) {
    ServerOptions o;
    o.listen = "127.0.0.1:0";
    o.threads = 2;
    Server server(o);
    WebSocketEndpoint& ep = server.websocket("/ws/echo", {});
    server.start();
    ep.broadcast("early");
    // Connection id 1 would live on loop 0; from a non-loop thread the call can only post
    // and must return true.
    if (!ep.send_to(1, "early")) ++answered_as_loop_thread;
    server.shutdown();
  }
  EXPECT_EQ(answered_as_loop_thread, 0) << "send_to() ran as if on a loop thread in " << answered_as_loop_thread
                                        << " of " << kRounds << " rounds";
}

}  // namespace
}  // namespace wirehub
