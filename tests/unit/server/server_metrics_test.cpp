// Server::metrics_text() through the public API: the library's counters move as a
// WebSocket is refused, opened, used, broadcast to and closed, and the loops' lag
// histograms fill. (tests/metrics/ parses the whole text with Prometheus' own parser.)

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "wirehub/server.hpp"
#include "ws_test_client.hpp"

namespace wirehub {
namespace {

using namespace test;

// The value of the sample whose name and labels are exactly `series`, if present.
std::optional<double> value_of(const std::string& text, std::string_view series) {
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t end = text.find('\n', at);
    const std::string_view line(text.data() + at, (end == std::string::npos ? text.size() : end) - at);
    if (line.size() > series.size() && line.substr(0, series.size()) == series && line[series.size()] == ' ')
      return std::stod(std::string(line.substr(series.size() + 1)));
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return std::nullopt;
}

// Sends request on a new connection and returns everything the server answers until it
// closes (a refused handshake closes the connection).
std::string handshake(std::uint16_t port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string answer;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size()))
    answer = read_until_eof(fd);
  ::close(fd);
  return answer;
}

TEST(ServerMetrics, CountersFollowAWebSocketsLife) {
  const int before = open_fd_count();
  {
    Server server(test_options(2));
    WebSocketEndpoint& ep = server.websocket("/ws/echo", echo_handlers());
    server.start();
    const std::string ws = "{transport=\"websocket\",endpoint=\"/ws/echo\"";
    std::string text = server.metrics_text();
    EXPECT_EQ(value_of(text, "wirehub_event_loops"), 2);
    EXPECT_EQ(value_of(text, "wirehub_connections" + ws + "}"), 0);
    EXPECT_EQ(value_of(text, "wirehub_handshakes_total{endpoint=\"/ws/echo\",result=\"accepted\"}"), 0);

    // Three refused handshakes: no key, a short key (400), another version (426).
    const std::string head = "GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
    EXPECT_EQ(handshake(server.port(), head + "Sec-WebSocket-Version: 13\r\n\r\n").substr(0, 12), "HTTP/1.1 400");
    EXPECT_EQ(handshake(server.port(), head + "Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n\r\n")
                  .substr(0, 12),
              "HTTP/1.1 400");
    EXPECT_EQ(handshake(server.port(), head + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                              "Sec-WebSocket-Version: 8\r\n\r\n")
                  .substr(0, 12),
              "HTTP/1.1 426");

    WsClient c(server.port(), "/ws/echo");
    ASSERT_TRUE(c.open());
    ASSERT_TRUE(c.send_text("hello"));
    ASSERT_TRUE(c.send_frame(kBinary, "worlds"));
    EXPECT_EQ(c.read_frame()->payload, "hello");
    EXPECT_EQ(c.read_frame()->payload, "worlds");
    std::thread outside([&] { ep.broadcast("x"); });
    outside.join();
    EXPECT_EQ(c.read_frame()->payload, "x");

    text = server.metrics_text();
    EXPECT_EQ(value_of(text, "wirehub_connections" + ws + "}"), 1);
    EXPECT_EQ(value_of(text, "wirehub_connections_opened_total" + ws + "}"), 1);
    EXPECT_EQ(value_of(text, "wirehub_handshakes_total{endpoint=\"/ws/echo\",result=\"accepted\"}"), 1);
    EXPECT_EQ(value_of(text, "wirehub_handshakes_total{endpoint=\"/ws/echo\",result=\"bad_request\"}"), 2);
    EXPECT_EQ(value_of(text, "wirehub_handshakes_total{endpoint=\"/ws/echo\",result=\"unsupported_version\"}"), 1);
    EXPECT_EQ(value_of(text, "wirehub_handshakes_total{endpoint=\"/ws/echo\",result=\"origin_refused\"}"), 0);
    EXPECT_EQ(value_of(text, "wirehub_messages_total" + ws + ",direction=\"in\"}"), 2);
    EXPECT_EQ(value_of(text, "wirehub_messages_total" + ws + ",direction=\"out\"}"), 3);
    EXPECT_EQ(value_of(text, "wirehub_message_bytes_total" + ws + ",direction=\"in\"}"), 11);
    EXPECT_EQ(value_of(text, "wirehub_message_bytes_total" + ws + ",direction=\"out\"}"), 12);
    EXPECT_EQ(value_of(text, "wirehub_dropped_messages_total" + ws + "}"), 0);
    // One loop holds the connection: one delivery measured (the other loop has nobody).
    EXPECT_EQ(value_of(text, "wirehub_publish_delivery_seconds_count" + ws + "}"), 1);
    EXPECT_EQ(value_of(text, "wirehub_publish_delivery_seconds_bucket" + ws + ",le=\"+Inf\"}"), 1);
    EXPECT_EQ(value_of(text, "wirehub_accepted_connections_total"), 4);
    EXPECT_EQ(value_of(text, "wirehub_http_requests_total"), 4);
    EXPECT_EQ(value_of(text, "wirehub_http_errors_total"), 0) << "a refused handshake is the endpoint's answer";

    // Every loop arms its lag timer every 100 ms.
    EXPECT_TRUE(wait_until([&] {
      const std::string t = server.metrics_text();
      return value_of(t, "wirehub_event_loop_lag_seconds_count{loop=\"0\"}").value_or(0) >= 1 &&
             value_of(t, "wirehub_event_loop_lag_seconds_count{loop=\"1\"}").value_or(0) >= 1;
    }));

    ASSERT_TRUE(c.close_gracefully());
    EXPECT_TRUE(wait_until([&] { return value_of(server.metrics_text(), "wirehub_connections" + ws + "}") == 0; }));
    EXPECT_EQ(value_of(server.metrics_text(), "wirehub_connections_opened_total" + ws + "}"), 1);
  }
  EXPECT_EQ(open_fd_count(), before);
}

}  // namespace
}  // namespace wirehub
