// wirehub::Server serving WebSocket traffic through its public API only, in-process on
// 127.0.0.1 port 0, driven by the client in ws_test_client.hpp.
//
// Covered: echo of every frame size, fragmented messages with a ping between fragments,
// many messages in one write, the closing handshake from the client, and the subprotocol
// hook of the opening handshake. Every test ends with /proc/self/fd as it was before.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <malloc.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <chrono>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>
#include <thread>

#include "wirehub/server.hpp"
#include "ws_test_client.hpp"

namespace wirehub {
namespace {

using namespace test;

// Bytes the process has allocated from the heap, mmapped chunks included.
std::size_t heap_in_use() {
  struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

// A message that arrives over many reads is gathered in a buffer of its size; after it
// is delivered that memory goes back, so a connection that once sent 8 MiB does not keep
// 8 MiB while it idles.
TEST(Server, AConnectionGivesTheMemoryOfALargeMessageBackOnceItIsDelivered) {
  const int before = open_fd_count();
  {
    Server server(test_options(1));
    server.websocket("/ws/echo", echo_handlers());
    server.start();
    WsClient c(server.port());
    ASSERT_TRUE(c.open());
    // The frame is built before the baseline and the echo is read into a fixed buffer,
    // so that the only large allocations after the baseline are the server's.
    constexpr std::size_t kSize = 8u << 20;
    std::string frame;
    c.encode(frame, kBinary, std::string(kSize, 'b'));
    const std::size_t baseline = heap_in_use();
    bool written = false;
    std::thread writer([&] { written = c.send_raw(frame); });
    std::size_t echoed = 0;
    char chunk[65536];
    const std::size_t expected = 10 + kSize;  // 127-form header: 2 + 8 bytes, unmasked
    while (echoed < expected) {
      pollfd p{c.fd(), POLLIN, 0};
      ASSERT_EQ(::poll(&p, 1, 5000), 1) << "echo stalled at " << echoed;
      ssize_t n = ::recv(c.fd(), chunk, sizeof chunk, 0);
      ASSERT_GT(n, 0);
      echoed += static_cast<std::size_t>(n);
    }
    writer.join();
    EXPECT_TRUE(written);
    EXPECT_EQ(echoed, expected);
    // The echo's own output copies are freed once written; the input buffer must be too.
    EXPECT_TRUE(wait_until([&] { return heap_in_use() < baseline + kSize / 4; }))
        << "still " << (heap_in_use() - baseline) << " bytes above the baseline";
    EXPECT_TRUE(c.close_gracefully());
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(Server, EchoesEveryFrameSizeFragmentedMessagesAndPings) {
  const int before = open_fd_count();
  {
    Server server(test_options(1));
    WebSocketEndpoint& ep = server.websocket("/ws/echo", echo_handlers());
    server.start();
    {
      WsClient c(server.port());
      ASSERT_TRUE(c.open());
      int sent = 0;
      for (std::size_t size : {0u, 1u, 125u, 126u, 65535u, 65536u, 1u << 20}) {
        std::string text(size, 'x');
        for (std::size_t i = 0; i < size; ++i) text[i] = static_cast<char>('a' + i % 26);
        ASSERT_TRUE(c.send_text(text));
        ++sent;
        auto f = c.read_frame();
        ASSERT_TRUE(f) << "size " << size;
        EXPECT_EQ(f->opcode, kText);
        EXPECT_TRUE(f->fin);
        EXPECT_TRUE(f->payload == text) << "size " << size;
      }
      std::string bin;
      for (int i = 0; i < 256; ++i) bin.push_back(static_cast<char>(i));
      ASSERT_TRUE(c.send_frame(kBinary, bin));
      ++sent;
      auto f = c.read_frame();
      ASSERT_TRUE(f);
      EXPECT_EQ(f->opcode, kBinary);
      EXPECT_EQ(f->payload, bin);

      // A fragmented message with a ping in the middle: the pong comes first, then the
      // whole message as one frame.
      std::string burst;
      c.encode(burst, kText, "frag", false);
      c.encode(burst, kPing, "in-between");
      c.encode(burst, kCont, "men", false);
      c.encode(burst, kCont, "ted", true);
      ASSERT_TRUE(c.send_raw(burst));
      ++sent;
      f = c.read_frame();
      ASSERT_TRUE(f);
      EXPECT_EQ(f->opcode, kPong);
      EXPECT_EQ(f->payload, "in-between");
      f = c.read_frame();
      ASSERT_TRUE(f);
      EXPECT_EQ(f->opcode, kText);
      EXPECT_EQ(f->payload, "fragmented");

      // 16 messages in one write come back in order.
      burst.clear();
      for (int i = 0; i < 16; ++i) c.encode(burst, kText, "m" + std::to_string(i));
      ASSERT_TRUE(c.send_raw(burst));
      sent += 16;
      for (int i = 0; i < 16; ++i) {
        f = c.read_frame();
        ASSERT_TRUE(f);
        EXPECT_EQ(f->payload, "m" + std::to_string(i));
      }

      EndpointStats st = ep.stats();
      EXPECT_EQ(st.messages_in, static_cast<std::uint64_t>(sent));
      EXPECT_EQ(st.messages_out, static_cast<std::uint64_t>(sent));
      EXPECT_EQ(st.open, 1u);
      EXPECT_EQ(st.opened, 1u);

      ASSERT_TRUE(c.send_close(1000));
      f = c.read_frame();
      ASSERT_TRUE(f);
      EXPECT_EQ(f->opcode, kClose);
      EXPECT_EQ(f->close_code(), 1000);
      EXPECT_TRUE(c.wait_for_eof());
    }
    EXPECT_TRUE(wait_until([&] { return ep.connection_count() == 0; }));
    EXPECT_EQ(ep.stats().protocol_errors, 0u);
  }
  EXPECT_EQ(open_fd_count(), before);
}

// Large echoes leave straight from the receive buffer (no copy into the cork) together
// with what the cork already holds; when the socket takes only part, the rest is queued.
// Here, end to end: one write carries small messages, a ping and large ones, and the
// client reads them through a small receive window, so the server's writes come up short
// somewhere; every echo and pong must arrive whole and in order. Which boundary a short
// write hits depends on timing here; the net tests (connection_test.cpp, LargeCorked...)
// pin short writes inside the cork's bytes and inside a body deterministically.
TEST(Server, LargeEchoesMixedWithSmallOnesAndPingsArriveWholeAndInOrderWhenWritesComeUpShort) {
  const int before = open_fd_count();
  {
    Server server(test_options(1));
    server.websocket("/ws/echo", echo_handlers());
    server.start();
    WsClient c(server.port());
    ASSERT_TRUE(c.open());
    struct Expect {
      std::uint8_t opcode;
      std::string payload;
    };
    std::vector<Expect> expected;
    std::string wire;
    for (int round = 0; round < 6; ++round) {
      std::string small = "small " + std::to_string(round);
      c.encode(wire, kText, small);
      expected.push_back({kText, small});
      c.encode(wire, kPing, "p" + std::to_string(round));
      expected.push_back({kPong, "p" + std::to_string(round)});
      std::string big(20'000 + 7'001 * static_cast<std::size_t>(round), '\0');
      for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131 + static_cast<std::size_t>(round)) & 0xFF);
      c.encode(wire, kBinary, big);
      expected.push_back({kBinary, big});
    }
    // A small receive window: the ~225 KB of echoes cannot fit in flight, so the server's
    // writes come up short whatever the timing.
    int rcvbuf = 16384;
    ASSERT_EQ(::setsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
    bool written = false;
    std::thread writer([&] { written = c.send_raw(wire); });
    for (std::size_t i = 0; i < expected.size(); ++i) {
      auto f = c.read_frame();
      ASSERT_TRUE(f) << "frame " << i;
      EXPECT_EQ(f->opcode, expected[i].opcode) << "frame " << i;
      EXPECT_TRUE(f->payload == expected[i].payload) << "frame " << i << " differs";
    }
    writer.join();
    EXPECT_TRUE(written);
    EXPECT_TRUE(c.close_gracefully());
  }
  EXPECT_EQ(open_fd_count(), before);
}

// An endpoint with an origin allow-list answers other origins 403 before upgrading and
// counts them; listed origins and handshakes without Origin are upgraded.
TEST(Server, RefusedOriginsAreAnswered403AndCounted) {
  const int before = open_fd_count();
  {
    Server server(test_options(1));
    WebSocketOptions o;
    o.allowed_origins = {"https://ok.example", "https://*.ok.example"};
    WebSocketEndpoint& ep = server.websocket("/ws/echo", echo_handlers(), o);
    server.start();
    {
      WsClient evil(server.port(), "/ws/echo", 0, "Origin: https://evil.example\r\n");
      EXPECT_FALSE(evil.open());
      EXPECT_EQ(evil.response_head().rfind("HTTP/1.1 403", 0), 0u) << evil.response_head();
      WsClient sub(server.port(), "/ws/echo", 0, "Origin: https://a.ok.example\r\n");
      EXPECT_TRUE(sub.open()) << sub.response_head();
      WsClient none(server.port(), "/ws/echo");
      EXPECT_TRUE(none.open()) << none.response_head();
      EXPECT_TRUE(sub.close_gracefully());
      EXPECT_TRUE(none.close_gracefully());
    }
    EndpointStats s = ep.stats();
    EXPECT_EQ(s.origin_refused, 1u);
    EXPECT_EQ(s.opened, 2u);
  }
  {
    // A bad entry is refused when the endpoint is registered.
    Server server(test_options(1));
    WebSocketOptions bad;
    bad.allowed_origins = {"example.com"};
    EXPECT_THROW(server.websocket("/ws/echo", echo_handlers(), bad), std::invalid_argument);
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(Server, SubprotocolHookPicksAnOfferedValueOrNone) {
  WebSocketHandlers h;
  h.select_subprotocol = [](std::span<const std::string_view> offered) -> std::string_view {
    for (std::string_view p : offered) {
      if (p.starts_with("chat.")) return p;
    }
    return "not-offered";  // must never be answered
  };
  Server server(test_options(1));
  server.websocket("/ws/chat", h);
  server.start();
  auto handshake = [&](std::string_view offer) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(server.port());
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    std::string req =
        "GET /ws/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: " + std::string(offer) + "\r\n\r\n";
    EXPECT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
    std::string head;
    char buf[1024];
    while (head.find("\r\n\r\n") == std::string::npos) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) break;
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      head.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return head;
  };
  std::string picked = handshake("v1.json, chat.v2, chat.v1");
  EXPECT_EQ(picked.rfind("HTTP/1.1 101", 0), 0u) << picked;
  EXPECT_NE(picked.find("Sec-WebSocket-Protocol: chat.v2\r\n"), std::string::npos) << picked;
  std::string none = handshake("v1.json");
  EXPECT_EQ(none.rfind("HTTP/1.1 101", 0), 0u) << none;
  EXPECT_EQ(none.find("Sec-WebSocket-Protocol"), std::string::npos) << none;
}

}  // namespace
}  // namespace wirehub
