#include "backplane/redis_connection.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <sys/epoll.h>

#include <string>
#include <utility>

namespace wirehub::backplane {
namespace {

// The adapter between one hiredis context and the loop: hiredis calls the five hooks
// when it wants to read, stop reading, write, stop writing, or is freeing the context;
// the loop calls on_events when the socket is ready. One Link per context, because the
// fd (and so the epoll registration) belongs to the context, not to RedisConnection.
// hiredis owns the context; the Link lives until hiredis' cleanup hook, and then until
// the end of the loop iteration (dispose), since epoll may still hold an event for it.
class Link final : public loop::Watcher, public loop::Disposable {
 public:
  Link(loop::EventLoop& loop, redisAsyncContext* ac) : loop_(loop), ac_(ac), fd_(ac->c.fd) {}

  static void attach(loop::EventLoop& loop, redisAsyncContext* ac) {
    auto* link = new Link(loop, ac);
    ac->ev.data = link;
    ac->ev.addRead = [](void* p) { static_cast<Link*>(p)->want(EPOLLIN, true); };
    ac->ev.delRead = [](void* p) { static_cast<Link*>(p)->want(EPOLLIN, false); };
    ac->ev.addWrite = [](void* p) { static_cast<Link*>(p)->want(EPOLLOUT, true); };
    ac->ev.delWrite = [](void* p) { static_cast<Link*>(p)->want(EPOLLOUT, false); };
    ac->ev.cleanup = [](void* p) { static_cast<Link*>(p)->cleanup(); };
  }

  void on_events(std::uint32_t ev) override {
    // Errors and hang-ups go to the read side, where hiredis finds out what happened (a
    // failed connect, or EOF) and frees the context; cleanup() then clears ac_.
    if (ac_ != nullptr && (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) redisAsyncHandleRead(ac_);
    if (ac_ != nullptr && (ev & EPOLLOUT) != 0 && (events_ & EPOLLOUT) != 0) redisAsyncHandleWrite(ac_);
  }

 private:
  void want(std::uint32_t bit, bool on) {
    const std::uint32_t events = on ? (events_ | bit) : (events_ & ~bit);
    if (events == events_ && registered_) return;
    events_ = events;
    if (!registered_) {
      loop_.add(fd_, events_, this);
      registered_ = true;
    } else {
      loop_.modify(fd_, events_, this);
    }
  }
  void cleanup() {
    if (registered_) loop_.remove(fd_);  // before hiredis closes the fd
    registered_ = false;
    ac_ = nullptr;
    loop_.dispose(this);
  }

  loop::EventLoop& loop_;
  redisAsyncContext* ac_;
  int fd_;
  std::uint32_t events_ = 0;
  bool registered_ = false;
};

RedisValue convert(const redisReply& r) {
  RedisValue v;
  switch (r.type) {
    case REDIS_REPLY_INTEGER:
      v.type = RedisValue::Type::Integer;
      v.integer = r.integer;
      break;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      v.type = r.type == REDIS_REPLY_STRING   ? RedisValue::Type::String
               : r.type == REDIS_REPLY_STATUS ? RedisValue::Type::Status
                                              : RedisValue::Type::Error;
      v.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_ARRAY:
      v.type = RedisValue::Type::Array;
      v.elements.reserve(r.elements);
      for (std::size_t i = 0; i < r.elements; ++i) v.elements.push_back(convert(*r.element[i]));
      break;
    default:
      break;  // REDIS_REPLY_NIL
  }
  return v;
}

std::string_view view(const redisReply* r) {
  return r != nullptr && r->str != nullptr ? std::string_view(r->str, r->len) : std::string_view();
}

// hiredis keeps its last error in the embedded redisContext (the async copy is only
// refreshed on some paths).
std::string reason_of(const redisAsyncContext* ac, std::string_view fallback) {
  if (ac->c.err != 0 && ac->c.errstr[0] != '\0') return ac->c.errstr;
  return std::string(fallback);
}

}  // namespace

RedisConnection::RedisConnection(loop::EventLoop& loop, RedisEndpoint endpoint)
    : loop_(loop), ep_(std::move(endpoint)) {}

RedisConnection::~RedisConnection() { close(); }

void RedisConnection::set_handlers(UpHandler on_up, DownHandler on_down, PushHandler on_push) {
  on_up_ = std::move(on_up);
  on_down_ = std::move(on_down);
  on_push_ = std::move(on_push);
}

void RedisConnection::connect() {
  if (phase_ != Phase::Idle) return;
  redisAsyncContext* ac = redisAsyncConnect(ep_.host.c_str(), ep_.port);
  if (ac == nullptr) {
    if (on_down_) on_down_("out of memory");
    return;
  }
  if (ac->err != 0) {
    std::string why = reason_of(ac, "connect failed");
    redisAsyncFree(ac);  // no hooks attached yet: frees at once, runs nothing of ours
    if (on_down_) on_down_(why);
    return;
  }
  ac->data = this;
  Link::attach(loop_, ac);
  ac_ = ac;
  phase_ = Phase::Connecting;
  connect_deadline_ms_ = loop_.now_ms() + ep_.connect_timeout_ms;
  rearm();
  // Both also register for writability: the first write event tells that connect(2)
  // completed (or failed).
  redisAsyncSetConnectCallback(ac, &RedisConnection::on_connect_cb);
  redisAsyncSetDisconnectCallback(ac, &RedisConnection::on_disconnect_cb);
}

void RedisConnection::close() noexcept {
  if (ac_ == nullptr) return;
  redisAsyncContext* ac = ac_;
  ac->data = nullptr;  // hiredis' remaining callbacks for it now find nobody
  ac_ = nullptr;
  phase_ = Phase::Idle;
  loop_.timers().cancel(timer_);
  pending_.clear();
  confirmations_.clear();
  // Inside a hiredis callback this only marks the context; hiredis frees it on return.
  redisAsyncFree(ac);
}

void RedisConnection::on_connect_cb(const redisAsyncContext* cac, int status) {
  auto* ac = const_cast<redisAsyncContext*>(cac);  // hiredis' own object; we only touch data
  auto* self = static_cast<RedisConnection*>(ac->data);
  if (self == nullptr) return;
  if (status != REDIS_OK) {
    // hiredis frees the context after this returns.
    self->lost(ac, reason_of(ac, "connect failed"), false);
    return;
  }
  self->start_handshake();
}

void RedisConnection::on_disconnect_cb(const redisAsyncContext* cac, int) {
  auto* ac = const_cast<redisAsyncContext*>(cac);
  auto* self = static_cast<RedisConnection*>(ac->data);
  if (self == nullptr) return;
  self->lost(ac, reason_of(ac, "connection closed"), false);
}

void RedisConnection::on_reply_cb(redisAsyncContext* ac, void* r, void*) {
  auto* self = static_cast<RedisConnection*>(ac->data);
  if (self == nullptr) return;
  if (r == nullptr) {
    // hiredis answers pending commands with nullptr only while it frees the context.
    self->lost(ac, reason_of(ac, "connection closed"), false);
    return;
  }
  if (self->pending_.empty()) return;
  Pending p = std::move(self->pending_.front());
  self->pending_.pop_front();
  self->rearm();
  const RedisValue v = convert(*static_cast<redisReply*>(r));
  p.handler(&v);
}

void RedisConnection::on_push_cb(redisAsyncContext* ac, void* r, void*) {
  auto* self = static_cast<RedisConnection*>(ac->data);
  if (self == nullptr) return;
  if (r == nullptr) {
    self->lost(ac, reason_of(ac, "connection closed"), false);
    return;
  }
  const auto* reply = static_cast<redisReply*>(r);
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) return;
  const std::string_view kind = view(reply->element[0]);
  RedisPush push;
  push.channel = view(reply->element[1]);
  if (kind == "message") {
    push.kind = RedisPush::Kind::Message;
    push.payload = view(reply->element[2]);
  } else if (kind == "subscribe" || kind == "unsubscribe") {
    push.kind = kind == "subscribe" ? RedisPush::Kind::Subscribe : RedisPush::Kind::Unsubscribe;
    push.count = reply->element[2]->integer;
    // Redis confirms (UN)SUBSCRIBEs of one connection in the order they were sent.
    if (!self->confirmations_.empty()) self->confirmations_.pop_front();
    self->rearm();
  } else {
    return;
  }
  if (self->on_push_) self->on_push_(push);
}

void RedisConnection::start_handshake() {
  phase_ = Phase::Handshake;
  std::vector<std::vector<std::string>> steps;
  if (!ep_.password.empty()) {
    if (ep_.user.empty()) {
      steps.push_back({"AUTH", ep_.password});
    } else {
      steps.push_back({"AUTH", ep_.user, ep_.password});
    }
  }
  if (ep_.db != 0) steps.push_back({"SELECT", std::to_string(ep_.db)});
  if (!ep_.client_name.empty()) steps.push_back({"CLIENT", "SETNAME", ep_.client_name});
  if (steps.empty()) steps.push_back({"PING"});
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const bool last = i + 1 == steps.size();
    const std::vector<std::string_view> argv(steps[i].begin(), steps[i].end());
    send(argv, [this, what = steps[i][0], last](const RedisValue* reply) { handshake_step(reply, what, last); });
  }
}

void RedisConnection::handshake_step(const RedisValue* reply, std::string_view what, bool last) {
  if (reply == nullptr || phase_ != Phase::Handshake) return;  // lost: already reported
  if (reply->is_error()) {
    lost(ac_, std::string(what) + " failed: " + reply->str, true);
    return;
  }
  if (!last) return;
  phase_ = Phase::Ready;
  rearm();
  if (on_up_) on_up_();
}

bool RedisConnection::send(std::span<const std::string_view> argv, ReplyHandler on_reply) {
  argv_scratch_.clear();
  argvlen_scratch_.clear();
  for (std::string_view a : argv) {
    argv_scratch_.push_back(a.data());
    argvlen_scratch_.push_back(a.size());
  }
  if (redisAsyncCommandArgv(ac_, &RedisConnection::on_reply_cb, nullptr, static_cast<int>(argv.size()),
                            argv_scratch_.data(), argvlen_scratch_.data()) != REDIS_OK) {
    return false;
  }
  pending_.push_back({std::move(on_reply), loop_.now_ms() + ep_.command_timeout_ms});
  if (pending() == 1) rearm();
  return true;
}

bool RedisConnection::command(std::span<const std::string_view> argv, ReplyHandler on_reply) {
  if (phase_ != Phase::Ready || argv.empty()) return false;
  return send(argv, std::move(on_reply));
}

bool RedisConnection::send_sub(std::string_view verb, std::string_view channel) {
  if (phase_ != Phase::Ready) return false;
  const char* argv[2] = {verb.data(), channel.data()};
  const std::size_t lens[2] = {verb.size(), channel.size()};
  if (redisAsyncCommandArgv(ac_, &RedisConnection::on_push_cb, nullptr, 2, argv, lens) != REDIS_OK) return false;
  confirmations_.push_back(loop_.now_ms() + ep_.command_timeout_ms);
  if (pending() == 1) rearm();
  return true;
}

bool RedisConnection::subscribe(std::string_view channel) { return send_sub("SUBSCRIBE", channel); }
bool RedisConnection::unsubscribe(std::string_view channel) { return send_sub("UNSUBSCRIBE", channel); }

void RedisConnection::lost(redisAsyncContext* ac, std::string reason, bool free_it) {
  if (ac == nullptr) return;
  ac->data = nullptr;
  if (ac_ == ac) ac_ = nullptr;
  phase_ = Phase::Idle;
  loop_.timers().cancel(timer_);
  confirmations_.clear();
  std::deque<Pending> pending;
  pending.swap(pending_);
  // Our own decision (timeout, handshake error): free it now, or, inside a hiredis
  // callback, once that returns. hiredis' decision: it frees the context itself.
  if (free_it) redisAsyncFree(ac);
  for (Pending& p : pending) p.handler(nullptr);
  if (on_down_) on_down_(reason);
}

void RedisConnection::on_deadline() {
  const std::uint64_t now = loop_.now_ms();
  if (phase_ == Phase::Connecting || phase_ == Phase::Handshake) {
    if (now >= connect_deadline_ms_) {
      lost(ac_, "connect timeout (" + std::to_string(ep_.connect_timeout_ms) + " ms)", true);
      return;
    }
  } else if (phase_ == Phase::Ready) {
    const bool late = (!pending_.empty() && now >= pending_.front().deadline_ms) ||
                      (!confirmations_.empty() && now >= confirmations_.front());
    if (late) {
      lost(ac_, "no reply within " + std::to_string(ep_.command_timeout_ms) + " ms", true);
      return;
    }
  }
  rearm();
}

void RedisConnection::rearm() noexcept {
  std::uint64_t due = 0;
  if (phase_ == Phase::Connecting || phase_ == Phase::Handshake) {
    due = connect_deadline_ms_;
  } else if (phase_ == Phase::Ready) {
    if (!pending_.empty()) due = pending_.front().deadline_ms;
    if (!confirmations_.empty() && (due == 0 || confirmations_.front() < due)) due = confirmations_.front();
  }
  if (due == 0) {
    loop_.timers().cancel(timer_);
    return;
  }
  const std::uint64_t now = loop_.now_ms();
  loop_.timers().arm(timer_, now, due > now ? due - now : 0);
}

}  // namespace wirehub::backplane
