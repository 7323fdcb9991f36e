// A small server for the EventSource interop test (tests/interop/node/sse.test.mjs): SSE
// endpoints and a deferred publish route, on 127.0.0.1 and a free port, which it prints
// on stdout as "port N". The wirehub binary's own endpoints belong to the app; this one
// exercises the library alone. SIGINT/SIGTERM: graceful shutdown, exit 0.
//
//   GET  /sse/events?topic=T       a stream subscribed to topic T (if given)
//   GET  /sse/script               events 1..6 with ids, three per connection: after 3 it
//                                  closes, and the client's reconnect (Last-Event-ID: 3)
//                                  gets 4..6
//   POST /publish?topic=T[&id=I][&event=E]   publishes the body to T from a worker thread,
//                                  then answers 204 from there (Server::route_async)

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "wirehub/server.hpp"

namespace {

// One thread that runs posted jobs in order, as an application's store thread would.
class Worker {
 public:
  Worker() : thread_([this] { run(); }) {}
  ~Worker() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  void post(std::function<void()> job) {
    {
      std::lock_guard lock(mu_);
      jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
  }

 private:
  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return done_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      auto job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      job();
      lock.lock();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool done_ = false;
  std::thread thread_;
};

constexpr int kScriptEvents = 6;
constexpr int kPerConnection = 3;

}  // namespace

int main() {
  Worker worker;  // outlives the server: jobs may still hold responders at shutdown
  wirehub::ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.threads = 2;
  wirehub::Server server(options);

  wirehub::SseHandlers events;
  events.on_open = [](wirehub::SseStream& s, const wirehub::HttpRequest& req) {
    if (auto topic = req.query_param("topic")) s.subscribe(*topic);
  };
  auto& feed = server.sse("/sse/events", std::move(events), {.retry_ms = 100, .heartbeat_ms = 1000});

  wirehub::SseHandlers script;
  script.on_open = [](wirehub::SseStream& s, const wirehub::HttpRequest& req) {
    int last = 0;
    if (auto id = req.header("Last-Event-ID")) last = std::atoi(std::string(*id).c_str());
    const int end = std::min(last + kPerConnection, kScriptEvents);
    for (int n = last + 1; n <= end; ++n) {
      const std::string text = std::to_string(n);
      s.send({.data = "event " + text + "\nsecond line", .id = text});
    }
    if (end < kScriptEvents) s.close();  // the client reconnects and resumes
  };
  server.sse("/sse/script", std::move(script), {.retry_ms = 50});

  server.route_async("POST", "/publish", [&feed, &worker](const wirehub::HttpRequest& req, wirehub::HttpResponder r) {
    // std::function needs a copyable job: the move-only responder goes in a shared_ptr.
    worker.post([&feed, r = std::make_shared<wirehub::HttpResponder>(std::move(r)), topic = req.query_param("topic").value_or(""),
                 id = req.query_param("id").value_or(""), event = req.query_param("event").value_or(""),
                 data = std::string(req.body)] {
      feed.publish(topic, {.data = data, .id = id, .event = event});
      r->respond({.status = 204, .content_type = "", .body = ""});
    });
  });

  server.start();
  std::printf("port %u\n", static_cast<unsigned>(server.port()));
  std::fflush(stdout);
  server.run_until_signal();
  return 0;
}
