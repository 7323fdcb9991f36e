// A hub server for the SignalR interop tests (tests/interop/node/hub*.test.mjs), built on
// the public API alone: the same methods on three hubs, on 127.0.0.1 and a free port,
// which it prints on stdout as "port N". SIGINT/SIGTERM: graceful shutdown (every hub
// client gets Close with allowReconnect), exit 0.
//
//   /hubs/test   every transport, JSON and MessagePack, stateful reconnect offered
//   /hubs/auth   the same, behind a bearer token (HS256, --jwt-secret); user() = "sub"
//
// Flags: --threads N (default 2), --keep-alive-ms, --client-timeout-ms,
// --disconnect-timeout-ms, --handshake-timeout-ms (the hub timeouts, for tests that wait
// for them), --jwt-secret S (32 bytes or more; without it /hubs/auth is not mounted),
// --backplane URL (ServerOptions::backplane: redis://... joins the other servers using it).
//
// Methods (names as clients call them):
//   Echo(v) -> v                      Add(a, b) -> a + b          Throw(msg): HubException
//   GetConnectionId() -> id           GetUser() -> user           GetTransport() -> name
//   Note(key, v): appends v to the list `key` (for sends, which get no answer)
//   GetNotes(key) -> the list         Stats() -> the hub's HubStats as an object
//   JoinGroup(g) / LeaveGroup(g)      SendToGroup(g, msg), SendToOthersInGroup(g, msg)
//   AddToGroup(id, g) / RemoveFromGroup(id, g): another connection's membership
//     (each answers true once the change is in effect on every node, false when no
//     node has the connection)
//   SendToAll(msg), SendToOthers(msg), SendToUser(user, msg), SendToConnection(id, msg):
//     the client method "message" gets (msg, sender connection id)
//   AskCaller(method, args) -> {"result": v} or {"error": text}: a client result
//   AskConnection(id, method, args, timeoutMs): the same of another connection (any node)
//   CountThenFail(count, error): a stream of 0..count-1, then it fails with HubException(error)
//   Counter(count, delayMs): a stream of 0..count-1, one item per delay; when the client
//     cancels it, the caller gets "streamCanceled"(count) and CancelCount() grows
//   CancelCount() -> streams cancelled so far
//   Sum(upload) -> the sum of the numbers uploaded; Concat(upload) -> the strings joined;
//     an upload ended with error E fails the call with "HubException: E"
//   Emit(count, delayMs): the caller gets "tick"(i) for i in 0..count-1, one per delay,
//     from another thread; then "ticksDone"(count)
//   EmitToGroup(group, count, delayMs): the same, to the group's members at each send
//   CloseMe(error, allowReconnect): the server ends the connection with Close

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <queue>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "wirehub/server.hpp"

namespace {

using wirehub::Hub;
using wirehub::HubCaller;
using wirehub::HubClientResult;
using wirehub::HubException;
using wirehub::HubReply;
using wirehub::HubStreamWriter;
using wirehub::HubUpload;
using wirehub::Json;
using Clock = std::chrono::steady_clock;

// Runs jobs at their time on one thread, as an application's timer or producer thread
// would: what it does to hubs goes through their thread-safe handles.
class Scheduler {
 public:
  Scheduler() : thread_([this] { run(); }) {}
  ~Scheduler() { stop(); }
  // Drops the jobs not run yet and joins the thread: call it while what they use lives.
  void stop() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
  }
  void at(Clock::time_point when, std::function<void()> job) {
    {
      std::lock_guard lock(mu_);
      jobs_.push({when, seq_++, std::move(job)});
    }
    cv_.notify_one();
  }

 private:
  struct Job {
    Clock::time_point when;
    std::uint64_t seq;  // keeps jobs of the same time in the order they were given
    std::function<void()> fn;
    bool operator>(const Job& o) const { return when != o.when ? when > o.when : seq > o.seq; }
  };
  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      if (done_) return;
      if (jobs_.empty()) {
        cv_.wait(lock);
        continue;
      }
      if (Clock::now() < jobs_.top().when) {
        cv_.wait_until(lock, jobs_.top().when);
        continue;
      }
      auto fn = jobs_.top().fn;
      jobs_.pop();
      lock.unlock();
      fn();
      lock.lock();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::priority_queue<Job, std::vector<Job>, std::greater<>> jobs_;
  std::uint64_t seq_ = 0;
  bool done_ = false;
  std::thread thread_;
};

// What fire-and-forget calls leave behind, by a key the test chooses (so it survives a
// reconnect, which brings a new connection id).
class Notes {
 public:
  void add(const std::string& key, Json v) {
    std::lock_guard lock(mu_);
    notes_[key].push_back(std::move(v));
  }
  Json get(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = notes_.find(key);
    return it == notes_.end() ? Json::array() : Json(it->second);
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::vector<Json>> notes_;
};

struct Shared {
  Scheduler scheduler;
  Notes notes;
  std::atomic<std::uint64_t> cancels{0};
};

// Counter's producer: item i at start + i * delay, on the scheduler thread, until the
// stream is over.
void produce(Shared& shared, HubStreamWriter out, int i, int count, Clock::time_point start,
             std::chrono::milliseconds delay) {
  if (out.cancelled()) return;
  if (i == count) {
    out.complete();
    return;
  }
  out.write(i);
  shared.scheduler.at(start + delay * (i + 1),
                      [&shared, out, i, count, start, delay] { produce(shared, out, i + 1, count, start, delay); });
}

void emit(Shared& shared, wirehub::HubTarget to, int i, int count, Clock::time_point start,
          std::chrono::milliseconds delay) {
  if (i == count) {
    to.send("ticksDone", {count});
    return;
  }
  to.send("tick", {i});
  shared.scheduler.at(start + delay * (i + 1),
                      [&shared, to, i, count, start, delay] { emit(shared, to, i + 1, count, start, delay); });
}

void mount_methods(Hub& hub, Shared& shared) {
  hub.method("Echo", [](Json v) { return v; });
  hub.method("Add", [](int a, int b) { return a + b; });
  hub.method("Throw", [](std::string message) -> int { throw HubException(message); });
  hub.method("GetConnectionId", [](HubCaller& c) { return c.connection_id(); });
  hub.method("GetUser", [](HubCaller& c) { return c.user(); });
  hub.method("GetTransport", [](HubCaller& c) { return std::string(c.transport()); });
  hub.method("Note", [&shared](std::string key, Json v) { shared.notes.add(key, std::move(v)); });
  hub.method("GetNotes", [&shared](std::string key) { return shared.notes.get(key); });
  hub.method("Stats", [](HubCaller& c) {
    const wirehub::HubStats s = c.hub().stats();
    return Json{{"open", s.open},
                {"opened", s.opened},
                {"invocations", s.invocations},
                {"messagesIn", s.messages_in},
                {"messagesOut", s.messages_out},
                {"protocolErrors", s.protocol_errors}};
  });

  // Each completes once the change is in effect on every node (true), or with false when
  // no node has the connection.
  auto reply_when_done = [](HubReply reply) { return [reply](bool done) { reply.ok(done); }; };
  hub.method("JoinGroup", [reply_when_done](HubCaller& c, std::string group, HubReply reply) {
    c.hub().add_to_group(c.connection_id(), group, reply_when_done(std::move(reply)));
  });
  hub.method("LeaveGroup", [reply_when_done](HubCaller& c, std::string group, HubReply reply) {
    c.hub().remove_from_group(c.connection_id(), group, reply_when_done(std::move(reply)));
  });
  hub.method("AddToGroup", [reply_when_done](HubCaller& c, std::string id, std::string group, HubReply reply) {
    c.hub().add_to_group(id, group, reply_when_done(std::move(reply)));
  });
  hub.method("RemoveFromGroup", [reply_when_done](HubCaller& c, std::string id, std::string group, HubReply reply) {
    c.hub().remove_from_group(id, group, reply_when_done(std::move(reply)));
  });
  hub.method("SendToGroup", [](HubCaller& c, std::string group, Json msg) {
    c.hub().clients().group(group).send("message", {msg, c.connection_id()});
  });
  hub.method("SendToOthersInGroup", [](HubCaller& c, std::string group, Json msg) {
    c.others_in_group(group).send("message", {msg, c.connection_id()});
  });
  hub.method("SendToAll",
             [](HubCaller& c, Json msg) { c.hub().clients().all().send("message", {msg, c.connection_id()}); });
  hub.method("SendToOthers", [](HubCaller& c, Json msg) { c.others().send("message", {msg, c.connection_id()}); });
  hub.method("SendToUser", [](HubCaller& c, std::string user, Json msg) {
    c.hub().clients().user(user).send("message", {msg, c.connection_id()});
  });
  hub.method("SendToConnection", [](HubCaller& c, std::string id, Json msg) {
    c.hub().clients().client(id).send("message", {msg, c.connection_id()});
  });

  hub.method("AskConnection", [](HubCaller& c, std::string id, std::string method, Json args, int timeout_ms,
                                 HubReply reply) {
    c.hub().invoke_client(
        id, method, std::move(args),
        [reply](HubClientResult r) { reply.ok(r.ok ? Json{{"result", r.value}} : Json{{"error", r.error}}); },
        static_cast<std::uint32_t>(timeout_ms));
  });
  hub.method("AskCaller", [](HubCaller& c, std::string method, Json args, HubReply reply) {
    c.hub().invoke_client(
        c.connection_id(), method, std::move(args),
        [reply](HubClientResult r) { reply.ok(r.ok ? Json{{"result", r.value}} : Json{{"error", r.error}}); }, 10'000);
  });

  hub.method("Counter", [&shared](HubCaller& c, int count, int delay_ms, HubStreamWriter out) {
    out.on_cancel([&shared, &hub = c.hub(), id = c.connection_id(), count] {
      ++shared.cancels;
      hub.clients().client(id).send("streamCanceled", {count});
    });
    const auto start = Clock::now();
    shared.scheduler.at(start, [&shared, out, count, start, delay = std::chrono::milliseconds(delay_ms)] {
      produce(shared, out, 0, count, start, delay);
    });
  });
  // Items 0..count-1, then the stream fails with a HubException (PROTOCOL.md 9.2: the items
  // before an error Completion are still delivered).
  hub.method("CountThenFail", [](int count, std::string error, HubStreamWriter out) {
    for (int i = 0; i < count; ++i) out.write(i);
    out.fail(HubException(error));
  });
  hub.method("CancelCount", [&shared] { return shared.cancels.load(); });

  hub.method("Sum", [](HubUpload in, HubReply reply) {
    auto sum = std::make_shared<double>(0);
    in.on_item([sum](Json item) {
      if (item.is_number()) *sum += item.get<double>();
    });
    in.on_end([sum, reply](std::optional<std::string> error) {
      if (error) {
        reply.fail(HubException(*error));
      } else {
        reply.ok(*sum);
      }
    });
  });
  hub.method("Concat", [](HubUpload in, HubReply reply) {
    auto text = std::make_shared<std::string>();
    in.on_item([text](Json item) { *text += item.is_string() ? item.get<std::string>() : item.dump(); });
    in.on_end([text, reply](std::optional<std::string> error) {
      if (error) {
        reply.fail(HubException(*error));
      } else {
        reply.ok(*text);
      }
    });
  });

  hub.method("Emit", [&shared](HubCaller& c, int count, int delay_ms) {
    const auto start = Clock::now();
    shared.scheduler.at(start, [&shared, to = c.caller(), count, start, delay = std::chrono::milliseconds(delay_ms)] {
      emit(shared, to, 0, count, start, delay);
    });
  });

  hub.method("EmitToGroup", [&shared](HubCaller& c, std::string group, int count, int delay_ms) {
    const auto start = Clock::now();
    shared.scheduler.at(start, [&shared, to = c.hub().clients().group(std::move(group)), count, start,
                                delay = std::chrono::milliseconds(delay_ms)] {
      emit(shared, to, 0, count, start, delay);
    });
  });

  hub.method("CloseMe", [](HubCaller& c, std::string error, bool allow_reconnect) { c.close(error, allow_reconnect); });
}

std::uint32_t to_ms(const char* flag, const char* value) {
  char* end = nullptr;
  const unsigned long v = std::strtoul(value, &end, 10);
  if (!*value || *end || v == 0 || v > 3'600'000) throw std::invalid_argument(std::string("bad value for ") + flag);
  return static_cast<std::uint32_t>(v);
}

}  // namespace

int main(int argc, char** argv) {
  wirehub::HubOptions hub_options;
  hub_options.stateful_reconnect = true;
  unsigned threads = 2;
  std::optional<std::string> jwt_secret;
  std::string backplane;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string_view flag = argv[i];
      if (i + 1 >= argc) throw std::invalid_argument("missing value for " + std::string(flag));
      const char* value = argv[++i];
      if (flag == "--threads") {
        threads = to_ms("--threads", value);
      } else if (flag == "--keep-alive-ms") {
        hub_options.keep_alive_ms = to_ms(argv[i - 1], value);
      } else if (flag == "--client-timeout-ms") {
        hub_options.client_timeout_ms = to_ms(argv[i - 1], value);
      } else if (flag == "--disconnect-timeout-ms") {
        hub_options.disconnect_timeout_ms = to_ms(argv[i - 1], value);
      } else if (flag == "--handshake-timeout-ms") {
        hub_options.handshake_timeout_ms = to_ms(argv[i - 1], value);
      } else if (flag == "--jwt-secret") {
        jwt_secret = value;
      } else if (flag == "--backplane") {
        backplane = value;
      } else {
        throw std::invalid_argument("unknown flag " + std::string(flag));
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wirehub-hub-test-server: %s\n", e.what());
    return 2;
  }

  Shared shared;
  wirehub::ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.threads = threads;
  options.backplane = backplane;
  wirehub::Server server(options);

  mount_methods(server.hub("/hubs/test", hub_options), shared);
  if (jwt_secret) {
    wirehub::HubOptions auth = hub_options;
    wirehub::JwtAuthOptions jwt;
    jwt.hs256_secret = *jwt_secret;
    auth.jwt = jwt;
    mount_methods(server.hub("/hubs/auth", auth), shared);
  }

  try {
    server.start();
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "wirehub-hub-test-server: %s\n", e.what());
    return 2;
  }
  std::printf("port %u\n", static_cast<unsigned>(server.port()));
  std::fflush(stdout);
  server.run_until_signal();
  shared.scheduler.stop();  // before the hubs go with the server
  return 0;
}
