// No sticky sessions (ADR 0011): a hub's requests may reach any node of a deployment.
//
// With a relay, a connection token is the connectionId followed by its secret part, and
// the node that has a connection watches the connection's topic "c:<id>" from the moment
// it has it (negotiate waits for that subscription before it answers). A node that gets a
// request with a token it does not know publishes the request on "c:<id>" and holds the
// HTTP request until the answer comes back on its own "n:<node>":
//   - a POST (SSE and long-polling data) or DELETE is done by the owner, which answers
//     with the status and body it would have given the client itself;
//   - a later poll is held by the owner like a local one ('K' tells the asking node that
//     it is held, so it waits up to the long-poll timeout) and answered with the data;
//   - the first transport request (WebSocket, event stream, first poll) of a connection
//     negotiated elsewhere and not opened yet moves the connection here: the owner hands
//     over its state ('H') and forgets it, this node registers it, watches "c:<id>" and,
//     once that subscription is in effect, opens the transport exactly as for a
//     connection it negotiated itself. A WebSocket or event stream stays where it opened:
//     a second one elsewhere gets the owner's 409 (or 400 for another transport).
// A request no node answers within kAnswerWithinMs (no node has the token; its node is
// gone) gets 404, as on one node; while this node's link is down it gets 503 at once.
//
// Messages (relay_wire layout):
//   on "c:<id>":   'T' u32 request, u16+node, u16+token, u8 transport (1 WebSockets,
//                      2 ServerSentEvents, 4 LongPolling)
//                  'P' u32 request, u16+node, u16+token, then the body
//                  'D' u32 request, u16+node, u16+token
//   on "n:<node>": 'Z' u32 request, u16 status, then the body
//                  'K' u32 request (a poll is held)
//                  'H' u32 request, then the connection's state as a JSON object

#include <algorithm>

#include "core/log.hpp"
#include "hubhost/hub_endpoint.hpp"
#include "hubhost/relay_wire.hpp"

namespace wirehub::hubhost {
namespace {

using relay_wire::put_u16;
using relay_wire::put_u32;
using relay_wire::Reader;

constexpr std::uint64_t kAnswerWithinMs = 3000;  // the node that has a connection answers in ms
constexpr std::string_view kText = "text/plain; charset=utf-8";
constexpr std::string_view kOctets = "application/octet-stream";
constexpr std::size_t kIdLength = 22;  // hub::random_id()

bool base64url(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char ch) {
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
  });
}

// The connectionId a token names: its first half (a token of a node with a relay), or the
// token itself (negotiate version 0, where the id is the token); empty for anything else.
std::string_view connection_of(std::string_view token) {
  if ((token.size() != kIdLength && token.size() != 2 * kIdLength) || !base64url(token)) return {};
  return token.substr(0, kIdLength);
}

}  // namespace

bool Endpoint::forward(http::HttpConnection& c, const http::RequestHead& head, ForwardKind kind, Transport want,
                       std::string_view body) {
  if (!relay_) return false;
  const auto token = http::query_param(head.query, "id");
  const std::string_view id = token ? connection_of(*token) : std::string_view{};
  if (id.empty()) return false;
  if (!relay_->up()) {
    respond(c, head, 503, kText, "The node that holds this connection cannot be reached now.\n");
    return true;
  }
  const std::uint64_t key = kind == ForwardKind::Upgrade ? c.defer_upgrade(0) : c.defer_response(0);
  if (key == 0) return false;
  Forwarded f;
  f.kind = kind;
  f.want = want;
  f.loop = c.loop().index();
  f.key = key;
  f.deadline_ms = loop::EventLoop::clock_ms() + kAnswerWithinMs;
  if (auto origin = head.header("Origin")) f.origin = std::string(*origin);
  if (kind == ForwardKind::Poll) f.request = detail::copy_request(head);
  std::uint32_t request;
  {
    std::lock_guard lock(forward_mu_);
    request = ++next_forward_;
    forwarded_.emplace(request, std::move(f));
  }
  std::string m;
  m.reserve(16 + node_.size() + token->size() + body.size());
  m.push_back(kind == ForwardKind::Post ? 'P' : kind == ForwardKind::Delete ? 'D' : 'T');
  put_u32(m, request);
  put_u16(m, node_.size());
  m.append(node_);
  put_u16(m, token->size());
  m.append(*token);
  if (kind == ForwardKind::Upgrade || kind == ForwardKind::Poll) m.push_back(static_cast<char>(want));
  m.append(body);
  relay_->send("c:" + std::string(id), m);
  return true;
}

void Endpoint::answer_forwarded(std::uint32_t request, int status, std::string_view body, const std::string& node) {
  std::string m;
  m.reserve(7 + body.size());
  m.push_back('Z');
  put_u32(m, request);
  put_u16(m, static_cast<std::size_t>(status));
  m.append(body);
  relay_->send("n:" + node, m);
}

void Endpoint::serve_forwarded(char op, std::string_view connection_id, std::string_view message) {
  Reader r{message};
  const auto request = static_cast<std::uint32_t>(r.uint(4));
  const std::string node(r.bytes(r.uint(2)));
  const std::string_view token = r.bytes(r.uint(2));
  const std::size_t want = op == 'T' ? r.uint(1) : 0;
  const bool known_transport = want == unsigned(Transport::WebSockets) ||
                               want == unsigned(Transport::ServerSentEvents) || want == unsigned(Transport::LongPolling);
  if (!r.ok || node.empty() || connection_of(token) != connection_id || (op == 'T' && !known_transport) ||
      (op == 'D' && !r.in.empty())) {
    relay_malformed_.fetch_add(1, std::memory_order_relaxed);
    log::warn("hub {}: ignored an unreadable request from another node", path_);
    return;
  }
  std::shared_ptr<Connection> conn;
  {
    std::lock_guard lock(mu_);
    auto it = by_token_.find(std::string(token));
    if (it != by_token_.end() && !it->second->disposed) conn = it->second;
  }
  // The topic reaches this node, but the token is not one of its connections' (a wrong
  // secret part, or a connection that just ended).
  if (!conn) return answer_forwarded(request, 404, detail::kNoConnection, node);
  if (op == 'P') {
    Answer a = post_data(conn, r.in);
    return answer_forwarded(request, a.status, a.body, node);
  }
  if (op == 'D') {
    Answer a = delete_connection(conn);
    return answer_forwarded(request, a.status, a.body, node);
  }

  const auto transport = static_cast<Transport>(want);
  Json state;
  Answer refused;
  {
    std::lock_guard lock(mu_);
    if (conn->disposed) {
      refused = {404, detail::kNoConnection};
    } else if (conn->kind == Transport{}) {
      // Negotiated here, opened there: it moves (and is no longer this node's).
      state = {{"id", conn->connection_id()}, {"token", conn->token()}, {"stateful", conn->stateful_offered},
               {"user", conn->user()}};
      if (const Principal* p = conn->principal()) {
        state["principal"] = {{"sub", p->subject}, {"claims", p->claims_json}, {"exp", p->expires_s}};
      }
      conn->disposed = true;
      by_token_.erase(conn->token());
      by_id_.erase(conn->connection_id());
    } else if (conn->kind != transport) {
      refused = {400, "Cannot change transports mid-connection\n"};
    } else if (transport != Transport::LongPolling) {
      // Its socket or stream is on this node; another one elsewhere cannot join it.
      refused = {409, "Another connection is already using this transport\n"};
    }
  }
  if (refused.status) return answer_forwarded(request, refused.status, refused.body, node);
  if (!state.is_null()) {
    unwatch_connection(*conn);
    std::string m;
    m.push_back('H');
    put_u32(m, request);
    m.append(state.dump(-1, ' ', false, Json::error_handler_t::replace));
    relay_->send("n:" + node, m);
    return;
  }
  // A later poll: held here like a local one, answered over the relay.
  std::string held;
  held.push_back('K');
  put_u32(held, request);
  relay_->send("n:" + node, held);
  detail::PollRef ref;
  ref.node = node;
  ref.request = request;
  hold_poll(conn, std::move(ref));
}

void Endpoint::forward_answered(char op, std::string_view message) {
  Reader r{message};
  const auto request = static_cast<std::uint32_t>(r.uint(4));
  const std::size_t status = op == 'Z' ? r.uint(2) : 0;
  if (!r.ok || (op == 'K' && !r.in.empty()) || (op == 'Z' && (status < 100 || status > 599))) {
    relay_malformed_.fetch_add(1, std::memory_order_relaxed);
    log::warn("hub {}: ignored an unreadable answer from another node", path_);
    return;
  }
  if (op == 'H') return move_here(request, r.in);
  std::optional<Forwarded> f;
  {
    std::lock_guard lock(forward_mu_);
    auto it = forwarded_.find(request);
    if (it == forwarded_.end()) return;  // answered already (it expired)
    if (op == 'K') {
      // Held by the owner: it answers within the long-poll timeout.
      it->second.deadline_ms = loop::EventLoop::clock_ms() + options_.long_poll_timeout_ms + kAnswerWithinMs;
      return;
    }
    f = std::move(it->second);
    forwarded_.erase(it);
  }
  finish_forwarded(std::move(*f), static_cast<int>(status), std::string(r.in));
}

void Endpoint::finish_forwarded(Forwarded f, int status, std::string body) {
  gate_->run_on(*loops_[f.loop], [this, f = std::move(f), status, body = std::move(body)] {
    http::DeferredTable& table = *deferred_[f.loop];
    http::HttpConnection* hc = table.find(f.key);
    if (!hc) {
      table.dropped.add();
      return;
    }
    // Typed as the owner types its own answers: a poll's data as octets, its empty
    // endings untyped, everything else as text.
    std::string_view type = kText;
    if (f.kind == ForwardKind::Poll && status == 200) type = kOctets;
    if (f.kind == ForwardKind::Poll && status != 200 && body.empty()) type = {};
    hc->answer_deferred(f.key, status, type, body, cors_for(f.origin));
  });
}

void Endpoint::move_here(std::uint32_t request, std::string_view state_text) {
  Json state = Json::parse(state_text, nullptr, false);
  auto has = [&state](const char* key, auto is) { return state.contains(key) && (state[key].*is)(); };
  const bool readable = state.is_object() && has("id", &Json::is_string) && has("token", &Json::is_string) &&
                        has("user", &Json::is_string) && has("stateful", &Json::is_boolean);
  std::optional<Forwarded> f;
  {
    std::lock_guard lock(forward_mu_);
    auto it = forwarded_.find(request);
    if (it == forwarded_.end()) return;  // it expired: the connection stays nowhere
    if (readable) {
      // Kept (its deadline still runs) until the connection's topic reaches this node.
      it->second.deadline_ms = loop::EventLoop::clock_ms() + kAnswerWithinMs;
    } else {
      f = std::move(it->second);
      forwarded_.erase(it);
    }
  }
  if (f) {
    relay_malformed_.fetch_add(1, std::memory_order_relaxed);
    log::warn("hub {}: another node handed over an unreadable connection", path_);
    return finish_forwarded(std::move(*f), 404, std::string(detail::kNoConnection));
  }
  auto conn = std::make_shared<Connection>(*this, state["id"].get<std::string>(), state["token"].get<std::string>(),
                                           loop::EventLoop::clock_ms());
  std::optional<Principal> principal;
  if (state.contains("principal") && state["principal"].is_object()) {
    const Json& p = state["principal"];
    principal.emplace();
    if (p.contains("sub") && p["sub"].is_string()) principal->subject = p["sub"].get<std::string>();
    if (p.contains("claims") && p["claims"].is_string()) principal->claims_json = p["claims"].get<std::string>();
    if (p.contains("exp") && p["exp"].is_number_integer()) principal->expires_s = p["exp"].get<std::int64_t>();
  }
  conn->set_principal(std::move(principal), state["user"].get<std::string>());
  {
    std::lock_guard lock(mu_);
    conn->stateful_offered = state["stateful"].get<bool>();
    by_token_.emplace(conn->token(), conn);
    by_id_.emplace(conn->connection_id(), conn);
  }
  watch_connection(*conn, [this, request, conn] {
    std::optional<Forwarded> waiting;
    {
      std::lock_guard lock(forward_mu_);
      auto it = forwarded_.find(request);
      if (it == forwarded_.end()) return;  // expired: the connection waits here unused, then ends
      waiting = std::move(it->second);
      forwarded_.erase(it);
    }
    const std::size_t li = waiting->loop;
    gate_->run_on(*loops_[li], [this, li, f = std::move(*waiting), conn]() mutable {
      http::DeferredTable& table = *deferred_[li];
      http::HttpConnection* hc = table.find(f.key);
      if (!hc) return;  // the client left: the connection waits here unused, then ends
      if (f.kind == ForwardKind::Upgrade) {
        hc->resume_upgrade(f.key, [this, conn, want = f.want](http::HttpConnection& c, const http::RequestHead& head,
                                                                char* rest, std::size_t n) {
          bool first = false;
          if (Answer refused = claim_transport(*conn, want, c.loop().index(), first); refused.status) {
            respond(c, head, refused.status, kText, refused.body);
            return;
          }
          open_transport(c, head, rest, n, conn, want, first);
        });
        return;
      }
      bool first = false;
      if (Answer refused = claim_transport(*conn, Transport::LongPolling, li, first); refused.status) {
        hc->answer_deferred(f.key, refused.status, kText, refused.body, cors_for(f.origin));
        return;
      }
      if (!first) {  // a poll of this node's opened it meanwhile: this one is a later poll
        hold_poll(conn, {li, f.key, loops_[li]->now_ms(), {}, 0});
        return;
      }
      conn->set_request(std::move(f.request));
      conn->poll({}, true);
      hc->answer_deferred(f.key, 200, kOctets, "", cors_for(f.origin));
    });
  });
}

void Endpoint::expire_forwarded(std::uint64_t now_ms) {
  std::vector<Forwarded> expired;
  {
    std::lock_guard lock(forward_mu_);
    for (auto it = forwarded_.begin(); it != forwarded_.end();) {
      if (it->second.deadline_ms <= now_ms) {
        expired.push_back(std::move(it->second));
        it = forwarded_.erase(it);
      } else {
        ++it;
      }
    }
  }
  // No node answered: none has the connection, or its node is gone.
  for (Forwarded& f : expired) finish_forwarded(std::move(f), 404, std::string(detail::kNoConnection));
}

}  // namespace wirehub::hubhost
