// Deferred HTTP responses (Server::route_async): answered later, from any thread, in
// request order, with the same HEAD, keep-alive and error behaviour as synchronous routes;
// an answer whose connection is gone or timed out is dropped and counted, never written
// to freed memory.

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <thread>

#include "ws_test_client.hpp"

namespace wirehub {
namespace {

using namespace std::chrono_literals;

using test::connect_loopback;
using test::send_all;

// The responders handlers keep for the test to answer, in arrival order.
class Parked {
 public:
  void put(HttpResponder r) {
    std::lock_guard lock(mu_);
    held_.push_back(std::move(r));
  }
  std::size_t size() {
    std::lock_guard lock(mu_);
    return held_.size();
  }
  HttpResponder take(std::size_t i) {
    std::lock_guard lock(mu_);
    return std::move(held_.at(i));
  }

 private:
  std::mutex mu_;
  std::vector<HttpResponder> held_;
};

HttpResponse text(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

class AsyncRouteTest : public test::ServerTest {
 protected:
  Server& make(ServerOptions o = test::test_options(1)) {
    server_ = std::make_unique<Server>(std::move(o));
    server_->route_async("GET", "/park", [this](const HttpRequest&, HttpResponder r) { parked_.put(std::move(r)); });
    server_->route("GET", "/sync", [this](const HttpRequest&, HttpResponse& res) {
      ++sync_calls_;
      res.body = "sync";
    });
    return *server_;
  }

  Parked parked_;
  std::atomic<int> sync_calls_{0};
};

TEST_F(AsyncRouteTest, RespondFromAnotherThreadReachesTheClient) {
  Server& s = make();
  s.route_async("POST", "/orders", [](const HttpRequest& req, HttpResponder r) {
    std::thread([r = std::move(r), body = std::string(req.body)]() mutable {
      HttpResponse res = text(201, "stored:" + body);
      res.headers.push_back({"Location", "/orders/1"});
      r.respond(std::move(res));
      EXPECT_FALSE(r);
      r.respond(text(500, "second call"));  // ignored: the first call wins
    }).detach();
  });
  s.start();
  std::string out = test::exchange(s.port(), "POST /orders HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc");
  EXPECT_EQ(out.rfind("HTTP/1.1 201 Created\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("\r\nLocation: /orders/1\r\n"), std::string::npos) << out;
  EXPECT_EQ(out.substr(out.size() - 10), "stored:abc");
  EXPECT_EQ(out.find("second call"), std::string::npos);
}

TEST_F(AsyncRouteTest, PipelinedRequestWaitsForTheDeferredOneAndResponsesKeepOrder) {
  Server& s = make();
  s.start();
  int fd = connect_loopback(s.port());
  ASSERT_TRUE(send_all(fd, "GET /park HTTP/1.1\r\nHost: x\r\n\r\n"
                           "GET /sync HTTP/1.1\r\nHost: x\r\n\r\n"
                           "GET /park HTTP/1.1\r\nHost: x\r\n\r\n"
                           "GET /sync HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  ASSERT_TRUE(test::wait_until([&] { return parked_.size() == 1; }));
  // The second request is already in the server's hands (same segment) or in its socket:
  // it must not be handled before the first is answered.
  std::this_thread::sleep_for(50ms);  // a chance for a wrong implementation to run it
  EXPECT_EQ(sync_calls_.load(), 0);
  std::thread([r = parked_.take(0)]() mutable { r.respond(text(200, "first")); }).join();
  ASSERT_TRUE(test::wait_until([&] { return parked_.size() == 2; }));
  EXPECT_EQ(sync_calls_.load(), 1);
  parked_.take(1).respond(text(200, "third"));
  std::string out = test::read_until_eof(fd);
  ::close(fd);
  const auto first = out.find("first"), second = out.find("sync"), third = out.find("third"),
             fourth = out.rfind("sync");
  ASSERT_NE(first, std::string::npos) << out;
  ASSERT_NE(third, std::string::npos) << out;
  EXPECT_LT(first, second);
  EXPECT_LT(second, third);
  EXPECT_LT(third, fourth);
  EXPECT_EQ(sync_calls_.load(), 2);
}

TEST_F(AsyncRouteTest, AnswerDuringTheHandlerCallOnTheLoopThreadWorksAndTheNextRequestFollows) {
  Server& s = make();
  s.route_async("GET", "/now", [](const HttpRequest& req, HttpResponder r) {
    r.respond(text(200, "now:" + std::string(req.path)));
  });
  s.start();
  std::string out = test::exchange(s.port(), "GET /now HTTP/1.1\r\nHost: x\r\n\r\nGET /sync HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(out.find("now:/now"), std::string::npos) << out;
  EXPECT_LT(out.find("now:/now"), out.find("sync")) << out;
}

TEST_F(AsyncRouteTest, ClientGoneBeforeTheAnswerDropsAndCountsIt) {
  Server& s = make();
  s.start();
  const int before = test::open_fd_count();
  int fd = connect_loopback(s.port());
  ASSERT_TRUE(send_all(fd, "GET /park HTTP/1.1\r\nHost: x\r\n\r\nGET /sync HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(test::wait_until([&] { return parked_.size() == 1; }));
  ::close(fd);
  // The server notices the EOF although it reads nothing while the answer is pending:
  // its side of the socket goes away.
  ASSERT_TRUE(test::wait_until([&] { return test::open_fd_count() == before; }));
  std::thread([r = parked_.take(0)]() mutable { r.respond(text(200, "too late")); }).join();
  ASSERT_TRUE(test::wait_until([&] { return s.stats().deferred_dropped == 1; }));
  EXPECT_EQ(sync_calls_.load(), 0);
}

TEST_F(AsyncRouteTest, NoAnswerWithinTheHandlerTimeoutIs503AndTheLateAnswerIsDropped) {
  ServerOptions o = test::test_options(1);
  o.handler_timeout_ms = 100;
  o.keep_alive_timeout_ms = 50;  // shorter than the handler timeout: must not fire first
  Server& s = make(o);
  s.start();
  std::string out = test::exchange(s.port(), "GET /park HTTP/1.1\r\nHost: x\r\n\r\nGET /sync HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("sync"), std::string::npos) << out;  // the next request went on
  EXPECT_EQ(s.stats().deferred_timeouts, 1u);
  ASSERT_EQ(parked_.size(), 1u);
  parked_.take(0).respond(text(200, "late"));
  EXPECT_TRUE(test::wait_until([&] { return s.stats().deferred_dropped == 1; }));
}

TEST_F(AsyncRouteTest, ResponderDestroyedWithoutAnAnswerGives500) {
  Server& s = make();
  s.start();
  int fd = connect_loopback(s.port());
  ASSERT_TRUE(send_all(fd, "GET /park HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  ASSERT_TRUE(test::wait_until([&] { return parked_.size() == 1; }));
  std::thread([r = parked_.take(0)] {}).join();  // destroyed on another thread, unanswered
  std::string out = test::read_until_eof(fd);
  ::close(fd);
  EXPECT_EQ(out.rfind("HTTP/1.1 500 Internal Server Error\r\n", 0), 0u) << out;
}

TEST_F(AsyncRouteTest, HandlerThatThrowsGives500AndAKeptResponderFindsTheRequestGone) {
  Server& s = make();
  s.route_async("GET", "/throw", [this](const HttpRequest&, HttpResponder r) {
    parked_.put(std::move(r));
    throw std::runtime_error("boom");
  });
  s.start();
  std::string out = test::exchange(s.port(), "GET /throw HTTP/1.1\r\nHost: x\r\n\r\nGET /sync HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 500 Internal Server Error\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("sync"), std::string::npos) << out;
  parked_.take(0).respond(text(200, "after the 500"));
  EXPECT_TRUE(test::wait_until([&] { return s.stats().deferred_dropped == 1; }));
}

TEST_F(AsyncRouteTest, HeadGetsTheHeadWithoutTheBody) {
  Server& s = make();
  s.route_async("GET", "/doc", [](const HttpRequest&, HttpResponder r) {
    std::thread([r = std::move(r)]() mutable { r.respond(text(200, "hello")); }).detach();
  });
  s.start();
  std::string out = test::exchange(s.port(), "HEAD /doc HTTP/1.1\r\nHost: x\r\n\r\nGET /sync HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(out.find("Content-Length: 5\r\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("hello"), std::string::npos) << out;
  // The bytes right after the HEAD answer's blank line are the next response.
  EXPECT_NE(out.find("\r\n\r\nHTTP/1.1 200 OK\r\n"), std::string::npos) << out;
}

TEST_F(AsyncRouteTest, PerRouteBodyLimitBelowAndAboveTheServerDefault) {
  ServerOptions o = test::test_options(1);
  o.max_body_bytes = 16;
  Server& s = make(o);
  auto echo_size = [](const HttpRequest& req, HttpResponder r) { r.respond(text(200, std::to_string(req.body.size()))); };
  s.route_async("POST", "/small", echo_size, {.max_body_bytes = 4});
  s.route_async("POST", "/large", echo_size, {.max_body_bytes = 100});
  s.route("POST", "/sync-small", [](const HttpRequest&, HttpResponse&) {}, {.max_body_bytes = 4});
  s.start();
  auto post = [&](std::string_view path, std::size_t n) {
    return test::exchange(s.port(), "POST " + std::string(path) +
                                        " HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: " +
                                        std::to_string(n) + "\r\n\r\n" + std::string(n, 'x'));
  };
  EXPECT_EQ(post("/small", 4).rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_EQ(post("/small", 5).rfind("HTTP/1.1 413 ", 0), 0u);
  EXPECT_EQ(post("/sync-small", 5).rfind("HTTP/1.1 413 ", 0), 0u);
  std::string large = post("/large", 100);
  EXPECT_EQ(large.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << large;
  EXPECT_EQ(large.substr(large.size() - 3), "100");
  EXPECT_EQ(post("/large", 101).rfind("HTTP/1.1 413 ", 0), 0u);
  EXPECT_EQ(post("/sync", 0).rfind("HTTP/1.1 405 ", 0), 0u);  // only GET there
}

TEST_F(AsyncRouteTest, ShutdownWaitsForAPendingAnswer) {
  Server& s = make();
  s.start();
  int fd = connect_loopback(s.port());
  ASSERT_TRUE(send_all(fd, "GET /park HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(test::wait_until([&] { return parked_.size() == 1; }));
  std::thread stopper([&] { s.shutdown(); });
  // The loop closed its listener in the same step as it told this connection to close
  // after its answer: once connecting fails, shutdown is waiting for us.
  ASSERT_TRUE(test::wait_until([&] {
    int probe = connect_loopback(s.port());
    if (probe >= 0) ::close(probe);
    return probe < 0;
  }));
  parked_.take(0).respond(text(200, "answered during shutdown"));
  std::string out = test::read_until_eof(fd);
  ::close(fd);  // the server lingers for our EOF after its last byte
  stopper.join();
  EXPECT_NE(out.find("answered during shutdown"), std::string::npos) << out;
  EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos) << out;
  EXPECT_EQ(s.stats().deferred_dropped, 0u);
}

}  // namespace
}  // namespace wirehub
