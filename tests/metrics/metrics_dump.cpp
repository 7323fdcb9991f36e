// Writes (to the file named by its argument) Server::metrics_text() of a two-loop server
// that has answered a bad request and carried two WebSockets, their messages and a
// broadcast, and a hub, once every loop has measured its lag and both are closed; then an
// application family written with MetricsWriter, with label values that need
// escaping. Exit status 1, with the reason on stderr, if the server could not be driven.
// Used by check_metrics_text.py (a ctest test).

#include <cstdio>
#include <string>
#include <thread>

#include "wirehub/metrics.hpp"
#include "wirehub/server.hpp"
#include "ws_test_client.hpp"

namespace {
int fail(const char* what) {
  std::fprintf(stderr, "metrics_dump: %s\n", what);
  return 1;
}
}  // namespace

int main(int argc, char** argv) {
  using namespace wirehub;
  if (argc != 2) return fail("usage: metrics_dump OUT_FILE");
  Server server(test::test_options(2));
  WebSocketEndpoint& ep = server.websocket("/ws/echo", test::echo_handlers());
  // Label values with a quote and a backslash in them.
  WebSocketEndpoint& odd_ep = server.websocket("/ws/odd\"name\\", test::echo_handlers());
  // A hub adds its own rows and those of its WebSocket and SSE transports.
  server.hub("/hubs/test").method("Echo", [](std::string s) { return s; });
  server.start();
  {
    test::WsClient refused(server.port(), "/a space");  // not a valid request line: 400
    if (refused.open()) return fail("an invalid request line was accepted");
    test::WsClient odd(server.port(), "/ws/odd\"name\\");
    if (!odd.open() || !odd.close_gracefully()) return fail("the WebSocket with the odd path failed");
    test::WsClient c(server.port(), "/ws/echo");
    if (!c.open()) return fail("the WebSocket did not open");
    for (std::string m : {"one", "two", "three"}) {
      if (!c.send_text(m)) return fail("send failed");
      auto f = c.read_frame();
      if (!f || f->payload != m) return fail("no echo");
    }
    std::thread([&] { ep.broadcast("to all"); }).join();
    auto f = c.read_frame();
    if (!f || f->payload != "to all") return fail("no broadcast");
    const bool lagged = test::wait_until([&] {
      const std::string t = server.metrics_text();
      return t.find("wirehub_event_loop_lag_seconds_count{loop=\"0\"} 0\n") == std::string::npos &&
             t.find("wirehub_event_loop_lag_seconds_count{loop=\"1\"} 0\n") == std::string::npos;
    });
    if (!lagged) return fail("a loop recorded no lag");
    if (!c.close_gracefully()) return fail("the close handshake failed");
    if (!test::wait_until([&] { return ep.connection_count() == 0 && odd_ep.connection_count() == 0; }))
      return fail("the connections did not go");
  }
  std::string text = server.metrics_text();
  MetricsWriter w(text);
  w.family("app_orders_total", MetricType::Counter, "Orders, by \"source\" \\ kind\nsecond line.");
  w.sample("app_orders_total", {{"source", "api \"v1\"\\\n"}}, 7);
  w.family("app_order_value", MetricType::Histogram, "Order values.");
  const double bounds[] = {10, 100};
  const std::uint64_t counts[] = {1, 2, 0};
  w.histogram("app_order_value", {{"currency", "EUR"}}, bounds, counts, 150.5);
  server.shutdown();
  std::FILE* out = std::fopen(argv[1], "wb");
  if (!out) return fail("cannot open the output file");
  const bool written = std::fwrite(text.data(), 1, text.size(), out) == text.size();
  return std::fclose(out) == 0 && written ? 0 : fail("cannot write the output file");
}
