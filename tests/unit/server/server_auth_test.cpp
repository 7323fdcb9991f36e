// Token authentication through a running server: every refusal is an HTTP answer before
// the upgrade (status + WWW-Authenticate, counted), an accepted connection knows its
// principal, the subprotocol form gets "access_token" back, and a connection is closed
// with 1008 when its token expires (unless that is turned off).

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "hs256_sign.hpp"
#include "ws_test_client.hpp"

namespace wirehub::test {
namespace {

const std::string kSecret = "server-auth-test-secret-of-at-least-32-bytes";

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string token_for(const std::string& sub, std::int64_t exp) {
  nlohmann::json claims = {{"exp", exp}};
  if (!sub.empty()) claims["sub"] = sub;
  return hs256_token(claims, kSecret);
}

WebSocketOptions secured(bool close_on_expiry = true) {
  JwtAuthOptions a;
  a.hs256_secret = kSecret;
  a.require_subject = true;
  a.leeway_s = 0;
  a.close_on_expiry = close_on_expiry;
  WebSocketOptions o;
  o.jwt = a;
  return o;
}

// Greets the principal's subject on open, then echoes.
WebSocketHandlers greeting_echo() {
  WebSocketHandlers h = echo_handlers();
  h.on_open = [](WebSocket& ws) { ws.send(ws.principal() ? "hello " + ws.principal()->subject : "no principal"); };
  return h;
}

// Sends text and expects it back: the connection is open and serving.
void expect_echo(WsClient& ws, const std::string& text) {
  ASSERT_TRUE(ws.send_text(text));
  auto echo = ws.read_frame();
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->opcode, kText);
  EXPECT_EQ(echo->payload, text);
}

std::string status_line(const WsClient& c) { return c.response_head().substr(0, c.response_head().find("\r\n")); }

TEST(ServerAuth, RefusalsAreAnsweredBeforeTheUpgradeWithAChallenge) {
  const int before = open_fd_count();
  {
    Server server(test_options(1));
    WebSocketEndpoint& ep = server.websocket("/ws/secure", greeting_echo(), secured());
    server.start();
    const std::string good = token_for("alice", unix_now() + 600);
    struct Case {
      std::string headers, status, challenge;
    } cases[] = {
        {"", "HTTP/1.1 401", "WWW-Authenticate: Bearer realm=\"wirehub\"\r\n"},
        {"Authorization: Bearer " + token_for("alice", unix_now() - 5) + "\r\n", "HTTP/1.1 401",
         "error=\"invalid_token\", error_description=\"token expired\""},
        {"Authorization: Bearer " + good + "x\r\n", "HTTP/1.1 401", "error=\"invalid_token\""},
        {"Authorization: Bearer " + token_for("", unix_now() + 600) + "\r\n", "HTTP/1.1 403",
         "error=\"insufficient_scope\""},
        {"Authorization: Bearer " + good + "\r\nSec-WebSocket-Protocol: access_token, " + good + "\r\n",
         "HTTP/1.1 400", "error=\"invalid_request\""},
    };
    for (const Case& c : cases) {
      WsClient ws(server.port(), "/ws/secure", 0, c.headers);
      EXPECT_FALSE(ws.open());
      EXPECT_EQ(status_line(ws).rfind(c.status, 0), 0u) << ws.response_head();
      EXPECT_NE(ws.response_head().find(c.challenge), std::string::npos) << ws.response_head();
      EXPECT_EQ(ws.response_head().find(good), std::string::npos);  // never echoed back
    }
    EXPECT_EQ(ep.stats().auth_refused, std::size(cases));
    EXPECT_EQ(ep.stats().opened, 0u);
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(ServerAuth, EachTokenSourceOpensAndTheSessionKnowsItsSubject) {
  Server server(test_options(1));
  server.websocket("/ws/secure", greeting_echo(), secured());
  server.start();
  const std::string t = token_for("bob", unix_now() + 600);
  {
    WsClient header(server.port(), "/ws/secure", 0, "Authorization: Bearer " + t + "\r\n");
    ASSERT_TRUE(header.open()) << header.response_head();
    auto hello = header.read_frame();
    ASSERT_TRUE(hello);
    EXPECT_EQ(hello->payload, "hello bob");
    EXPECT_TRUE(header.close_gracefully());
  }
  {
    WsClient query(server.port(), "/ws/secure?access_token=" + t);
    ASSERT_TRUE(query.open()) << query.response_head();
    EXPECT_EQ(query.read_frame()->payload, "hello bob");
    expect_echo(query, "ping?");
    EXPECT_TRUE(query.close_gracefully());
  }
  {
    // Browsers: the token as the offer after "access_token"; that marker is answered.
    WsClient proto(server.port(), "/ws/secure", 0, "Sec-WebSocket-Protocol: access_token, " + t + "\r\n");
    ASSERT_TRUE(proto.open()) << proto.response_head();
    EXPECT_NE(proto.response_head().find("Sec-WebSocket-Protocol: access_token\r\n"), std::string::npos)
        << proto.response_head();
    EXPECT_EQ(proto.response_head().find(t), std::string::npos);
    EXPECT_EQ(proto.read_frame()->payload, "hello bob");
    EXPECT_TRUE(proto.close_gracefully());
  }
}

TEST(ServerAuth, TheSubprotocolTokenIsNotAChoiceButOtherOffersAre) {
  Server server(test_options(1));
  WebSocketOptions o = secured();
  o.subprotocols = {"chat.v2"};
  server.websocket("/ws/secure", greeting_echo(), o);
  server.start();
  const std::string t = token_for("carol", unix_now() + 600);
  WsClient ws(server.port(), "/ws/secure", 0, "Sec-WebSocket-Protocol: chat.v2, access_token, " + t + "\r\n");
  ASSERT_TRUE(ws.open()) << ws.response_head();
  EXPECT_NE(ws.response_head().find("Sec-WebSocket-Protocol: chat.v2\r\n"), std::string::npos) << ws.response_head();
  EXPECT_TRUE(ws.close_gracefully());
}

TEST(ServerAuth, AConnectionIsClosedWith1008WhenItsTokenExpires) {
  Server server(test_options(2));
  WebSocketEndpoint& ep = server.websocket("/ws/secure", greeting_echo(), secured());
  server.start();
  const std::int64_t now = unix_now();
  WsClient soon(server.port(), "/ws/secure", 0, "Authorization: Bearer " + token_for("s", now + 2) + "\r\n");
  WsClient later(server.port(), "/ws/secure", 0, "Authorization: Bearer " + token_for("l", now + 600) + "\r\n");
  WsClient gone(server.port(), "/ws/secure", 0, "Authorization: Bearer " + token_for("g", now + 2) + "\r\n");
  ASSERT_TRUE(soon.open() && later.open() && gone.open());
  ASSERT_TRUE(soon.read_frame() && later.read_frame() && gone.read_frame());
  EXPECT_TRUE(gone.close_gracefully());  // leaves before its token expires: nothing to close

  auto close = soon.read_frame(6s);
  ASSERT_TRUE(close);
  EXPECT_EQ(close->opcode, kClose);
  EXPECT_EQ(close->close_code(), 1008);
  EXPECT_EQ(close->payload.substr(2), "token expired");
  EXPECT_GE(unix_now(), now + 2);  // not before the token's "exp"

  expect_echo(later, "still here");
  EXPECT_EQ(ep.stats().auth_expired, 1u);
  EXPECT_TRUE(later.close_gracefully());
}

TEST(ServerAuth, ExpiryClosingCanBeTurnedOff) {
  Server server(test_options(1));
  WebSocketEndpoint& ep = server.websocket("/ws/secure", greeting_echo(), secured(false));
  server.start();
  WsClient ws(server.port(), "/ws/secure", 0, "Authorization: Bearer " + token_for("s", unix_now() + 1) + "\r\n");
  ASSERT_TRUE(ws.open());
  ASSERT_TRUE(ws.read_frame());
  // Past the token's "exp" for certain (it was at most 1 s away), the connection works.
  std::this_thread::sleep_until(std::chrono::system_clock::now() + 2500ms);
  expect_echo(ws, "after exp");
  EXPECT_EQ(ep.stats().auth_expired, 0u);
  EXPECT_TRUE(ws.close_gracefully());
}

TEST(ServerAuth, AnUnusableKeyIsRefusedAtRegistration) {
  Server server(test_options(1));
  WebSocketOptions o = secured();
  o.jwt->hs256_secret = "short";
  EXPECT_THROW(server.websocket("/ws/secure", greeting_echo(), o), std::invalid_argument);
}

}  // namespace
}  // namespace wirehub::test
