// permessage-deflate through the public API: off by default, options checked, the
// endpoint counters count messages (not frames or bytes) whether compressed or not, and a
// shared-mode broadcast is one compressed frame for every receiver.

#include <gtest/gtest.h>
#include <zlib.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "wirehub/server.hpp"
#include "ws_test_client.hpp"

namespace wirehub {
namespace {

constexpr std::string_view kOffer =
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";

std::string deflate_message(std::string_view in) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
  std::string out(in.size() + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_SYNC_FLUSH);
  out.resize(out.size() - z.avail_out - 4);
  deflateEnd(&z);
  return out;
}

std::string inflate_message(std::string payload) {
  z_stream z{};
  inflateInit2(&z, -15);
  payload.append("\0\0\xff\xff", 4);
  std::string out(1 << 20, '\0');
  z.next_in = reinterpret_cast<Bytef*>(payload.data());
  z.avail_in = static_cast<uInt>(payload.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  inflate(&z, Z_SYNC_FLUSH);
  out.resize(out.size() - z.avail_out);
  inflateEnd(&z);
  return out;
}

std::string extensions_answer(const std::string& head) {
  std::string lower = head;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto at = lower.find("\r\nsec-websocket-extensions: ");
  if (at == std::string::npos) return "";
  at += 28;
  return head.substr(at, head.find("\r\n", at) - at);
}

struct Fixture {
  Server server;
  WebSocketEndpoint* echo = nullptr;
  WebSocketEndpoint* fanout = nullptr;
  explicit Fixture(WebSocketOptions echo_options, WebSocketOptions fanout_options = {})
      : server(options()) {
    echo = &server.websocket(
        "/ws/echo",
        {.on_message = [](WebSocket& ws, std::string_view m, bool b) { ws.send(m, b); }},
        echo_options);
    fanout = &server.websocket(
        "/ws/broadcast",
        {.on_message = [this](WebSocket&, std::string_view m, bool b) { fanout->broadcast(m, b); }},
        fanout_options);
    server.start();
  }
  ~Fixture() { server.shutdown(); }
  static ServerOptions options() {
    ServerOptions o;
    o.listen = "127.0.0.1:0";
    o.threads = 2;
    return o;
  }
};

TEST(ServerDeflate, OffByDefaultInTheLibrary) {
  Fixture f{WebSocketOptions{}};
  test::WsClient c(f.server.port(), "/ws/echo", 0, kOffer);
  ASSERT_TRUE(c.open());
  EXPECT_EQ(extensions_answer(c.response_head()), "");
  // And RSV1 is a protocol error there.
  ASSERT_TRUE(c.send_frame(test::kText | 0x40, deflate_message("hello")));
  auto fr = c.read_frame();
  ASSERT_TRUE(fr);
  EXPECT_EQ(fr->opcode, test::kClose);
  EXPECT_EQ(fr->close_code(), 1002);
}

TEST(ServerDeflate, InvalidOptionsThrow) {
  auto bad = [](auto change) {
    Server server(Fixture::options());
    WebSocketOptions o;
    o.compression.enabled = true;
    change(o.compression);
    EXPECT_THROW(server.websocket("/x", {}, o), std::invalid_argument);
  };
  bad([](CompressionOptions& c) { c.level = 10; });
  bad([](CompressionOptions& c) { c.mem_level = 0; });
  bad([](CompressionOptions& c) { c.server_max_window_bits = 7; });
  bad([](CompressionOptions& c) { c.client_max_window_bits = 16; });
}

TEST(ServerDeflate, CountersCountMessagesWhetherCompressedOrNot) {
  WebSocketOptions o;
  o.compression.enabled = true;
  Fixture f{o};
  test::WsClient c(f.server.port(), "/ws/echo", 0, kOffer);
  ASSERT_TRUE(c.open());
  ASSERT_EQ(extensions_answer(c.response_head()), "permessage-deflate");
  c.accept_rsv1 = true;
  const std::string big(5000, 'a'), small = "tiny";
  // A compressed request in two fragments, a plain one, a small one.
  std::string z = deflate_message(big);
  ASSERT_TRUE(c.send_frame(test::kText | 0x40, z.substr(0, 10), false));
  ASSERT_TRUE(c.send_frame(test::kCont, z.substr(10)));
  ASSERT_TRUE(c.send_frame(test::kBinary, big));
  ASSERT_TRUE(c.send_text(small));
  auto r1 = c.read_frame(), r2 = c.read_frame(), r3 = c.read_frame();
  ASSERT_TRUE(r1 && r2 && r3);
  EXPECT_TRUE(r1->rsv1 && r2->rsv1);  // both big replies compressed, one frame each
  EXPECT_TRUE(r1->fin && r2->fin);
  EXPECT_EQ(inflate_message(r1->payload), big);
  EXPECT_FALSE(r3->rsv1);
  EXPECT_EQ(r3->payload, small);
  EndpointStats st = f.echo->stats();
  EXPECT_EQ(st.messages_in, 3u);
  EXPECT_EQ(st.messages_out, 3u);
  EXPECT_EQ(st.protocol_errors, 0u);
  EXPECT_TRUE(c.close_gracefully());
}

TEST(ServerDeflate, SharedModeBroadcastIsOneCompressedFrameForEveryReceiver) {
  WebSocketOptions shared;
  shared.compression.enabled = true;
  shared.compression.mode = CompressionMode::Shared;
  Fixture f{WebSocketOptions{}, shared};
  std::vector<std::unique_ptr<test::WsClient>> clients;
  for (int i = 0; i < 4; ++i) {
    // The last one does not offer deflate and gets the plain frame.
    clients.push_back(std::make_unique<test::WsClient>(f.server.port(), "/ws/broadcast", 0,
                                                       i < 3 ? kOffer : std::string_view{}));
    ASSERT_TRUE(clients.back()->open());
    clients.back()->accept_rsv1 = true;
  }
  EXPECT_EQ(extensions_answer(clients[0]->response_head()),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
  // Every client is registered on its loop before the broadcast.
  for (int t = 0; t < 500 && f.fanout->connection_count() < clients.size(); ++t)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(f.fanout->connection_count(), clients.size());
  const std::string message = std::string(3000, 'x') + "tick";
  ASSERT_TRUE(clients[3]->send_text(message));
  std::vector<test::WsClient::Frame> got;
  for (auto& c : clients) {
    auto fr = c->read_frame();
    ASSERT_TRUE(fr);
    got.push_back(*fr);
  }
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(got[i].rsv1);
    EXPECT_EQ(got[i].payload, got[0].payload) << "the same compressed bytes for everyone";
  }
  EXPECT_EQ(inflate_message(got[0].payload), message);
  EXPECT_FALSE(got[3].rsv1);
  EXPECT_EQ(got[3].payload, message);
  EXPECT_EQ(f.fanout->stats().messages_out, 4u);
  EXPECT_EQ(f.fanout->stats().messages_in, 1u);
}

TEST(ServerDeflate, PoliciesThatDropQueuedFramesNeverKeepServerContext) {
  for (SlowConsumerPolicy p : {SlowConsumerPolicy::DropOldest, SlowConsumerPolicy::KeepLatest}) {
    WebSocketOptions o;
    o.compression.enabled = true;
    o.slow_consumer = p;
    Fixture f{o};
    test::WsClient c(f.server.port(), "/ws/echo", 0, kOffer);
    ASSERT_TRUE(c.open());
    EXPECT_EQ(extensions_answer(c.response_head()),
              "permessage-deflate; server_no_context_takeover");
  }
}

}  // namespace
}  // namespace wirehub
