#include "wirehub/server.hpp"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "backplane/backplane.hpp"
#include "backplane/redis_backplane.hpp"
#include "core/log.hpp"
#include "http/deferred_table.hpp"
#include "http/http_connection.hpp"
#include "hubhost/hub_endpoint.hpp"
#include "loop/event_loop.hpp"
#include "loop/lag_probe.hpp"
#include "net/address.hpp"
#include "net/listener.hpp"
#include "net/tls_context.hpp"
#include "server/server_metrics.hpp"
#include "sse/sse_endpoint.hpp"
#include "ws/ws_endpoint.hpp"

namespace wirehub {

std::optional<std::string_view> HttpRequest::header(std::string_view name) const {
  return static_cast<const http::RequestHead*>(impl_)->header(name);
}

std::optional<std::string> HttpRequest::query_param(std::string_view key) const {
  return http::query_param(query, key);
}

std::optional<std::string_view> HttpRequest::param(std::string_view name) const {
  if (!params_) return std::nullopt;
  return static_cast<const http::RouteParams*>(params_)->get(name);
}

namespace {

HttpRequest request_of(http::HttpConnection& c, const http::RequestHead& head, std::string_view body) {
  HttpRequest req;
  req.method = head.method_text;
  req.path = head.path;
  req.query = head.query;
  req.body = body;
  req.impl_ = &head;
  req.params_ = &c.params();  // matched once, by the connection
  return req;
}

std::vector<http::Header> header_views(const HttpResponse& res) {
  std::vector<http::Header> extra;
  extra.reserve(res.headers.size());
  for (const auto& [k, v] : res.headers) extra.push_back({k, v});
  return extra;
}

void log_handler_failure(const http::RequestHead& head, const std::exception& e) {
  log::error("handler for {} failed: {}", head.path, e.what());
}

constexpr std::string_view kText = "text/plain; charset=utf-8";

// Where deferred answers go: each loop's table of waiting requests. Shared by every
// HttpResponder, so an answer given after the Server is gone finds `open` false instead
// of a destroyed loop.
struct DeferredHub : std::enable_shared_from_this<DeferredHub> {
  std::vector<loop::EventLoop*> loops;
  std::vector<std::unique_ptr<http::DeferredTable>> tables;  // [loop]
  std::mutex mu;
  bool open = true;  // guarded by mu; false once the loops have stopped
  std::atomic<std::uint64_t> dropped_closed{0};  // answers given after the loops stopped

  // Loop thread of li: hands the answer to the request waiting under key, if any.
  void deliver(std::size_t li, std::uint64_t key, const HttpResponse& res) {
    http::DeferredTable& t = *tables[li];
    http::HttpConnection* c = t.find(key);
    if (!c) {
      t.dropped.add();
      return;
    }
    const auto extra = header_views(res);
    c->answer_deferred(key, res.status, res.content_type, res.body, extra);
  }

  void answer(std::size_t li, std::uint64_t key, HttpResponse res) {
    {
      std::lock_guard lock(mu);
      if (!open) {  // the loops may be destroyed: touch none of them
        dropped_closed.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      loop::EventLoop* l = loops[li];
      if (!l->in_loop_thread()) {
        l->post([self = shared_from_this(), li, key, r = std::move(res)] { self->deliver(li, key, r); });
        return;
      }
    }
    // On the loop thread, outside the lock: the answer may run the next pipelined
    // request's handler, which may answer in turn.
    deliver(li, key, res);
  }
};

}  // namespace

struct HttpResponder::State {
  std::shared_ptr<DeferredHub> hub;
  std::size_t loop = 0;
  std::uint64_t key = 0;
  std::atomic<bool> answered{false};
};

HttpResponder::HttpResponder(std::unique_ptr<State> state) noexcept : state_(std::move(state)) {}
HttpResponder::HttpResponder(HttpResponder&&) noexcept = default;

HttpResponder& HttpResponder::operator=(HttpResponder&& o) noexcept {
  if (this != &o) {
    HttpResponder old(std::move(*this));
    state_ = std::move(o.state_);
  }
  return *this;
}

HttpResponder::~HttpResponder() {
  if (!*this) return;
  log::error("a deferred HTTP response was never given; answering 500");
  HttpResponse res;
  res.status = 500;
  res.body = "internal server error\n";
  respond(std::move(res));
}

HttpResponder::operator bool() const noexcept { return state_ && !state_->answered.load(std::memory_order_acquire); }

void HttpResponder::respond(HttpResponse res) {
  if (!state_ || state_->answered.exchange(true, std::memory_order_acq_rel)) return;
  state_->hub->answer(state_->loop, state_->key, std::move(res));
}

namespace {

// Watches one loop during shutdown: stops it once its last connection is gone, or
// drops what is left at the deadline.
class ShutdownWatch final : public loop::Timer {
 public:
  ShutdownWatch(loop::EventLoop& loop, std::uint64_t deadline_ms) : loop_(loop), deadline_ms_(deadline_ms) {}
  void check() {
    if (net::Connection::count_on_this_thread() == 0) {
      loop_.stop();
      return;
    }
    if (loop_.now_ms() >= deadline_ms_) {
      if (!forced_) {
        forced_ = true;
        log::warn("shutdown deadline passed; dropping {} connection(s)", net::Connection::count_on_this_thread());
        net::Connection::for_each_on_this_thread([](net::Connection& c) { c.close_now(); });
      }
    }
    loop_.timers().arm(*this, loop_.now_ms(), 10);
  }

 private:
  void on_timer() override { check(); }
  loop::EventLoop& loop_;
  std::uint64_t deadline_ms_;
  bool forced_ = false;
};

}  // namespace

// Carries one endpoint's broadcasts and publishes over the backplane. Its channels are
// "<kind> <path>" for broadcasts and "<kind> <path> <topic>" for a topic (a path has no
// space), so a node can tell from a channel which endpoint and topic a message is for.
class BackplaneRelay final : public fanout::Relay {
 public:
  // limits: the endpoint's topic history (numbered topics only).
  BackplaneRelay(backplane::Backplane& bp, std::string prefix, backplane::HistoryLimits limits = {})
      : bp_(bp), prefix_(std::move(prefix)), limits_(limits) {}
  void send(std::string_view topic, std::string_view payload) override { bp_.publish(channel(topic), payload); }
  void watch(std::string_view topic, std::function<void()> on_active) override {
    bp_.subscribe(channel(topic), std::move(on_active));
  }
  void unwatch(std::string_view topic) override { bp_.unsubscribe(channel(topic)); }
  bool up() const override { return bp_.stats().state == backplane::State::Up; }
  bool send_numbered(std::string_view topic, std::string_view payload) override {
    if (bp_.publish_sequenced(channel(topic), payload, limits_) != backplane::PublishResult::Refused) return true;
    log::warn("backplane: a message for topic '{}' of {} was refused (the buffer is full)", topic, prefix_);
    return false;
  }
  void read_history(std::string_view topic, std::uint64_t after, std::function<void(History)> done) override {
    bp_.fetch_history(channel(topic), after, limits_.max_messages, limits_,
                      [done = std::move(done)](backplane::HistoryRange r) {
                        done(History{.ok = r.ok,
                                     .error = std::move(r.error),
                                     .epoch = r.epoch,
                                     .first = r.first,
                                     .last = r.last,
                                     .messages = std::move(r.messages)});
                      });
  }
  const std::string& prefix() const noexcept { return prefix_; }

 private:
  std::string channel(std::string_view topic) const {
    std::string c = prefix_;
    if (!topic.empty()) c.append(1, ' ').append(topic);
    return c;
  }
  backplane::Backplane& bp_;
  const std::string prefix_;
  const backplane::HistoryLimits limits_;
};

struct Server::Impl {
  ServerOptions options;
  // Declared before the endpoints, so destroyed after them: sessions closing in an
  // endpoint's destructor may still tell their relay that a topic lost its last member.
  std::unique_ptr<backplane::Backplane> backplane;
  std::vector<std::unique_ptr<BackplaneRelay>> relays;
  // Where a backplane message goes, by the "<kind> <path>" part of its channel; filled
  // before the backplane starts, read-only afterwards.
  struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view k) const noexcept { return std::hash<std::string_view>{}(k); }
  };
  struct Relayed {
    std::function<void(std::string_view topic, std::string_view payload)> plain;
    // Numbered messages of an endpoint with topic history; null for the others.
    std::function<void(std::string_view topic, fanout::HistoryPosition p, std::string_view payload)> numbered;
  };
  std::unordered_map<std::string, Relayed, KeyHash, std::equal_to<>> relayed;
  std::atomic<std::uint64_t> relayed_unknown{0};  // channels no endpoint of this node has

  // Creates the backplane of options.backplane and joins every endpoint to it.
  void start_backplane();
  void deliver_relayed(std::string_view channel, std::string_view payload);
  void deliver_numbered(std::string_view channel, fanout::HistoryPosition p, std::string_view payload);
  // The endpoint entry and topic a channel names; nullptr (counted) when none.
  const Relayed* route_of(std::string_view channel, std::string_view& topic);
  http::HttpOptions http_options;
  std::vector<std::unique_ptr<loop::EventLoop>> loops;
  std::vector<std::unique_ptr<loop::LagProbe>> lag_probes;  // one per loop, for metrics
  std::vector<std::unique_ptr<http::HttpStats>> http_stats;  // one per loop
  std::vector<std::vector<std::unique_ptr<net::Listener>>> listeners;  // [loop][listener]
  std::unique_ptr<net::TlsContext> tls;  // of the TLS listeners (null: none)
  std::vector<std::unique_ptr<ShutdownWatch>> watches;
  std::vector<std::thread> threads;
  http::Router<http::Route> routes;
  std::vector<std::unique_ptr<ws::Endpoint>> endpoints;
  std::vector<std::unique_ptr<sse::Endpoint>> sse_endpoints;
  std::vector<std::unique_ptr<hubhost::Endpoint>> hubs;
  std::shared_ptr<DeferredHub> deferred = std::make_shared<DeferredHub>();
  std::uint64_t max_route_body = 0;  // the largest per-route body limit
  net::ListenerStats accept_stats;
  std::vector<ListenerOptions> bound;  // every listener, as bound (port filled in)
  std::vector<std::uint16_t> ports;    // of bound
  bool started = false;
  std::mutex shutdown_mu;
  bool shut_down = false;

  // The routes of a hub (or of a raw connection handler) at path.
  hubhost::Endpoint& mount_hub(std::string path, HubOptions options, std::optional<RawConnectionHandlers> raw);

  std::vector<loop::EventLoop*> loop_ptrs() const {
    std::vector<loop::EventLoop*> v;
    for (const auto& l : loops) v.push_back(l.get());
    return v;
  }
};

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.options = std::move(options);
  unsigned n = s.options.threads ? s.options.threads : std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < n; ++i) {
    s.loops.push_back(std::make_unique<loop::EventLoop>());
    s.loops.back()->set_index(i);
    s.http_stats.push_back(std::make_unique<http::HttpStats>());
    s.lag_probes.push_back(std::make_unique<loop::LagProbe>(*s.loops.back()));
    s.deferred->loops.push_back(s.loops.back().get());
    s.deferred->tables.push_back(std::make_unique<http::DeferredTable>());
  }
  s.http_options.limits.max_head_bytes = s.options.max_head_bytes;
  s.http_options.limits.max_headers = s.options.max_headers;
  s.http_options.header_timeout_ms = s.options.header_timeout_ms;
  s.http_options.keep_alive_timeout_ms = s.options.keep_alive_timeout_ms;
  s.http_options.handler_timeout_ms = s.options.handler_timeout_ms;
}

Server::~Server() { shutdown(); }

unsigned Server::thread_count() const noexcept { return static_cast<unsigned>(impl_->loops.size()); }

namespace {

// A route that hands the connection to an endpoint at the end of the head.
template <class Endpoint>
http::Route upgrade_route(Endpoint* ep) {
  http::Route r;
  r.upgrade = [ep](http::HttpConnection& c, const http::RequestHead& h, char* rest, std::size_t n) {
    ep->upgrade(c, h, rest, n);
  };
  return r;
}

}  // namespace

WebSocketEndpoint& Server::websocket(std::string path, WebSocketHandlers handlers, WebSocketOptions options) {
  Impl& s = *impl_;
  if (s.started) throw std::logic_error("wirehub::Server::websocket() after start()");
  auto ep = std::make_unique<ws::Endpoint>(path, std::move(handlers), std::move(options), s.loop_ptrs());
  ws::Endpoint* raw = ep.get();
  s.endpoints.push_back(std::move(ep));
  s.routes.add(http::Method::Get, path, upgrade_route(raw));
  return *raw;
}

SseEndpoint& Server::sse(std::string path, SseHandlers handlers, SseOptions options) {
  Impl& s = *impl_;
  if (s.started) throw std::logic_error("wirehub::Server::sse() after start()");
  auto ep = std::make_unique<sse::Endpoint>(path, std::move(handlers), std::move(options), s.loop_ptrs(),
                                            s.http_options.linger_ms);
  sse::Endpoint* raw = ep.get();
  s.sse_endpoints.push_back(std::move(ep));
  s.routes.add(http::Method::Get, path, upgrade_route(raw));
  return *raw;
}

namespace {

http::Route route_with(std::uint64_t max_body_bytes, http::Route::Handler handler) {
  http::Route r;
  r.max_body_bytes = max_body_bytes;
  r.handler = std::move(handler);
  return r;
}

}  // namespace

Hub& Server::hub(std::string path, HubOptions options) {
  if (impl_->started) throw std::logic_error("wirehub::Server::hub() after start()");
  return impl_->mount_hub(std::move(path), std::move(options), std::nullopt);
}

void Server::connections(std::string path, RawConnectionHandlers handlers, HubOptions options) {
  if (impl_->started) throw std::logic_error("wirehub::Server::connections() after start()");
  impl_->mount_hub(std::move(path), std::move(options), std::move(handlers));
}

hubhost::Endpoint& Server::Impl::mount_hub(std::string path, HubOptions hub_options,
                                           std::optional<RawConnectionHandlers> raw) {
  Impl& s = *this;
  if (path.empty() || path[0] != '/') throw std::invalid_argument("hub path must start with '/': " + path);
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  std::vector<http::DeferredTable*> tables;
  for (auto& t : s.deferred->tables) tables.push_back(t.get());
  const std::uint64_t body_limit = std::max<std::uint64_t>(1 << 20, 4 * std::uint64_t{hub_options.max_message_bytes});
  auto ep = std::make_unique<hubhost::Endpoint>(path, std::move(hub_options), s.loop_ptrs(), std::move(tables),
                                                s.http_options.linger_ms, std::move(raw));
  hubhost::Endpoint* h = ep.get();
  s.hubs.push_back(std::move(ep));
  http::Route get;
  get.upgrade = [h](http::HttpConnection& c, const http::RequestHead& head, char* rest, std::size_t n) {
    h->handle_get_upgrade(c, head, rest, n);
  };
  get.upgrade_if = &hubhost::Endpoint::wants_upgrade;
  get.handler = [h](http::HttpConnection& c, const http::RequestHead& head, std::string_view) { h->handle_poll(c, head); };
  s.routes.add(http::Method::Get, path, std::move(get), /*ignore_case=*/true);
  s.routes.add(http::Method::Post, path,
               route_with(body_limit, [h](http::HttpConnection& c, const http::RequestHead& head,
                                          std::string_view body) { h->handle_post(c, head, body); }),
               true);
  s.routes.add(http::Method::Delete, path,
               route_with(0, [h](http::HttpConnection& c, const http::RequestHead& head, std::string_view) {
                 h->handle_delete(c, head);
               }),
               true);
  auto preflight = [h](http::HttpConnection& c, const http::RequestHead& head, std::string_view) {
    h->handle_preflight(c, head);
  };
  s.routes.add(http::Method::Options, path, route_with(0, preflight), true);
  const std::string negotiate = (path == "/" ? std::string() : path) + "/negotiate";
  s.routes.add(http::Method::Post, negotiate,
               route_with(0, [h](http::HttpConnection& c, const http::RequestHead& head, std::string_view) {
                 h->handle_negotiate(c, head);
               }),
               true);
  s.routes.add(http::Method::Options, negotiate, route_with(0, preflight), true);
  s.max_route_body = std::max(s.max_route_body, body_limit);
  return *h;
}


void Server::route(std::string_view method, std::string path, HttpHandler handler, RouteOptions options) {
  Impl& s = *impl_;
  if (s.started) throw std::logic_error("wirehub::Server::route() after start()");
  http::Method m = http::method_from_text(method);
  if (m == http::Method::Other) throw std::invalid_argument("unsupported method: " + std::string(method));
  const std::uint64_t limit = options.max_body_bytes.value_or(s.options.max_body_bytes);
  s.routes.add(m, path, route_with(limit, [h = std::move(handler)](http::HttpConnection& c,
                                                                  const http::RequestHead& head,
                                                                  std::string_view body) {
    HttpRequest req = request_of(c, head, body);
    HttpResponse res;
    try {
      h(req, res);
    } catch (const std::exception& e) {
      log_handler_failure(head, e);
      res = HttpResponse{};
      res.status = 500;
      res.body = "internal server error\n";
    }
    const auto extra = header_views(res);
    c.respond(res.status, res.content_type, res.body, extra);
  }));
  s.max_route_body = std::max(s.max_route_body, limit);
}

void Server::route_async(std::string_view method, std::string path, AsyncHttpHandler handler,
                         RouteOptions options) {
  Impl& s = *impl_;
  if (s.started) throw std::logic_error("wirehub::Server::route_async() after start()");
  http::Method m = http::method_from_text(method);
  if (m == http::Method::Other) throw std::invalid_argument("unsupported method: " + std::string(method));
  const std::uint64_t limit = options.max_body_bytes.value_or(s.options.max_body_bytes);
  s.routes.add(m, path, route_with(limit, [h = std::move(handler), hub = s.deferred](http::HttpConnection& c,
                                                                                   const http::RequestHead& head,
                                                                                   std::string_view body) {
    HttpRequest req = request_of(c, head, body);
    auto state = std::make_unique<HttpResponder::State>();
    state->hub = hub;
    state->loop = c.loop().index();
    state->key = c.defer_response();
    const std::uint64_t key = state->key;
    try {
      h(req, HttpResponder(std::move(state)));
    } catch (const std::exception& e) {
      log_handler_failure(head, e);
      // Unless the responder already answered (or was destroyed, answering 500), answer
      // 500 here; a responder kept elsewhere then finds the request gone.
      c.answer_deferred(key, 500, kText, "internal server error\n");
    }
  }));
  s.max_route_body = std::max(s.max_route_body, limit);
}

namespace {
std::unique_ptr<backplane::Backplane> make_backplane(std::string_view url) {
  constexpr std::string_view kMemory = "memory://";
  if (url.starts_with(kMemory)) {
    if (url.size() == kMemory.size()) throw std::invalid_argument("backplane: memory:// needs a bus name (memory://NAME)");
    return backplane::make_memory_backplane(url.substr(kMemory.size()));
  }
  if (url.starts_with("redis://") || url.starts_with("rediss://")) {
    backplane::RedisUrl parsed = backplane::parse_redis_url(url);
    if (!parsed.error.empty()) throw std::invalid_argument("backplane: " + parsed.error);
    return backplane::make_redis_backplane(std::move(parsed.options));
  }
  throw std::invalid_argument("backplane: unsupported URL '" + std::string(url) +
                              "' (expected redis://host:port or memory://NAME)");
}
}  // namespace

void Server::Impl::start_backplane() {
  backplane = make_backplane(options.backplane);
  auto join = [this](std::string prefix, auto* ep) {
    relays.push_back(std::make_unique<BackplaneRelay>(*backplane, prefix));
    relayed.emplace(std::move(prefix),
                    Relayed{[ep](std::string_view topic, std::string_view m) { ep->deliver_relayed(topic, m); }, {}});
  };
  // An endpoint with topic history: its relay numbers through the backplane.
  auto join_numbered = [this](std::string prefix, auto* ep) {
    const TopicHistoryOptions& h = ep->options().history;
    relays.push_back(std::make_unique<BackplaneRelay>(*backplane, prefix,
                                                      backplane::HistoryLimits{h.max_messages, h.max_age_ms}));
    relayed.emplace(std::move(prefix),
                    Relayed{[ep](std::string_view topic, std::string_view m) { ep->deliver_relayed(topic, m); },
                            [ep](std::string_view topic, fanout::HistoryPosition p, std::string_view m) {
                              ep->deliver_numbered(topic, p, m);
                            }});
  };
  std::vector<std::pair<BackplaneRelay*, ws::Endpoint*>> ws_joined;
  std::vector<std::pair<BackplaneRelay*, sse::Endpoint*>> sse_joined;
  for (auto& ep : endpoints) {
    if (!ep->options().across_nodes) continue;
    if (ep->options().history.max_messages > 0) {
      join_numbered("ws " + ep->path(), ep.get());
    } else {
      join("ws " + ep->path(), ep.get());
    }
    ws_joined.emplace_back(relays.back().get(), ep.get());
  }
  for (auto& ep : sse_endpoints) {
    if (!ep->options().across_nodes) continue;
    if (ep->options().history.max_messages > 0) {
      join_numbered("sse " + ep->path(), ep.get());
    } else {
      join("sse " + ep->path(), ep.get());
    }
    sse_joined.emplace_back(relays.back().get(), ep.get());
  }
  backplane->set_handlers([this](std::string_view channel, std::string_view m) { deliver_relayed(channel, m); },
                          [kind = std::string(backplane->kind())](backplane::State st) {
                            if (st == backplane::State::Up) {
                              log::info("backplane ({}) up", kind);
                            } else {
                              log::warn("backplane ({}) down: publishes for other nodes are buffered", kind);
                            }
                          });
  backplane->set_sequenced_handler(
      [this](std::string_view channel, std::uint64_t epoch, std::uint64_t seq, std::string_view m) {
        deliver_numbered(channel, {epoch, seq}, m);
      });
  // The endpoints take their relays only now, with the backplane's handlers set: watching
  // a topic subscribes at once.
  std::vector<std::pair<BackplaneRelay*, hubhost::Endpoint*>> hubs_joined;
  for (auto& h : hubs) {
    if (h->raw() || !h->options().across_nodes) continue;  // a raw handler has no hub sends
    join("hub " + h->path(), h.get());
    hubs_joined.emplace_back(relays.back().get(), h.get());
  }
  for (auto [relay, h] : hubs_joined) h->set_relay(relay);
  for (auto [relay, ep] : ws_joined) ep->set_relay(relay);
  for (auto [relay, ep] : sse_joined) ep->set_relay(relay);
  backplane->start();
}

const Server::Impl::Relayed* Server::Impl::route_of(std::string_view channel, std::string_view& topic) {
  const std::size_t kind_end = channel.find(' ');
  const std::size_t path_end = kind_end == std::string_view::npos ? kind_end : channel.find(' ', kind_end + 1);
  const std::string_view key = channel.substr(0, path_end);
  topic = path_end == std::string_view::npos ? std::string_view{} : channel.substr(path_end + 1);
  auto it = relayed.find(key);  // no allocation per message
  // Another node may run other endpoints (a rolling upgrade); a topic channel never ends
  // in an empty topic.
  if (kind_end == std::string_view::npos || it == relayed.end() || (path_end != std::string_view::npos && topic.empty())) {
    relayed_unknown.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  return &it->second;
}

void Server::Impl::deliver_relayed(std::string_view channel, std::string_view payload) {
  std::string_view topic;
  if (const Relayed* r = route_of(channel, topic)) r->plain(topic, payload);
}

void Server::Impl::deliver_numbered(std::string_view channel, fanout::HistoryPosition p, std::string_view payload) {
  std::string_view topic;
  const Relayed* r = route_of(channel, topic);
  if (r == nullptr) return;
  if (!r->numbered || topic.empty()) {  // another node numbers a topic this one does not
    relayed_unknown.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  r->numbered(topic, p, payload);
}

void Server::start() {
  Impl& s = *impl_;
  if (s.started) return;
  // spdlog's default logger is made on its first use; make it here, before the loops and
  // the backplane thread log, so that its creation is not raced (ThreadSanitizer cannot
  // see the guard of that static inside the spdlog library and reported it).
  spdlog::default_logger_raw();
  // The parser rejects bodies over the largest route limit; each route checks its own.
  s.http_options.limits.max_body_bytes = std::max(s.options.max_body_bytes, s.max_route_body);
  std::vector<ListenerOptions> wanted;
  if (!s.options.listen.empty()) wanted.push_back({s.options.listen, false});
  wanted.insert(wanted.end(), s.options.extra_listeners.begin(), s.options.extra_listeners.end());
  if (wanted.empty()) throw std::invalid_argument("no address to listen on");
  // Every address is checked, and the certificates loaded, before anything is bound.
  std::vector<net::Address> addrs;
  for (const ListenerOptions& lo : wanted) {
    std::string err;
    auto addr = net::parse_address(lo.listen, &err);
    if (!addr) throw std::invalid_argument(err);  // a bad value, not a failure to bind
    addrs.push_back(std::move(*addr));
  }
  const bool any_tls = std::any_of(wanted.begin(), wanted.end(), [](const ListenerOptions& lo) { return lo.tls; });
  if (any_tls) {
    if (s.options.tls.cert_file.empty() || s.options.tls.key_file.empty())
      throw std::invalid_argument("a TLS listener needs a certificate and its key (tls.cert_file, tls.key_file)");
    std::vector<net::TlsCertificate> extra;
    for (const TlsCertificate& c : s.options.tls.sni) extra.push_back({c.cert_file, c.key_file});
    s.tls = net::TlsContext::server({s.options.tls.cert_file, s.options.tls.key_file}, extra);
  }

  s.listeners.resize(s.loops.size());
  for (std::size_t k = 0; k < addrs.size(); ++k) {
    net::Address& addr = addrs[k];
    const net::TlsContext* tls = wanted[k].tls ? s.tls.get() : nullptr;
    for (std::size_t i = 0; i < s.loops.size(); ++i) {
      int fd = net::listen_socket(addr);
      if (i == 0 && addr.port == 0) {
        // Every loop's listener must share the port the kernel picked for the first.
        addr.port = net::local_port(fd);
        if (addr.storage.ss_family == AF_INET)
          reinterpret_cast<sockaddr_in*>(&addr.storage)->sin_port = htons(addr.port);
        else
          reinterpret_cast<sockaddr_in6*>(&addr.storage)->sin6_port = htons(addr.port);
      }
      loop::EventLoop* l = s.loops[i].get();
      http::HttpStats* stats = s.http_stats[i].get();
      Impl* impl = &s;
      http::DeferredTable* deferred = s.deferred->tables[i].get();
      s.listeners[i].push_back(std::make_unique<net::Listener>(
          *l, fd,
          [l, impl, stats, tls, deferred](int cfd) {
            auto* c = new http::HttpConnection(*l, cfd, impl->routes, impl->http_options, *stats, deferred);
            if (tls) c->start_tls(*tls);
          },
          s.accept_stats));
    }
    s.bound.push_back({addr.host + ":" + std::to_string(addr.port), wanted[k].tls});
    s.ports.push_back(addr.port);
  }
  // Before the loops run, so no session can subscribe to a topic before its endpoint has
  // its relay.
  if (!s.options.backplane.empty()) s.start_backplane();
  s.started = true;
  // Loop threads inherit the signal mask: block SIGINT/SIGTERM while creating them so
  // they never take those signals, then give the caller its own mask back.
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, &old);
  for (auto& l : s.loops) {
    s.threads.emplace_back([loop = l.get()] {
      loop->run();
      // Whatever is still open when the loop stops is closed here, on its own thread.
      net::Connection::for_each_on_this_thread([](net::Connection& c) { delete &c; });
    });
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  // Until a loop runs, no thread is its loop thread, and calls that route by thread
  // (broadcast, send_to) would post to it; returning only once all run keeps the
  // documented "after start()" behaviour exact.
  for (auto& l : s.loops) {
    while (!l->running()) std::this_thread::yield();
  }
  for (std::size_t i = 0; i < s.loops.size(); ++i) {
    s.loops[i]->post([&s, i] {
      s.lag_probes[i]->start();
      for (auto& h : s.hubs) h->start_on_loop(i);
    });
  }
  for (const ListenerOptions& b : s.bound) {
    log::info("listening on {} ({}) with {} loop(s)", b.listen, b.tls ? "TLS" : "plain", s.loops.size());
  }
}

std::uint16_t Server::port() const noexcept {
  for (std::size_t k = 0; k < impl_->bound.size(); ++k) {
    if (!impl_->bound[k].tls) return impl_->ports[k];
  }
  return 0;
}

std::uint16_t Server::tls_port() const noexcept {
  for (std::size_t k = 0; k < impl_->bound.size(); ++k) {
    if (impl_->bound[k].tls) return impl_->ports[k];
  }
  return 0;
}

std::vector<std::uint16_t> Server::ports() const { return impl_->ports; }

void Server::shutdown() {
  Impl& s = *impl_;
  {
    std::lock_guard lock(s.shutdown_mu);
    if (s.shut_down || !s.started) {
      s.shut_down = true;
      return;
    }
    s.shut_down = true;
  }
  std::uint64_t deadline = loop::EventLoop::clock_ms() + s.options.shutdown_timeout_ms;
  for (std::size_t i = 0; i < s.loops.size(); ++i) {
    s.watches.push_back(std::make_unique<ShutdownWatch>(*s.loops[i], deadline));
  }
  for (std::size_t i = 0; i < s.loops.size(); ++i) {
    loop::EventLoop* l = s.loops[i].get();
    l->post([&s, i] {
      for (auto& listener : s.listeners[i]) listener->close();
      // Hub clients get Close with allowReconnect first, then their sockets close.
      for (auto& h : s.hubs) h->shutdown_on_loop();
      for (auto& ep : s.endpoints) ep->close_all_on_this_loop(1001, "server shutting down");
      for (auto& ep : s.sse_endpoints) ep->close_all_on_this_loop();
      // Plain HTTP connections: finish what is queued (and awaited), then close.
      net::Connection::for_each_on_this_thread([](net::Connection& c) {
        if (auto* h = dynamic_cast<http::HttpConnection*>(&c)) h->close_when_answered();
      });
      s.watches[i]->check();
    });
  }
  for (auto& t : s.threads) t.join();
  s.threads.clear();
  // No handler runs once stop() returns; the loops, which may still get posted tasks,
  // run none any more.
  if (s.backplane) s.backplane->stop();
  {
    std::lock_guard lock(s.deferred->mu);
    s.deferred->open = false;  // the loops run no more tasks: later answers are dropped
  }
  s.listeners.clear();
  log::info("shut down");
}

void Server::run_until_signal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  // Blocked before start() (when it has not run yet), so a signal that arrives as soon as
  // the listeners accept is waited for here instead of killing the process.
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  start();
  int sig = 0;
  sigwait(&set, &sig);
  log::info("received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
  shutdown();
}

BackplaneStatus Server::backplane_status() const {
  BackplaneStatus b;
  const Impl& s = *impl_;
  if (!s.backplane) return b;
  const backplane::Stats st = s.backplane->stats();
  b.kind = s.backplane->kind();
  b.up = st.state == backplane::State::Up;
  b.published = st.published;
  b.refused = st.refused;
  b.delivered = st.delivered;
  b.duplicates = st.duplicates;
  b.buffered = st.buffered;
  b.buffered_bytes = st.buffered_bytes;
  b.reconnects = st.reconnects;
  b.channels = st.channels;
  b.peers = st.peers;
  b.flush_waits = st.flush_waits;
  b.peers_missed = st.peers_missed;
  b.malformed = s.relayed_unknown.load(std::memory_order_relaxed);
  for (const auto& h : s.hubs) b.malformed += h->relay_malformed();
  for (const auto& ep : s.endpoints) b.malformed += ep->relay_malformed();
  for (const auto& ep : s.sse_endpoints) b.malformed += ep->relay_malformed();
  return b;
}

std::string Server::metrics_text() const {
  server_metrics::MetricsSources src;
  src.server = stats();
  src.loops = impl_->loops.size();
  for (const auto& p : impl_->lag_probes) src.lag.push_back(p.get());
  for (const auto& ep : impl_->endpoints) {
    src.websockets.push_back(ep.get());
    src.endpoints.push_back(server_metrics::websocket_metrics(*ep));
  }
  for (const auto& ep : impl_->sse_endpoints) {
    src.sses.push_back(ep.get());
    src.endpoints.push_back(server_metrics::sse_metrics(*ep));
  }
  for (const auto& h : impl_->hubs) {
    src.websockets.push_back(&h->websocket_endpoint());
    src.endpoints.push_back(server_metrics::websocket_metrics(h->websocket_endpoint()));
    // (Not among src.sses: its handshake rows would repeat the WebSocket's labels.)
    src.endpoints.push_back(server_metrics::sse_metrics(h->sse_endpoint()));
    src.hubs.push_back(h.get());
    src.endpoints.push_back(server_metrics::hub_metrics(*h));
  }
  src.backplane = backplane_status();
  std::string text;
  MetricsWriter w(text);
  server_metrics::write_metrics(w, src);
  return text;
}

bool Server::loops_responsive(std::uint32_t within_ms) const {
  const Impl& s = *impl_;
  {
    std::lock_guard lock(impl_->shutdown_mu);
    if (!s.started || s.shut_down) return false;
  }
  const std::uint64_t now = loop::EventLoop::clock_ms();
  for (const auto& p : s.lag_probes) {
    const std::uint64_t last = p->last_run_ms();
    if (last == 0 || now - std::min(now, last) > within_ms) return false;
  }
  return true;
}

ServerStats Server::stats() const {
  ServerStats st;
  st.accepted = impl_->accept_stats.accepted.load(std::memory_order_relaxed);
  st.accept_fd_exhausted = impl_->accept_stats.fd_exhausted.load(std::memory_order_relaxed);
  for (const auto& h : impl_->http_stats) {
    st.http_requests += h->requests.get();
    st.http_parse_errors += h->parse_errors.get();
    st.http_timeouts += h->timeouts.get();
  }
  for (const auto& t : impl_->deferred->tables) {
    st.deferred_dropped += t->dropped.get();
    st.deferred_timeouts += t->timed_out.get();
  }
  st.deferred_dropped += impl_->deferred->dropped_closed.load(std::memory_order_relaxed);
  return st;
}

}  // namespace wirehub
