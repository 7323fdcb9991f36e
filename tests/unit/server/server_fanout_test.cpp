// wirehub::Server fan-out across loops, through its public API only, in-process on
// 127.0.0.1 port 0, driven by the client in ws_test_client.hpp.
//
// Covered: broadcast from a connection's handler on either loop (as /ws/broadcast relays),
// broadcast and send_to from non-loop threads across loops, and (the test to run under the
// tsan preset) concurrent broadcasts, sends and statistics reads while clients echo. Every
// wait has a deadline; every test ends with the server destroyed and /proc/self/fd as it
// was before.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "wirehub/server.hpp"
#include "ws_test_client.hpp"

namespace wirehub {
namespace {

using namespace test;

// A relay endpoint like the server's /ws/broadcast: each message a client sends is broadcast
// by the handler, on the loop thread that owns the sender. With clients on both loops, a
// message from a client of either loop reaches every client of both (the sender too), and so
// does a broadcast from a thread that is not a loop.
TEST(Server, BroadcastFromAConnectionOnEitherLoopReachesClientsOnEveryLoop) {
  const int before = open_fd_count();
  {
    LoopSpread spread;
    WebSocketEndpoint* endpoint = nullptr;
    std::atomic<int> handler_off_loop{0};
    WebSocketHandlers h;
    h.on_open = [&](WebSocket& ws) { spread.record(ws); };
    h.on_message = [&](WebSocket& ws, std::string_view m, bool binary) {
      {
        std::lock_guard lock(spread.mu);
        if (spread.loop_of[ws.id()] != std::this_thread::get_id()) handler_off_loop.fetch_add(1);
      }
      endpoint->broadcast(m, binary);
    };
    Server server(test_options(2));
    WebSocketEndpoint& ep = server.websocket("/ws/relay", h);
    endpoint = &ep;
    server.start();
    auto clients = open_on_every_loop(server, spread, 2, "/ws/relay");
    auto per_loop = spread.per_loop();
    ASSERT_EQ(per_loop.size(), 2u) << "could not get clients onto both loops";
    for (auto& [t, n] : per_loop) ASSERT_GE(n, 2);

    // One sender on each loop: the first client of each.
    std::vector<std::size_t> senders;
    std::vector<std::thread::id> sender_loops;
    for (std::size_t i = 0; i < clients.size(); ++i) {
      const std::thread::id loop = spread.loop_of_client(i);
      if (std::find(sender_loops.begin(), sender_loops.end(), loop) == sender_loops.end()) {
        sender_loops.push_back(loop);
        senders.push_back(i);
      }
    }
    ASSERT_EQ(senders.size(), 2u);

    // Each message is read by every client before the next is sent: no ordering question.
    auto expect_everyone_gets = [&](std::uint8_t opcode, const std::string& payload) {
      for (std::size_t i = 0; i < clients.size(); ++i) {
        auto f = clients[i]->read_frame();
        ASSERT_TRUE(f) << "client " << i << " got nothing for " << payload;
        EXPECT_EQ(f->opcode, opcode) << "client " << i;
        EXPECT_EQ(f->payload, payload) << "client " << i;
      }
    };
    for (std::size_t k = 0; k < senders.size(); ++k) {
      const std::string text = "from a client of loop " + std::to_string(k);
      ASSERT_TRUE(clients[senders[k]]->send_text(text));
      expect_everyone_gets(kText, text);
    }
    const std::string bytes("\x00\xff\x01", 3);
    ASSERT_TRUE(clients[senders[1]]->send_frame(kBinary, bytes));
    expect_everyone_gets(kBinary, bytes);
    std::thread outside([&] { ep.broadcast("from outside the loops"); });
    outside.join();
    expect_everyone_gets(kText, "from outside the loops");

    EXPECT_EQ(handler_off_loop.load(), 0) << "a handler ran on a loop that does not own its connection";
    EndpointStats st = ep.stats();
    EXPECT_EQ(st.messages_in, 3u);
    EXPECT_EQ(st.messages_out, 4 * clients.size());
    EXPECT_EQ(st.dropped, 0u);
    for (auto& c : clients) EXPECT_TRUE(c->close_gracefully());
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(Server, BroadcastFromANonLoopThreadReachesClientsOnEveryLoop) {
  const int before = open_fd_count();
  {
    LoopSpread spread;
    WebSocketHandlers h = echo_handlers();
    h.on_open = [&](WebSocket& ws) { spread.record(ws); };
    Server server(test_options(2));
    WebSocketEndpoint& ep = server.websocket("/ws/echo", h);
    server.start();
    auto clients = open_on_every_loop(server, spread, 2);
    auto per_loop = spread.per_loop();
    ASSERT_EQ(per_loop.size(), 2u) << "could not get clients onto both loops";
    for (auto& [t, n] : per_loop) ASSERT_GE(n, 2);

    std::thread broadcaster([&] {
      ep.broadcast("to everyone");
      ep.broadcast(std::string_view("\x00\x01\x02", 3), true);
    });
    broadcaster.join();
    for (auto& c : clients) {
      auto f = c->read_frame();
      ASSERT_TRUE(f);
      EXPECT_EQ(f->opcode, kText);
      EXPECT_EQ(f->payload, "to everyone");
      f = c->read_frame();
      ASSERT_TRUE(f);
      EXPECT_EQ(f->opcode, kBinary);
      EXPECT_EQ(f->payload, std::string("\x00\x01\x02", 3));
    }
    EXPECT_EQ(ep.stats().messages_out, 2 * clients.size());
    for (auto& c : clients) EXPECT_TRUE(c->close_gracefully());
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(Server, SendToReachesExactlyOneConnectionFromAnotherThread) {
  const int before = open_fd_count();
  {
    LoopSpread spread;
    std::mutex mu;
    std::map<int, ConnectionId> id_of;  // client index -> connection id
    std::atomic<int> unknown_id_on_loop{-1};
    WebSocketEndpoint* endpoint = nullptr;
    WebSocketHandlers h;
    h.on_open = [&](WebSocket& ws) { spread.record(ws); };
    h.on_message = [&](WebSocket& ws, std::string_view m, bool) {
      if (m.rfind("index:", 0) == 0) {
        std::lock_guard lock(mu);
        id_of[std::atoi(std::string(m.substr(6)).c_str())] = ws.id();
      } else if (m == "try-unknown") {
        // On the owning loop the answer is known: no such connection.
        unknown_id_on_loop = endpoint->send_to(ws.id() + 1'000'000, "nobody") ? 1 : 0;
      }
    };
    Server server(test_options(2));
    WebSocketEndpoint& ep = server.websocket("/ws/app", h);
    endpoint = &ep;
    server.start();
    auto clients = open_on_every_loop(server, spread, 2, "/ws/app");
    ASSERT_EQ(spread.per_loop().size(), 2u);
    for (std::size_t i = 0; i < clients.size(); ++i) ASSERT_TRUE(clients[i]->send_text("index:" + std::to_string(i)));
    ASSERT_TRUE(wait_until([&] {
      std::lock_guard lock(mu);
      return id_of.size() == clients.size();
    }));

    ASSERT_TRUE(clients[0]->send_text("try-unknown"));
    ASSERT_TRUE(wait_until([&] { return unknown_id_on_loop.load() != -1; }));
    EXPECT_EQ(unknown_id_on_loop.load(), 0);

    std::thread sender([&] {
      std::lock_guard lock(mu);
      for (std::size_t i = 0; i < clients.size(); i += 2) {
        EXPECT_TRUE(ep.send_to(id_of[static_cast<int>(i)], "for " + std::to_string(i)));
      }
      // Off the owning loop the call can only post; an unknown id is dropped there.
      EXPECT_TRUE(ep.send_to(id_of[0] + 1'000'000, "nobody"));
      ep.broadcast("marker");
    });
    sender.join();
    for (std::size_t i = 0; i < clients.size(); ++i) {
      auto f = clients[i]->read_frame();
      ASSERT_TRUE(f);
      if (i % 2 == 0) {
        EXPECT_EQ(f->payload, "for " + std::to_string(i));
        f = clients[i]->read_frame();
        ASSERT_TRUE(f);
      }
      EXPECT_EQ(f->payload, "marker") << "client " << i << " got a message meant for another";
    }
    for (auto& c : clients) EXPECT_TRUE(c->close_gracefully());
  }
  EXPECT_EQ(open_fd_count(), before);
}

// A connection id names a slot of its loop's table, and slots are reused: the id of a
// closed connection must not reach the connection that took its slot, from the loop or
// from another thread.
TEST(Server, AStaleIdDoesNotReachTheConnectionThatReusedItsSlot) {
  const int before = open_fd_count();
  {
    std::mutex mu;
    std::vector<ConnectionId> ids;  // in opening order
    std::atomic<int> stale_on_loop{-1};
    std::atomic<int> closed{0};
    WebSocketEndpoint* endpoint = nullptr;
    WebSocketHandlers h;
    h.on_open = [&](WebSocket& ws) {
      std::lock_guard lock(mu);
      ids.push_back(ws.id());
    };
    h.on_close = [&](WebSocket&, std::uint16_t, std::string_view) { closed.fetch_add(1); };
    h.on_message = [&](WebSocket&, std::string_view m, bool) {
      if (m == "try-stale") {
        std::lock_guard lock(mu);
        stale_on_loop = endpoint->send_to(ids[0], "for the old one") ? 1 : 0;
      }
    };
    Server server(test_options(1));
    WebSocketEndpoint& ep = server.websocket("/ws/app", h);
    endpoint = &ep;
    server.start();
    auto first = std::make_unique<WsClient>(server.port(), "/ws/app");
    ASSERT_TRUE(first->open());
    ASSERT_TRUE(wait_until([&] { return ep.connection_count() == 1; }));
    ASSERT_TRUE(first->close_gracefully());
    ASSERT_TRUE(wait_until([&] { return closed.load() == 1 && ep.connection_count() == 0; }));

    WsClient second(server.port(), "/ws/app");
    ASSERT_TRUE(second.open());
    ASSERT_TRUE(wait_until([&] {
      std::lock_guard lock(mu);
      return ids.size() == 2;
    }));
    {
      std::lock_guard lock(mu);
      EXPECT_NE(ids[0], ids[1]);
      // Same loop, same (only) slot, the low 24 bits (src/ws/ws_endpoint.hpp): only the
      // serial tells them apart.
      EXPECT_EQ(ids[0] & 0xFFFFFF, ids[1] & 0xFFFFFF);
    }
    ASSERT_TRUE(second.send_text("try-stale"));
    ASSERT_TRUE(wait_until([&] { return stale_on_loop.load() != -1; }));
    EXPECT_EQ(stale_on_loop.load(), 0);
    std::thread other([&] {
      std::lock_guard lock(mu);
      ep.send_to(ids[0], "for the old one");  // posted, then dropped on the loop
      ep.send_to(ids[1], "for the new one");
    });
    other.join();
    auto f = second.read_frame();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->payload, "for the new one");
    EXPECT_EQ(ep.stats().messages_out, 1u);
    EXPECT_TRUE(second.close_gracefully());
  }
  EXPECT_EQ(open_fd_count(), before);
}

// --- thread safety (the test to run under the tsan preset) -----------------------------

// Three non-loop threads broadcast at once, a fourth sends to single connections, a
// fifth reads statistics, while clients on both loops echo messages of their own: every
// cross-thread path of the endpoint runs concurrently with the loops' own work. Each
// client must get every broadcast exactly once and in each broadcaster's order. Under
// ThreadSanitizer this proves the fan-out free of data races; elsewhere it checks
// delivery and ordering.
TEST(Server, ConcurrentBroadcastsFromThreeThreadsReachEveryClientOnEveryLoopInOrder) {
  constexpr int kBroadcasters = 3;
  constexpr int kPerBroadcaster = 400;
  constexpr int kDirectPerClient = 40;
  constexpr int kEchoEvery = 100;  // a client sends one message per this many received
  const int before = open_fd_count();
  {
    LoopSpread spread;
    std::mutex mu;
    std::map<int, ConnectionId> id_of;
    WebSocketHandlers h;
    h.on_open = [&](WebSocket& ws) { spread.record(ws); };
    h.on_message = [&](WebSocket& ws, std::string_view m, bool binary) {
      if (m.rfind("index:", 0) == 0) {
        std::lock_guard lock(mu);
        id_of[std::atoi(std::string(m.substr(6)).c_str())] = ws.id();
      } else {
        ws.send(m, binary);
      }
    };
    Server server(test_options(2));
    WebSocketEndpoint& ep = server.websocket("/ws/race", h);
    server.start();
    auto clients = open_on_every_loop(server, spread, 3, "/ws/race");
    auto per_loop = spread.per_loop();
    ASSERT_EQ(per_loop.size(), 2u);
    for (auto& [t, n] : per_loop) ASSERT_GE(n, 3);
    const std::size_t n_clients = clients.size();
    for (std::size_t i = 0; i < n_clients; ++i) ASSERT_TRUE(clients[i]->send_text("index:" + std::to_string(i)));
    ASSERT_TRUE(wait_until([&] {
      std::lock_guard lock(mu);
      return id_of.size() == n_clients;
    }));
    std::vector<ConnectionId> ids;
    for (std::size_t i = 0; i < n_clients; ++i) ids.push_back(id_of[static_cast<int>(i)]);

    std::atomic<int> errors{0};
    std::atomic<bool> go{false};
    std::atomic<bool> stop_polling{false};
    auto wait_go = [&] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
    };

    // Readers: one per client, counting and checking everything it receives.
    std::vector<std::thread> readers;
    for (std::size_t i = 0; i < n_clients; ++i) {
      readers.emplace_back([&, i] {
        WsClient& c = *clients[i];
        int next_of[kBroadcasters] = {};
        int broadcasts = 0, directs = 0, echoes_sent = 0, echoes_back = 0;
        auto deadline = Clock::now() + 60s;
        while (broadcasts < kBroadcasters * kPerBroadcaster || directs < kDirectPerClient ||
               echoes_back < echoes_sent) {
          auto f = c.read_frame(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
          if (!f || f->opcode != kText) {
            ADD_FAILURE() << "client " << i << ": stream ended after " << broadcasts << " broadcasts, " << directs
                          << " directs, " << echoes_back << "/" << echoes_sent << " echoes";
            errors.fetch_add(1);
            return;
          }
          const std::string& p = f->payload;
          if (p[0] == 'b') {  // "b<k>:<n>"
            int k = p[1] - '0';
            int n = std::atoi(p.c_str() + 3);
            if (k < 0 || k >= kBroadcasters || n != next_of[k]) {
              ADD_FAILURE() << "client " << i << ": got " << p << ", expected b" << k << ":" << next_of[k];
              errors.fetch_add(1);
              return;
            }
            ++next_of[k];
            if (++broadcasts % kEchoEvery == 0) {
              if (!c.send_text("e:" + std::to_string(echoes_sent))) errors.fetch_add(1);
              ++echoes_sent;
            }
          } else if (p[0] == 'd') {  // "d:<n>" from the one direct sender, in order
            if (std::atoi(p.c_str() + 2) != directs) errors.fetch_add(1);
            ++directs;
          } else if (p[0] == 'e') {
            if (std::atoi(p.c_str() + 2) != echoes_back) errors.fetch_add(1);
            ++echoes_back;
          } else {
            errors.fetch_add(1);
          }
        }
      });
    }
    std::vector<std::thread> senders;
    for (int k = 0; k < kBroadcasters; ++k) {
      senders.emplace_back([&, k] {
        wait_go();
        for (int n = 0; n < kPerBroadcaster; ++n) {
          ep.broadcast("b" + std::to_string(k) + ":" + std::to_string(n));
        }
      });
    }
    senders.emplace_back([&] {
      wait_go();
      for (int n = 0; n < kDirectPerClient; ++n) {
        for (ConnectionId id : ids) {
          if (!ep.send_to(id, "d:" + std::to_string(n))) errors.fetch_add(1);
        }
      }
    });
    std::thread poller([&] {
      wait_go();
      std::uint64_t seen = 0;
      while (!stop_polling.load()) {
        EndpointStats st = ep.stats();
        if (st.messages_out < seen) errors.fetch_add(1);  // counters never go back
        seen = st.messages_out;
        if (ep.connection_count() != n_clients) errors.fetch_add(1);
        (void)server.stats();
        std::this_thread::yield();
      }
    });
    go.store(true, std::memory_order_release);
    for (auto& t : senders) t.join();
    for (auto& t : readers) t.join();
    stop_polling = true;
    poller.join();
    EXPECT_EQ(errors.load(), 0);

    EndpointStats st = ep.stats();
    EXPECT_EQ(st.dropped, 0u);
    EXPECT_EQ(st.slow_closed, 0u);
    EXPECT_GE(st.messages_out,
              static_cast<std::uint64_t>(n_clients) * (kBroadcasters * kPerBroadcaster + kDirectPerClient));
    for (auto& c : clients) EXPECT_TRUE(c->close_gracefully());
  }
  EXPECT_EQ(open_fd_count(), before);
}

}  // namespace
}  // namespace wirehub
