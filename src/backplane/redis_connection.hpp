#pragma once
// RedisConnection: one Redis connection driven by a wirehub EventLoop.
//
// hiredis' async API does the protocol (command formatting, the reply reader, pub/sub
// bookkeeping); a small adapter of ours (redis_connection.cpp) maps its read/write hooks
// onto EventLoop::add/modify/remove, and our timer wheel supplies what hiredis 0.14 lacks:
// a connect timeout and command timeouts. Nothing above this file sees a redisReply:
// replies are copied into RedisValue, pub/sub pushes are viewed as RedisPush.
//
// Lifecycle: connect() starts a non-blocking connect; once TCP is up the handshake runs
// (AUTH [user] password, SELECT db, CLIENT SETNAME name — or PING when none applies, so
// that "ready" always means Redis itself answered, not only the kernel's backlog); then
// on_up runs and command() is accepted. A failure at any point (refused, timeout, AUTH
// or SELECT error, a lost connection, a command unanswered within command_timeout_ms)
// runs every pending reply handler with nullptr, in order, then on_down(reason), once;
// the connection is then idle and connect() may be called again (the owner chooses the
// backoff). close() ends it without running any handler.
//
// Loop thread only, all of it. Handlers run on the loop thread, from inside hiredis: they
// may call command(), subscribe(), connect() and close() of this connection, but must
// not destroy it (destroy it from a posted task or a timer instead). The EventLoop must
// outlive the connection. Host names are resolved with a blocking getaddrinfo inside
// hiredis; give an address or a name /etc/hosts knows where that matters.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "loop/event_loop.hpp"
#include "loop/timer_wheel.hpp"

struct redisAsyncContext;

namespace wirehub::backplane {

// A Redis reply (RESP2), owned.
struct RedisValue {
  enum class Type : std::uint8_t { Nil, Integer, String, Status, Error, Array };
  Type type = Type::Nil;
  long long integer = 0;             // Integer
  std::string str;                   // String, Status, Error
  std::vector<RedisValue> elements;  // Array

  bool is_error() const noexcept { return type == Type::Error; }
};

// A pub/sub message or confirmation on a subscribed connection. The views are valid
// during the handler call only.
struct RedisPush {
  enum class Kind : std::uint8_t { Message, Subscribe, Unsubscribe };
  Kind kind = Kind::Message;
  std::string_view channel;
  std::string_view payload;  // Message only
  long long count = 0;       // Subscribe/Unsubscribe: the connection's subscriptions now
};

struct RedisEndpoint {
  std::string host = "127.0.0.1";  // an IPv4/IPv6 address (no brackets) or a host name
  std::uint16_t port = 6379;
  std::string user;         // with a password: AUTH user password (Redis 6 ACL)
  std::string password;     // empty: no AUTH
  int db = 0;               // SELECT db when not 0
  std::string client_name;  // CLIENT SETNAME when not empty (shows in CLIENT LIST)
  std::uint32_t connect_timeout_ms = 2'000;  // TCP connect and handshake together
  std::uint32_t command_timeout_ms = 5'000;  // oldest unanswered command or confirmation
};

class RedisConnection {
 public:
  // reply is nullptr when the connection was lost before the reply came.
  using ReplyHandler = std::function<void(const RedisValue* reply)>;
  using UpHandler = std::function<void()>;
  using DownHandler = std::function<void(std::string_view reason)>;
  using PushHandler = std::function<void(const RedisPush& push)>;

  RedisConnection(loop::EventLoop& loop, RedisEndpoint endpoint);
  // close()s.
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Before connect().
  void set_handlers(UpHandler on_up, DownHandler on_down, PushHandler on_push = {});

  // Starts connecting unless already connecting or connected. An immediate failure (bad
  // address, refused at once) runs on_down before connect() returns.
  void connect();
  // Ends the connection now; no handler of it runs afterwards (pending replies are
  // dropped unanswered). Idempotent.
  void close() noexcept;

  bool ready() const noexcept { return phase_ == Phase::Ready; }
  bool idle() const noexcept { return phase_ == Phase::Idle; }

  // Queues a command (pipelined: the loop writes what was queued in one iteration with
  // one write where the socket takes it). False when not ready, and then on_reply never
  // runs; otherwise it runs exactly once. Not for (UN)SUBSCRIBE: use the two below.
  bool command(std::span<const std::string_view> argv, ReplyHandler on_reply);
  bool command(std::initializer_list<std::string_view> argv, ReplyHandler on_reply) {
    return command(std::span<const std::string_view>(argv.begin(), argv.size()), std::move(on_reply));
  }

  // SUBSCRIBE / UNSUBSCRIBE one channel; the confirmation and the channel's messages come
  // to on_push, in the order Redis sends them. unsubscribe() only for a channel this
  // connection subscribed. Once a connection subscribes, only these two may be used on
  // it (Redis refuses other commands in subscriber mode). False when not ready.
  bool subscribe(std::string_view channel);
  bool unsubscribe(std::string_view channel);

  // Commands and confirmations sent and not yet answered.
  std::size_t pending() const noexcept { return pending_.size() + confirmations_.size(); }

 private:
  enum class Phase : std::uint8_t { Idle, Connecting, Handshake, Ready };
  struct Pending {
    ReplyHandler handler;
    std::uint64_t deadline_ms;
  };
  class Deadline final : public loop::Timer {
   public:
    explicit Deadline(RedisConnection& c) : conn_(c) {}
    ~Deadline() override = default;

   private:
    void on_timer() override { conn_.on_deadline(); }
    RedisConnection& conn_;
  };

  static void on_connect_cb(const redisAsyncContext* ac, int status);
  static void on_disconnect_cb(const redisAsyncContext* ac, int status);
  static void on_reply_cb(redisAsyncContext* ac, void* reply, void* privdata);
  static void on_push_cb(redisAsyncContext* ac, void* reply, void* privdata);

  void start_handshake();
  bool send(std::span<const std::string_view> argv, ReplyHandler on_reply);
  bool send_sub(std::string_view verb, std::string_view channel);
  void handshake_step(const RedisValue* reply, std::string_view what, bool last);
  // Detaches from a context hiredis is freeing (or we free), then reports the loss.
  void lost(redisAsyncContext* ac, std::string reason, bool free_it);
  void on_deadline();
  void rearm() noexcept;

  loop::EventLoop& loop_;
  RedisEndpoint ep_;
  UpHandler on_up_;
  DownHandler on_down_;
  PushHandler on_push_;
  redisAsyncContext* ac_ = nullptr;
  Phase phase_ = Phase::Idle;
  std::uint64_t connect_deadline_ms_ = 0;
  std::deque<Pending> pending_;                // regular commands, in send order
  std::deque<std::uint64_t> confirmations_;   // deadlines of (UN)SUBSCRIBEs, in send order
  Deadline timer_{*this};
  std::vector<const char*> argv_scratch_;
  std::vector<std::size_t> argvlen_scratch_;
};

}  // namespace wirehub::backplane
