#include "hubhost/hub_endpoint.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "core/log.hpp"
#include "sse/sse_stream.hpp"
#include "ws/ws_session.hpp"

namespace wirehub::hubhost {

namespace {

constexpr std::string_view kText = "text/plain; charset=utf-8";
constexpr std::string_view kJson = "application/json";
constexpr std::string_view kOctets = "application/octet-stream";

// The connection a transport request is about to attach: set around the WebSocket or SSE
// upgrade call, whose on_open runs inside it on this thread.
thread_local Connection* t_attaching = nullptr;

bool enabled(const HubOptions& o, Transport t) {
  switch (t) {
    case Transport::WebSockets: return o.websockets;
    case Transport::ServerSentEvents: return o.server_sent_events;
    case Transport::LongPolling: return o.long_polling;
  }
  return false;
}

std::int64_t unix_now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

WebSocketOptions websocket_options(const HubOptions& o) {
  WebSocketOptions w;
  // A WebSocket message may carry several hub messages: the hub limit applies to each of
  // them (and answers with a hub error), the WebSocket limit only stops abuse.
  w.max_message_bytes = std::max<std::uint64_t>(1 << 20, 4 * static_cast<std::uint64_t>(o.max_message_bytes));
  w.ping_interval_ms = 0;  // the hub sends Ping messages
  w.idle_timeout_ms = 0;   // and times clients out itself
  w.send_hard_limit = o.send_hard_limit;
  w.send_soft_limit = std::min(w.send_soft_limit, o.send_hard_limit);
  for (const auto& origin : o.allowed_origins) {
    if (origin != "*") w.allowed_origins.push_back(origin);
  }
  if (std::find(o.allowed_origins.begin(), o.allowed_origins.end(), "*") != o.allowed_origins.end())
    w.allowed_origins.clear();
  return w;
}

SseOptions sse_options(const HubOptions& o) {
  SseOptions s;
  s.retry_ms = 0;      // the client reconnects by its own rules, not EventSource's
  s.heartbeat_ms = 0;  // the hub sends Ping messages
  s.send_hard_limit = o.send_hard_limit;
  s.allowed_origins = websocket_options(o).allowed_origins;
  return s;
}

}  // namespace

// --- per loop --------------------------------------------------------------------------

class Endpoint::Ticker final : public loop::Timer {
 public:
  Ticker(Endpoint& ep, std::size_t li) : ep_(ep), li_(li) {}
  ~Ticker() override = default;
  void start() { ep_.loops_[li_]->timers().arm(*this, ep_.loops_[li_]->now_ms(), kPeriodMs); }
  void stop() { ep_.loops_[li_]->timers().cancel(*this); }

 private:
  static constexpr std::uint64_t kPeriodMs = 1000;
  void on_timer() override;
  Endpoint& ep_;
  std::size_t li_;
};

struct Endpoint::PerLoop {
  std::unordered_map<Connection*, std::shared_ptr<Connection>> conns;  // attached here
  // A group's members in a flat list, which a send walks: unordered (a member leaves by
  // taking the last one's place; Connection::groups knows each member's index).
  std::unordered_map<std::string, std::vector<Connection*>> groups;
  std::unordered_map<std::string, std::unordered_set<Connection*>> users;
  std::unique_ptr<Ticker> ticker;
  Counter open, opened, in, out, bytes_in, bytes_out, invocations, protocol_errors;
  // Sends in progress on this loop (a send can run a hook that sends again), each with its
  // copy of the receivers: a send may end a connection, which edits the member lists.
  // Connections that leave conns meanwhile are kept in `leaving` until the outermost send
  // is over, so the copies never point at a freed connection.
  std::size_t sending = 0;
  std::deque<std::vector<Connection*>> receivers;  // [depth]; a deque keeps them in place
  std::vector<std::shared_ptr<Connection>> leaving;
};

namespace {
// Removes the member at index from a loop's list of group g (the last member takes its place).
// True when that was its last member there (the group is gone from the loop).
bool remove_member(std::unordered_map<std::string, std::vector<Connection*>>& groups, const std::string& g,
                   std::size_t index) {
  auto it = groups.find(g);
  if (it == groups.end()) return false;
  std::vector<Connection*>& list = it->second;
  Connection* last = list.back();
  list[index] = last;
  last->groups.find(g)->second = index;
  list.pop_back();
  if (!list.empty()) return false;
  groups.erase(it);
  return true;
}
}  // namespace

void Endpoint::Ticker::on_timer() {
  const std::uint64_t now = ep_.loops_[li_]->now_ms();
  PerLoop& pl = *ep_.per_loop_[li_];
  std::vector<std::shared_ptr<Connection>> all;
  all.reserve(pl.conns.size());
  for (auto& [raw, c] : pl.conns) all.push_back(c);
  for (auto& c : all) c->tick(now);
  if (li_ == 0) {
    ep_.expire_remote_results(now);
    ep_.expire_forwarded(now);
    ep_.expire_group_changes(now);
    // Connections negotiated but never used by any transport (e.g. abandoned by a client
    // that fell back to another transport) belong to no loop: loop 0 ends them.
    std::vector<std::shared_ptr<Connection>> unused;
    {
      std::lock_guard lock(ep_.mu_);
      for (auto it = ep_.by_token_.begin(); it != ep_.by_token_.end();) {
        Connection& c = *it->second;
        if (c.owner < 0 && now - std::min(now, c.created_ms) >= ep_.options_.disconnect_timeout_ms) {
          c.disposed = true;
          ep_.by_id_.erase(c.connection_id());
          unused.push_back(std::move(it->second));
          it = ep_.by_token_.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto& c : unused) ep_.unwatch_connection(*c);
  }
  start();
}

// --- construction ------------------------------------------------------------------------

Endpoint::Endpoint(std::string path, HubOptions options, std::vector<loop::EventLoop*> loops,
                   std::vector<http::DeferredTable*> deferred, std::uint32_t linger_ms,
                   std::optional<RawConnectionHandlers> raw)
    : path_(std::move(path)),
      options_(std::move(options)),
      loops_(std::move(loops)),
      deferred_(std::move(deferred)),
      raw_(std::move(raw)) {
  if (raw_) {
    options_.messagepack = false;  // the bytes are the application's; negotiate lists Text and Binary
    options_.stateful_reconnect = false;
  }
  if (!options_.websockets && !options_.server_sent_events && !options_.long_polling)
    throw std::invalid_argument("hub " + path_ + ": no transport enabled");
  if (options_.jwt) auth_ = std::make_unique<ws::TokenAuth>(*options_.jwt);
  if (!options_.allowed_origins.empty()) {
    cors_any_ = std::find(options_.allowed_origins.begin(), options_.allowed_origins.end(), "*") !=
                options_.allowed_origins.end();
    cors_.emplace(websocket_options(options_).allowed_origins);  // throws for a malformed entry
  }
  // A WebSocket's link to its connection. On the owner loop the socket's events go
  // straight to the connection; a socket on another loop (a stateful reconnect that landed
  // there) posts them to the owner.
  struct WsLink {
    std::shared_ptr<Connection> conn;
    bool local;
  };
  WebSocketHandlers wh;
  wh.on_open = [this](WebSocket& ws) {
    Connection* c = t_attaching;
    if (!c) return;
    auto* link = new WsLink{c->shared_from_this(), loops_[static_cast<std::size_t>(c->owner)]->in_loop_thread()};
    ws.user_data = link;
    if (link->local) {
      c->attach_websocket(ws.id(), &ws);
      return;
    }
    on_owner(
        link->conn,
        [this, id = ws.id()](Connection& conn) {
          if (conn.is_disposed_here()) {
            ws_->post_to(id, [](WebSocket& w) { w.close(1000); });
          } else {
            conn.attach_websocket(id, nullptr);
          }
        },
        /*even_if_gone=*/true);
  };
  wh.on_message = [this](WebSocket& ws, std::string_view payload, bool binary) {
    auto* link = static_cast<WsLink*>(ws.user_data);
    if (!link) return;
    if (link->local) {
      link->conn->on_data(payload, binary);
    } else {
      on_owner(link->conn, [data = std::string(payload), binary](Connection& conn) { conn.on_data(data, binary); });
    }
  };
  wh.on_close = [this](WebSocket& ws, std::uint16_t code, std::string_view) {
    std::unique_ptr<WsLink> link(static_cast<WsLink*>(ws.user_data));
    ws.user_data = nullptr;
    if (!link) return;
    if (link->local) {
      link->conn->websocket_closed(ws.id(), code);
    } else {
      on_owner(link->conn, [id = ws.id(), code](Connection& conn) { conn.websocket_closed(id, code); });
    }
  };
  ws_ = std::make_unique<ws::Endpoint>(path_, std::move(wh), websocket_options(options_), loops_);
  SseHandlers sh;
  sh.on_open = [](SseStream& s, const HttpRequest&) {
    Connection* c = t_attaching;
    s.user_data = c;
    if (c) c->attach_sse(s);
  };
  sh.on_close = [](SseStream& s) {
    auto* c = static_cast<Connection*>(s.user_data);
    s.user_data = nullptr;
    if (c) c->sse_closed();
  };
  sse_ = std::make_unique<sse::Endpoint>(path_, std::move(sh), sse_options(options_), loops_, linger_ms);
  for (std::size_t i = 0; i < loops_.size(); ++i) {
    per_loop_.push_back(std::make_unique<PerLoop>());
    per_loop_.back()->ticker = std::make_unique<Ticker>(*this, i);
  }
}

Endpoint::~Endpoint() {
  {
    std::lock_guard lock(gate_->mu);
    gate_->open = false;  // replies and streams kept elsewhere now do nothing
  }
  // The loops have stopped (the server joined their threads): nothing runs concurrently.
  for (auto& pl : per_loop_) pl->ticker->stop();
  for (auto& pl : per_loop_) pl->conns.clear();
  by_token_.clear();
  by_id_.clear();
}

void Endpoint::start_on_loop(std::size_t li) { per_loop_[li]->ticker->start(); }

void Endpoint::shutdown_on_loop() {
  std::size_t li = 0;
  while (!loops_[li]->in_loop_thread()) ++li;
  std::vector<std::shared_ptr<Connection>> all;
  for (auto& [raw, c] : per_loop_[li]->conns) all.push_back(c);
  for (auto& c : all) c->close({}, true);
}

namespace {
char fold(char ch) noexcept { return ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch + 32) : ch; }
}  // namespace

std::size_t Endpoint::FoldedHash::operator()(std::string_view s) const noexcept {
  std::size_t h = 14695981039346656037ull;  // FNV-1a over the folded bytes
  for (char ch : s) h = (h ^ static_cast<unsigned char>(fold(ch))) * 1099511628211ull;
  return h;
}

bool Endpoint::FoldedEqual::operator()(std::string_view a, std::string_view b) const noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (fold(a[i]) != fold(b[i])) return false;
  }
  return true;
}

void Endpoint::add_method(std::string name, hub_detail::MethodInfo info) {
  if (name.empty()) throw std::invalid_argument("hub method name is empty");
  if (info.streaming && info.async)
    throw std::invalid_argument("hub method " + name + " takes both a HubReply and a HubStreamWriter");
  if (methods_.find(std::string_view(name)) != methods_.end())
    throw std::invalid_argument("hub method " + name + " is registered twice (names ignore case)");
  std::string key = name;
  methods_.emplace(std::move(key), Method{std::move(name), std::move(info)});
}

const Endpoint::Method* Endpoint::find_method(std::string_view name) const {
  auto it = methods_.find(name);
  return it == methods_.end() ? nullptr : &it->second;
}

// --- HTTP side ---------------------------------------------------------------------------

std::vector<http::Header> Endpoint::cors_headers(const http::RequestHead& head) const {
  return cors_for(head.header("Origin"));
}

std::vector<http::Header> Endpoint::negotiate_headers(std::optional<std::string_view> origin) const {
  auto h = cors_for(origin);
  for (const auto& [k, v] : options_.negotiate_headers) h.push_back({k, v});
  return h;
}

std::vector<http::Header> Endpoint::cors_for(std::optional<std::string_view> origin) const {
  std::vector<http::Header> h;
  if (!origin || !cors_) return h;
  if (!cors_any_ && (cors_->allows_any() || !cors_->allows(origin))) return h;
  h.push_back({"Access-Control-Allow-Origin", *origin});
  h.push_back({"Access-Control-Allow-Credentials", "true"});
  h.push_back({"Vary", "Origin"});
  return h;
}

void Endpoint::respond(http::HttpConnection& c, const http::RequestHead& head, int status, std::string_view type,
                       std::string_view body) {
  const auto h = cors_headers(head);
  c.respond(status, type, body, h);
}

void Endpoint::handle_preflight(http::HttpConnection& c, const http::RequestHead& head) {
  auto h = cors_headers(head);
  if (!h.empty()) {
    h.push_back({"Access-Control-Allow-Methods", "GET, POST, DELETE"});
    if (auto req = head.header("Access-Control-Request-Headers")) h.push_back({"Access-Control-Allow-Headers", *req});
    h.push_back({"Access-Control-Max-Age", "600"});
  }
  c.respond(204, "", "", h);
}

bool Endpoint::authorize(http::HttpConnection& c, const http::RequestHead& head, std::optional<Principal>& who,
                         bool negotiate) {
  if (!auth_) return true;
  auto v = auth_->check(head, unix_now_s());
  if (v.status == 0) {
    who = std::move(v.principal);
    return true;
  }
  auto h = cors_headers(head);
  h.push_back({"WWW-Authenticate", v.challenge});
  // SignalR clients show a refused negotiate as "<reason phrase>: Status code '401'" when
  // the body is empty; give them exactly that.
  c.respond(v.status, negotiate ? "" : kText, negotiate ? "" : std::string(v.reason) + "\n", h);
  return false;
}

std::shared_ptr<Connection> Endpoint::create(std::uint64_t now_ms, bool token_is_id) {
  std::string id = hub::random_id();
  std::string token = token_is_id ? id : (relay_ ? id + hub::random_id() : hub::random_id());
  auto c = std::make_shared<Connection>(*this, std::move(id), std::move(token), now_ms);
  std::lock_guard lock(mu_);
  by_token_.emplace(c->token(), c);
  by_id_.emplace(c->connection_id(), c);
  return c;
}

void Endpoint::handle_negotiate(http::HttpConnection& c, const http::RequestHead& head) {
  std::optional<Principal> who;
  if (!authorize(c, head, who, true)) return;
  auto parsed = hub::parse_negotiate_query(head.query);
  if (auto* refusal = std::get_if<std::string>(&parsed)) {
    respond(c, head, 200, kJson, hub::negotiate_error_body(*refusal));
    return;
  }
  const auto& req = std::get<hub::NegotiateRequest>(parsed);
  // Version 0 has no token: the client sends the connectionId as id= (ASP.NET then uses
  // the id as the token).
  auto conn = create(c.loop().now_ms(), req.version == 0);
  std::string user;
  if (who && options_.user_claim == "sub") {
    user = who->subject;
  } else if (who) {
    auto claims = Json::parse(who->claims_json, nullptr, false);
    if (claims.is_object() && claims.contains(options_.user_claim) && claims[options_.user_claim].is_string())
      user = claims[options_.user_claim].get<std::string>();
  }
  conn->set_principal(std::move(who), std::move(user));
  hub::NegotiateAnswer a;
  a.version = std::min(req.version, 1);
  a.connection_id = conn->connection_id();
  a.connection_token = conn->token();
  a.transports = (options_.websockets ? unsigned(Transport::WebSockets) : 0u) |
                 (options_.server_sent_events ? unsigned(Transport::ServerSentEvents) : 0u) |
                 (options_.long_polling ? unsigned(Transport::LongPolling) : 0u);
  a.binary_formats = options_.messagepack || raw_;
  a.stateful_reconnect = req.stateful_reconnect && options_.stateful_reconnect;
  {
    std::lock_guard lock(mu_);
    conn->stateful_offered = a.stateful_reconnect;
  }
  if (!relay_ || !relay_->up()) {
    if (relay_) watch_connection(*conn);
    c.respond(200, kJson, hub::negotiate_body(a), negotiate_headers(head.header("Origin")));
    return;
  }
  // Several nodes: the client's next request may reach any of them, which finds this node
  // through the connection's topic; answer once this node receives it.
  const std::uint64_t key = c.defer_response();
  const std::size_t li = c.loop().index();
  auto origin = head.header("Origin");
  watch_connection(*conn, [this, li, key, body = hub::negotiate_body(a),
                           o = origin ? std::optional<std::string>(*origin) : std::nullopt] {
    gate_->run_on(*loops_[li], [this, li, key, body, o] {
      http::HttpConnection* hc = deferred_[li]->find(key);
      if (!hc) return;
      hc->answer_deferred(key, 200, kJson, body, negotiate_headers(o));
    });
  });
}

Endpoint::Lookup Endpoint::lookup(const http::RequestHead& head) {
  auto id = http::query_param(head.query, "id");
  if (!id) return {nullptr, 400, "Connection ID required\n"};
  std::lock_guard lock(mu_);
  auto it = by_token_.find(*id);
  if (it == by_token_.end() || it->second->disposed) return {nullptr, 404, detail::kNoConnection};
  return {it->second, 0, {}};
}

std::shared_ptr<Connection> Endpoint::find_by_id(std::string_view connection_id) {
  std::lock_guard lock(mu_);
  auto it = by_id_.find(std::string(connection_id));
  if (it == by_id_.end() || it->second->disposed) return nullptr;
  return it->second;
}

bool Endpoint::wants_upgrade(const http::RequestHead& head) {
  if (head.upgrade) return true;
  auto accept = head.header("Accept");
  return accept && accept->find("text/event-stream") != std::string_view::npos;
}

void Endpoint::handle_get_upgrade(http::HttpConnection& c, const http::RequestHead& head, char* rest,
                                  std::size_t n) {
  std::optional<Principal> who;
  if (!authorize(c, head, who, false)) return;
  const Transport want = head.upgrade ? Transport::WebSockets : Transport::ServerSentEvents;
  if (!enabled(options_, want)) {
    respond(c, head, 404, kText, "transport not enabled on this hub\n");
    return;
  }
  std::shared_ptr<Connection> conn;
  if (!http::query_param(head.query, "id") && want == Transport::WebSockets) {
    // A client that skips negotiate: a new connection, WebSockets only.
    conn = create(c.loop().now_ms());
    std::string user = who ? who->subject : std::string();
    conn->set_principal(std::move(who), std::move(user));
    if (relay_) watch_connection(*conn);
  } else {
    Lookup l = lookup(head);
    if (!l.conn) {
      if (l.status == 404 && forward(c, head, ForwardKind::Upgrade, want)) return;
      respond(c, head, l.status, kText, l.body);
      return;
    }
    conn = std::move(l.conn);
  }
  bool first = false;
  if (Answer refused = claim_transport(*conn, want, c.loop().index(), first); refused.status) {
    respond(c, head, refused.status, kText, refused.body);
    return;
  }
  open_transport(c, head, rest, n, conn, want, first);
}

Endpoint::Answer Endpoint::claim_transport(Connection& conn, Transport want, std::size_t li, bool& first) {
  std::lock_guard lock(mu_);
  if (conn.disposed) return {404, detail::kNoConnection};
  if (conn.kind == Transport{}) {
    conn.kind = want;
    conn.owner = static_cast<int>(li);
    first = true;
  } else if (conn.kind != want) {
    return {400, "Cannot change transports mid-connection\n"};
  } else if (want == Transport::LongPolling) {
    return {};  // a later poll
  } else if (want == Transport::ServerSentEvents || !conn.stateful_offered) {
    // One socket per connection; only a stateful-reconnect client comes back with its
    // token (its old socket may not have been seen to drop yet: the new one replaces it).
    return {409, "Another connection is already using this transport\n"};
  }
  if (want != Transport::LongPolling) conn.socket_active = true;
  return {};
}

void Endpoint::open_transport(http::HttpConnection& c, const http::RequestHead& head, char* rest, std::size_t n,
                              const std::shared_ptr<Connection>& conn, Transport want, bool first) {
  if (first) conn->set_request(detail::copy_request(head));
  t_attaching = conn.get();
  if (want == Transport::WebSockets) {
    ws_->upgrade(c, head, rest, n);
  } else {
    sse_->upgrade(c, head, rest, n);
  }
  t_attaching = nullptr;
  if (!c.is_upgraded()) {
    // The upgrade itself was refused (a bad WebSocket handshake, a refused origin, a full
    // loop): the connection stays as it was.
    std::lock_guard lock(mu_);
    conn->socket_active = false;
    if (first) {
      conn->kind = Transport{};
      conn->owner = -1;
    }
  }
}

void Endpoint::handle_poll(http::HttpConnection& c, const http::RequestHead& head) {
  std::optional<Principal> who;
  if (!authorize(c, head, who, false)) return;
  if (!options_.long_polling) {
    respond(c, head, 404, kText, "transport not enabled on this hub\n");
    return;
  }
  Lookup l = lookup(head);
  if (!l.conn) {
    if (l.status == 404 && forward(c, head, ForwardKind::Poll, Transport::LongPolling)) return;
    respond(c, head, l.status, kText, l.body);
    return;
  }
  const std::size_t li = c.loop().index();
  bool first = false;
  if (Answer refused = claim_transport(*l.conn, Transport::LongPolling, li, first); refused.status) {
    respond(c, head, refused.status, kText, refused.body);
    return;
  }
  if (first) {
    // The first poll only establishes the transport, and is answered at once (the client
    // waits for it before it sends its handshake).
    l.conn->set_request(detail::copy_request(head));
    l.conn->poll({}, true);
    respond(c, head, 200, kOctets, "");
    return;
  }
  // Held until there is something to say; the hub's own tick answers an empty 200 after
  // long_poll_timeout_ms, so the request has no handler timeout of its own.
  hold_poll(l.conn, {li, c.defer_response(0), c.loop().now_ms(), {}, 0});
}

void Endpoint::hold_poll(const std::shared_ptr<Connection>& conn, detail::PollRef ref) {
  on_owner(
      conn,
      [this, ref = std::move(ref)](Connection& c) {
        if (c.is_disposed_here()) {
          answer_poll(ref, 404, "");
        } else {
          c.poll(ref, false);
        }
      },
      /*even_if_gone=*/true);
}

void Endpoint::handle_post(http::HttpConnection& c, const http::RequestHead& head, std::string_view body) {
  std::optional<Principal> who;
  if (!authorize(c, head, who, false)) return;
  Lookup l = lookup(head);
  if (!l.conn) {
    if (l.status == 404 && forward(c, head, ForwardKind::Post, Transport{}, body)) return;
    respond(c, head, l.status, kText, l.body);
    return;
  }
  Answer a = post_data(l.conn, body);
  respond(c, head, a.status, kText, a.body);
}

Endpoint::Answer Endpoint::post_data(const std::shared_ptr<Connection>& conn, std::string_view body) {
  Transport kind;
  {
    std::lock_guard lock(mu_);
    kind = conn->kind;
  }
  if (kind == Transport::WebSockets) return {405, "POST requests are not allowed for WebSocket connections.\n"};
  if (kind == Transport{}) return {400, "No transport has been started for this connection yet\n"};
  on_owner(conn, [data = std::string(body)](Connection& c) { c.on_data(data); });
  return {200, ""};
}

void Endpoint::handle_delete(http::HttpConnection& c, const http::RequestHead& head) {
  Lookup l = lookup(head);
  if (!l.conn) {
    if (l.status == 404 && forward(c, head, ForwardKind::Delete, Transport{})) return;
    respond(c, head, l.status, kText, l.body);
    return;
  }
  Answer a = delete_connection(l.conn);
  respond(c, head, a.status, kText, a.body);
}

Endpoint::Answer Endpoint::delete_connection(const std::shared_ptr<Connection>& conn) {
  {
    std::lock_guard lock(mu_);
    if (conn->kind != Transport::LongPolling) return {400, "Cannot terminate this connection using the DELETE endpoint.\n"};
    // From now on every request with this token gets 404.
    conn->disposed = true;
    by_token_.erase(conn->token());
    by_id_.erase(conn->connection_id());
  }
  on_owner(conn, [](Connection& c) { c.delete_requested(); });
  return {202, ""};
}

bool Endpoint::on_owner(const std::shared_ptr<Connection>& conn, std::function<void(Connection&)> fn,
                        bool even_if_gone) {
  int owner;
  {
    std::lock_guard lock(mu_);
    owner = conn->owner;
  }
  if (owner < 0) return false;
  gate_->run_on(*loops_[static_cast<std::size_t>(owner)], [conn, f = std::move(fn), even_if_gone] {
    if (even_if_gone || !conn->is_disposed_here()) f(*conn);
  });
  return true;
}

void Endpoint::answer_poll(detail::PollRef ref, int status, std::string body) {
  if (!ref) return;
  if (!ref.node.empty()) {  // a poll another node forwarded
    answer_forwarded(ref.request, status, body, ref.node);
    return;
  }
  http::DeferredTable* table = deferred_[ref.loop];
  auto deliver = [table, key = ref.key, status](const std::string& b) {
    if (http::HttpConnection* hc = table->find(key)) {
      hc->answer_deferred(key, status, status == 200 ? kOctets : std::string_view{}, b);
    } else {
      table->dropped.add();
    }
  };
  gate_->run_on(*loops_[ref.loop], [deliver, b = std::move(body)] { deliver(b); });
}

// --- bookkeeping on the owner loop ---------------------------------------------------------

void Endpoint::connected(Connection& c) {
  PerLoop& pl = *per_loop_[static_cast<std::size_t>(c.owner)];
  pl.opened.add();
  list_user(c, {});
  if (raw_) {
    if (raw_->on_open) raw_->on_open(c.raw_view());
    return;
  }
  if (on_connected_) {
    try {
      on_connected_(c);
    } catch (const std::exception& e) {
      log::error("hub {}: on_connected failed: {}", path_, e.what());
    }
  }
}

bool Endpoint::list_user(Connection& c, std::function<void()> ready) {
  if (c.user().empty()) return false;
  PerLoop& pl = *per_loop_[static_cast<std::size_t>(c.owner)];
  auto& same_user = pl.users[c.user()];
  if (same_user.count(&c)) return false;  // listed already (before its handshake answer)
  const bool first = same_user.empty();
  same_user.insert(&c);
  if (!relay_ || !ready) {
    if (first) watch_relay("u", c.user(), true);
    return false;
  }
  // Sends to the user from other nodes reach it once the user's topic is watched: ready
  // runs on the owner loop then.
  auto on_loop = [this, conn = c.shared_from_this(), ready = std::move(ready)] {
    gate_->run_on(loop_at(static_cast<std::size_t>(conn->owner)), [conn, ready] {
      if (!conn->is_disposed_here()) ready();
    });
  };
  if (first) {
    watch_relay("u", c.user(), true, std::move(on_loop));
  } else {
    when_watched("u", c.user(), [on_loop = std::move(on_loop)](bool) { on_loop(); });
  }
  return true;
}

void Endpoint::disconnected(Connection& c, std::string_view error) {
  PerLoop& pl = *per_loop_[static_cast<std::size_t>(c.owner)];
  for (const auto& [g, index] : c.groups) {
    if (remove_member(pl.groups, g, index)) watch_relay("g", g, false);
  }
  c.groups.clear();
  if (!c.user().empty()) {
    auto it = pl.users.find(c.user());
    if (it != pl.users.end()) {
      it->second.erase(&c);
      if (it->second.empty()) {
        pl.users.erase(it);
        watch_relay("u", c.user(), false);
      }
    }
  }
  if (raw_ && c.handshaken()) {
    if (raw_->on_close) raw_->on_close(c.raw_view());
  } else if (c.handshaken() && on_disconnected_) {
    try {
      on_disconnected_(c, error);
    } catch (const std::exception& e) {
      log::error("hub {}: on_disconnected failed: {}", path_, e.what());
    }
  }
  unregister(c);
  // Last: this may release the connection (a send walking a copy of the receivers keeps
  // it until it is over).
  auto it = pl.conns.find(&c);
  if (it == pl.conns.end()) return;
  if (pl.sending) pl.leaving.push_back(std::move(it->second));
  pl.conns.erase(it);
}

void Endpoint::unregister(Connection& c) {
  {
    std::lock_guard lock(mu_);
    c.disposed = true;
    c.socket_active = false;
    auto it = by_token_.find(c.token());
    if (it != by_token_.end() && it->second.get() == &c) by_token_.erase(it);
    auto jt = by_id_.find(c.connection_id());
    if (jt != by_id_.end() && jt->second.get() == &c) by_id_.erase(jt);
  }
  unwatch_connection(c);
}

void Endpoint::join_group(Connection& c, const std::string& group, std::function<void(bool)> done) {
  if (c.is_disposed_here()) {
    if (done) done(false);
    return;
  }
  auto [g, fresh] = c.groups.try_emplace(group, 0);
  std::vector<Connection*>& list = per_loop_[static_cast<std::size_t>(c.owner)]->groups[group];
  if (fresh) {
    g->second = list.size();
    list.push_back(&c);
  }
  if (fresh && list.size() == 1) {
    // The loop's first member: the node watches the group's topic from now on.
    if (!done) return watch_relay("g", group, true);
    if (!relay_) {
      watch_relay("g", group, true);
      return done(true);
    }
    watch_relay("g", group, true, [done] { done(true); });
  } else if (done) {
    when_watched("g", group, std::move(done));
  }
}

void Endpoint::leave_group(Connection& c, const std::string& group) {
  auto g = c.groups.find(group);
  if (g == c.groups.end()) return;
  if (remove_member(per_loop_[static_cast<std::size_t>(c.owner)]->groups, group, g->second))
    watch_relay("g", group, false);
  c.groups.erase(g);
}

void Endpoint::adopt(Connection& c) {
  PerLoop& pl = *per_loop_[static_cast<std::size_t>(c.owner)];
  pl.conns.emplace(&c, c.shared_from_this());
}

void Endpoint::count_in(const Connection& c, std::size_t bytes) noexcept {
  PerLoop& pl = *per_loop_[static_cast<std::size_t>(c.owner)];
  pl.in.add();
  pl.bytes_in.add(bytes);
}
void Endpoint::count_out(const Connection& c, std::size_t bytes) noexcept {
  PerLoop& pl = *per_loop_[static_cast<std::size_t>(c.owner)];
  pl.out.add();
  pl.bytes_out.add(bytes);
}
void Endpoint::count_invocation(const Connection& c) noexcept {
  per_loop_[static_cast<std::size_t>(c.owner)]->invocations.add();
}
void Endpoint::count_protocol_error(const Connection& c) noexcept {
  per_loop_[static_cast<std::size_t>(c.owner)]->protocol_errors.add();
}

// --- Hub ---------------------------------------------------------------------------------

void Endpoint::change_group(std::string_view connection_id, std::string_view group, bool join,
                            std::function<void(bool)> done) {
  if (group.empty()) {
    if (done) done(false);
    return;
  }
  auto c = find_by_id(connection_id);
  if (!c) {
    // Its node, if any, does it (and answers done).
    if (relay_) return relay_group_change(connection_id, group, join, std::move(done));
    if (done) done(false);
    return;
  }
  auto change = [this, g = std::string(group), join, done](Connection& conn) mutable {
    if (join) return join_group(conn, g, std::move(done));
    leave_group(conn, g);  // in effect at once: only this node delivers to its connections
    if (done) done(!conn.is_disposed_here());
  };
  // A connection not opened yet has no loop, and no groups.
  if (!on_owner(c, std::move(change), /*even_if_gone=*/true) && done) done(false);
}

void Endpoint::invoke_client(std::string_view connection_id, std::string_view method, Json arguments,
                             std::function<void(HubClientResult)> done, std::uint32_t timeout_ms) {
  auto c = find_by_id(connection_id);
  if (!c && relay_) {
    // Perhaps another node's: its owner asks it and relays the answer back.
    relay_client_invocation(connection_id, method, arguments, std::move(done), timeout_ms);
    return;
  }
  if (!c) {
    if (done) done({false, nullptr, "Connection '" + std::string(connection_id) + "' does not exist."});
    return;
  }
  auto shared_done = std::make_shared<std::function<void(HubClientResult)>>(std::move(done));
  int owner;
  {
    std::lock_guard lock(mu_);
    owner = c->owner;
  }
  if (owner < 0) {
    if (*shared_done) (*shared_done)({false, nullptr, "The connection has not started yet."});
    return;
  }
  on_owner(c, [m = std::string(method), a = std::move(arguments), shared_done, timeout_ms](Connection& conn) mutable {
    conn.await_client_result(std::move(m), std::move(a), std::move(*shared_done), timeout_ms);
  });
}

void Endpoint::close_all(std::string_view error, bool allow_reconnect) {
  for (std::size_t li = 0; li < loops_.size(); ++li) {
    auto run = [this, li, e = std::string(error), allow_reconnect] {
      std::vector<std::shared_ptr<Connection>> all;
      for (auto& [raw, c] : per_loop_[li]->conns) all.push_back(c);
      for (auto& c : all) c->close(e, allow_reconnect);
    };
    gate_->run_on(*loops_[li], std::move(run));
  }
}

std::size_t Endpoint::connection_count() const {
  std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (const auto& [token, c] : by_token_) n += c->owner >= 0 ? 1 : 0;
  return n;
}

HubStats Endpoint::stats() const {
  HubStats s;
  for (const auto& pl : per_loop_) {
    s.opened += pl->opened.get();
    s.messages_in += pl->in.get();
    s.messages_out += pl->out.get();
    s.bytes_in += pl->bytes_in.get();
    s.bytes_out += pl->bytes_out.get();
    s.invocations += pl->invocations.get();
    s.protocol_errors += pl->protocol_errors.get();
  }
  s.open = connection_count();
  return s;
}

void Endpoint::send_to_target(const HubTarget& target, std::string_view method, Json arguments) {
  if (target.kind == HubTarget::Kind::Nobody) return;
  hub::Message m;
  m.type = hub::MessageType::Invocation;
  m.target = std::string(method);
  m.arguments = arguments.is_array() ? std::move(arguments) : Json::array({std::move(arguments)});
  // Serialised once per protocol and framed once as a WebSocket message, on this thread,
  // for every receiver on every loop (and, with a relay, for the other nodes, which may
  // speak MessagePack when this one does not).
  auto msg = std::make_shared<detail::SharedMessage>();
  std::string bytes;
  auto frame = [&bytes, &m](hub::HubProtocol p, detail::SharedMessage::Form& f) {
    bytes.clear();
    hub::append_message(bytes, p, m);
    f.frame = ws::Endpoint::build_frame(bytes, p == hub::HubProtocol::MessagePack);
    f.header_bytes = f.frame->size() - bytes.size();
  };
  frame(hub::HubProtocol::Json, msg->json);
  if (options_.messagepack || relay_) frame(hub::HubProtocol::MessagePack, msg->messagepack);
  std::vector<std::string> elsewhere = deliver_here(target, msg);
  if (relay_) relay_send(target, *msg, elsewhere);
}

std::vector<std::string> Endpoint::deliver_here(const HubTarget& target,
                                                std::shared_ptr<const detail::SharedMessage> msg) {
  std::vector<std::string> elsewhere;
  if (target.kind == HubTarget::Kind::Connection || target.kind == HubTarget::Kind::Connections) {
    for (const std::string& id : target.names) {
      if (std::find(target.except.begin(), target.except.end(), id) != target.except.end()) continue;
      auto c = find_by_id(id);
      if (!c) {
        elsewhere.push_back(id);
        continue;
      }
      on_owner(c, [this, msg](Connection& conn) {
        if (!conn.open_for_sends()) return;
        detail::LoopSend s(*msg, *ws_, *sse_, static_cast<std::size_t>(conn.owner));
        conn.send_shared(s);
      });
    }
    return elsewhere;
  }
  auto t = std::make_shared<HubTarget>(target);
  for (std::size_t li = 0; li < loops_.size(); ++li) {
    gate_->run_on(*loops_[li], [this, li, t, msg] { deliver_on_loop(li, *t, *msg); });
  }
  return elsewhere;
}

void Endpoint::deliver_on_loop(std::size_t li, const HubTarget& target, const detail::SharedMessage& msg) {
  PerLoop& pl = *per_loop_[li];
  if (pl.receivers.size() <= pl.sending) pl.receivers.emplace_back();
  std::vector<Connection*>& to = pl.receivers[pl.sending];
  to.clear();
  switch (target.kind) {
    case HubTarget::Kind::All:
      for (auto& [raw, c] : pl.conns) to.push_back(raw);
      break;
    case HubTarget::Kind::Group: {
      auto it = pl.groups.find(target.names.empty() ? std::string() : target.names[0]);
      if (it != pl.groups.end()) to.assign(it->second.begin(), it->second.end());
      break;
    }
    case HubTarget::Kind::User: {
      auto it = pl.users.find(target.names.empty() ? std::string() : target.names[0]);
      if (it != pl.users.end()) to.assign(it->second.begin(), it->second.end());
      break;
    }
    default:
      break;
  }
  if (to.empty()) return;
  auto excluded = [&target](const Connection* c) {
    return std::find(target.except.begin(), target.except.end(), c->connection_id()) != target.except.end();
  };
  detail::LoopSend s(msg, *ws_, *sse_, li);
  ++pl.sending;
  for (Connection* c : to) {
    if (c->open_for_sends() && (target.except.empty() || !excluded(c))) c->send_shared(s);
  }
  if (--pl.sending == 0) pl.leaving.clear();
}

namespace detail {

void LoopSend::to_websocket(WebSocket& w, hub::HubProtocol p) {
  const bool binary = p == hub::HubProtocol::MessagePack;
  ws::Endpoint::PlacedFrame& f = placed_[binary];
  if (!f.buf) {
    const SharedMessage::Form& form = msg_.form(p);
    f = ws_.place_frame(loop_, form.frame, form.header_bytes, binary);
  }
  // The hub's WebSockets are its own ws::Endpoint's sessions.
  ws_.send_placed(static_cast<ws::Session&>(w), f);
}

void LoopSend::to_event_stream(SseStream& s) {
  if (!event_) event_ = sse::Endpoint::format({.data = msg_.json.bytes()});
  sse_.send_formatted(static_cast<sse::Stream&>(s), event_);
}

}  // namespace detail

}  // namespace wirehub::hubhost
