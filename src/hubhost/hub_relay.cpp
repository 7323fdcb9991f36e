// A hub across several nodes (ADR 0011): what this node hands its relay, what it watches,
// and what it does with what other nodes relayed.
//
// Topics (the server adds "hub <path> " to make a backplane channel):
//   ""          a send to All (its exceptions in the message)
//   "g:<group>" a send to a group (also OthersInGroup: the caller is an exception)
//   "u:<user>"  a send to a user's connections
//   "c:<id>"    a send to one connection, a group change for it, or a client invocation
//               of it, from a node that does not have it
//   "n:<node>"  the answer to a client invocation this node relayed
// A node watches "" from the start, "g:"/"u:" while one of its loops has a member, and
// "c:<id>" while it owns that connection.
//
// Messages: one op byte, then
//   'S' send:  u16 exception count, each a u16 length and the id; u32 length and the JSON
//              form (framed hub message); u32 length and the MessagePack form
//   'J' / 'L'  join / leave: u32 request (0: no answer wanted), u16 length and the asking
//              node, then the group name (the rest)
//   'Y'        its answer, once in effect: u32 request, one byte 1 (done) or 0 (no such
//              connection)
//   'I'        client invocation: u32 call number, u16 length and the asking node, u32
//              timeout (ms), u16 length and the method, then the arguments as JSON text
//   'R'        its answer: u32 call number, one byte 1 (a value: JSON text follows) or 0
//              (an error: its text follows)
//   'T' 'P' 'D' a request for the connection that reached another node, and 'Z' 'K' 'H'
//              the answers (hub_forward.cpp)
// Lengths little-endian. The forms are the bytes this node serialised once for its own
// receivers, so a relayed send costs a receiving node no serialisation.

#include <cstring>

#include "core/log.hpp"
#include "hubhost/hub_endpoint.hpp"
#include "hubhost/relay_wire.hpp"

namespace wirehub::hubhost {
namespace {

using relay_wire::put_u16;
using relay_wire::put_u32;
using relay_wire::Reader;

constexpr std::size_t kMaxExceptions = 0xFFFF;
constexpr std::uint64_t kGroupChangeAnswerMs = 3000;  // as hub_forward.cpp's kAnswerWithinMs

}  // namespace

void Endpoint::set_relay(fanout::Relay* relay) {
  relay_ = relay;
  if (!relay) return;
  relay->watch("");           // sends to All: every node takes them while it runs
  relay->watch("n:" + node_);  // answers to this node's client invocations
}

void Endpoint::watch_relay(std::string_view kind, std::string_view name, bool on, std::function<void()> on_active) {
  if (!relay_) return;
  std::string topic;
  topic.reserve(kind.size() + 1 + name.size());
  topic.append(kind).append(1, ':').append(name);
  if (on) {
    relay_->watch(topic, std::move(on_active));
  } else {
    relay_->unwatch(topic);
  }
}

void Endpoint::when_watched(std::string_view kind, std::string_view name, std::function<void(bool)> done) {
  if (!relay_) return done(true);
  // One more watch of a topic this loop watches already (no new subscription), undone at
  // once: its on_active runs when the subscription in place, or still on its way, is in
  // effect.
  watch_relay(kind, name, true, [done = std::move(done)] { done(true); });
  watch_relay(kind, name, false);
}

void Endpoint::watch_connection(Connection& c, std::function<void()> on_active) {
  {
    std::lock_guard lock(mu_);
    c.relay_watched = true;
  }
  relay_->watch("c:" + c.connection_id(), std::move(on_active));
}

void Endpoint::unwatch_connection(Connection& c) {
  {
    std::lock_guard lock(mu_);
    if (!std::exchange(c.relay_watched, false)) return;
  }
  relay_->unwatch("c:" + c.connection_id());
}

void Endpoint::relay_send(const HubTarget& target, const detail::SharedMessage& msg,
                          const std::vector<std::string>& elsewhere) {
  const std::string_view json = msg.json.bytes();
  const std::string_view msgpack = msg.messagepack.frame ? msg.messagepack.bytes() : std::string_view{};
  auto message = [&](const std::vector<std::string>& except) {
    std::string m;
    m.reserve(11 + json.size() + msgpack.size());
    m.push_back('S');
    const std::size_t n = std::min(except.size(), kMaxExceptions);
    put_u16(m, n);
    for (std::size_t i = 0; i < n; ++i) {
      put_u16(m, except[i].size());
      m.append(except[i]);
    }
    put_u32(m, json.size());
    m.append(json);
    put_u32(m, msgpack.size());
    m.append(msgpack);
    return m;
  };
  switch (target.kind) {
    case HubTarget::Kind::All:
      relay_->send({}, message(target.except));
      return;
    case HubTarget::Kind::Group:
    case HubTarget::Kind::User:
      if (target.names.empty()) return;
      relay_->send((target.kind == HubTarget::Kind::Group ? "g:" : "u:") + target.names[0], message(target.except));
      return;
    case HubTarget::Kind::Connection:
    case HubTarget::Kind::Connections: {
      if (elsewhere.empty()) return;
      const std::string m = message({});
      for (const std::string& id : elsewhere) relay_->send("c:" + id, m);
      return;
    }
    case HubTarget::Kind::Nobody:
      return;
  }
}

void Endpoint::relay_group_change(std::string_view connection_id, std::string_view group, bool join,
                                  std::function<void(bool)> done) {
  std::uint32_t request = 0;
  if (done) {
    std::lock_guard lock(remote_mu_);
    do {
      request = ++next_group_change_;
    } while (request == 0);
    // The node that has the connection answers within moments; none answers for a
    // connection no node has.
    group_changes_[request] = {std::move(done), loop::EventLoop::clock_ms() + kGroupChangeAnswerMs};
  }
  std::string m;
  m.reserve(7 + node_.size() + group.size());
  m.push_back(join ? 'J' : 'L');
  put_u32(m, request);
  put_u16(m, node_.size());
  m.append(node_);
  m.append(group);
  relay_->send("c:" + std::string(connection_id), m);
}

void Endpoint::expire_group_changes(std::uint64_t now_ms) {
  std::vector<std::function<void(bool)>> expired;
  {
    std::lock_guard lock(remote_mu_);
    for (auto it = group_changes_.begin(); it != group_changes_.end();) {
      if (it->second.deadline_ms <= now_ms) {
        expired.push_back(std::move(it->second.done));
        it = group_changes_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& done : expired) done(false);
}

void Endpoint::relay_client_invocation(std::string_view connection_id, std::string_view method,
                                       const Json& arguments, std::function<void(HubClientResult)> done,
                                       std::uint32_t timeout_ms) {
  const std::uint64_t wait = timeout_ms ? timeout_ms : 24ull * 3600 * 1000;
  std::uint32_t call;
  {
    std::lock_guard lock(remote_mu_);
    call = ++next_remote_call_;
    remote_results_[call] = {std::move(done), loop::EventLoop::clock_ms() + wait, std::string(connection_id)};
  }
  std::string m;
  m.push_back('I');
  put_u32(m, call);
  put_u16(m, node_.size());
  m.append(node_);
  put_u32(m, timeout_ms);
  put_u16(m, std::min<std::size_t>(method.size(), 0xFFFF));
  m.append(method.substr(0, 0xFFFF));
  m.append(arguments.dump(-1, ' ', false, Json::error_handler_t::replace));
  relay_->send("c:" + std::string(connection_id), m);
}

void Endpoint::finish_remote_result(std::uint32_t call, HubClientResult r) {
  std::function<void(HubClientResult)> done;
  {
    std::lock_guard lock(remote_mu_);
    auto it = remote_results_.find(call);
    if (it == remote_results_.end()) return;  // answered already (timed out)
    done = std::move(it->second.done);
    remote_results_.erase(it);
  }
  if (done) gate_->run_on(*loops_[0], [done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
}

void Endpoint::expire_remote_results(std::uint64_t now_ms) {
  std::vector<std::pair<std::function<void(HubClientResult)>, std::string>> expired;
  {
    std::lock_guard lock(remote_mu_);
    for (auto it = remote_results_.begin(); it != remote_results_.end();) {
      if (it->second.deadline_ms <= now_ms) {
        expired.emplace_back(std::move(it->second.done), std::move(it->second.connection_id));
        it = remote_results_.erase(it);
      } else {
        ++it;
      }
    }
  }
  // No node answered: the connection is on none, or its node is gone, or its client was
  // too slow (then its own node's answer would have said so first).
  for (auto& [done, id] : expired) {
    if (done) done({false, nullptr, "The client did not answer in time."});
  }
}

void Endpoint::deliver_relayed(std::string_view topic, std::string_view message) {
  auto malformed = [this, topic] {
    relay_malformed_.fetch_add(1, std::memory_order_relaxed);
    log::warn("hub {}: ignored an unreadable message from another node (topic '{}')", path_, topic);
  };
  if (message.empty()) return malformed();
  HubTarget target;
  if (topic.empty()) {
    target.kind = HubTarget::Kind::All;
  } else if (topic.size() > 2 && topic[1] == ':' && topic[0] == 'n') {
    target.kind = HubTarget::Kind::Nobody;  // answers to this node
  } else if (topic.size() > 2 && topic[1] == ':' && (topic[0] == 'g' || topic[0] == 'u' || topic[0] == 'c')) {
    target.kind = topic[0] == 'g' ? HubTarget::Kind::Group
                  : topic[0] == 'u' ? HubTarget::Kind::User
                                    : HubTarget::Kind::Connection;
    target.names.emplace_back(topic.substr(2));
  } else {
    return malformed();
  }

  const char op = message[0];
  if (op == 'T' || op == 'P' || op == 'D') {
    if (target.kind != HubTarget::Kind::Connection) return malformed();
    serve_forwarded(op, target.names[0], message.substr(1));
    return;
  }
  if (op == 'Z' || op == 'K' || op == 'H') {
    if (topic != "n:" + node_) return malformed();
    forward_answered(op, message.substr(1));
    return;
  }
  if (op == 'J' || op == 'L') {
    if (target.kind != HubTarget::Kind::Connection) return malformed();
    Reader r{message.substr(1)};
    const auto request = static_cast<std::uint32_t>(r.uint(4));
    const std::string node(r.bytes(r.uint(2)));
    if (!r.ok || node.empty() || r.in.empty()) return malformed();
    std::function<void(bool)> answer;
    if (request != 0) {
      answer = [this, request, topic_back = "n:" + node](bool ok) {
        std::string m;
        m.push_back('Y');
        put_u32(m, request);
        m.push_back(ok ? 1 : 0);
        relay_->send(topic_back, m);
      };
    }
    // Only this node's connection (the topic reached it: it had it a moment ago).
    if (!find_by_id(target.names[0])) {
      if (answer) answer(false);
      return;
    }
    change_group(target.names[0], r.in, op == 'J', std::move(answer));
    return;
  }
  if (op == 'Y') {
    if (topic != "n:" + node_) return malformed();
    Reader r{message.substr(1)};
    const auto request = static_cast<std::uint32_t>(r.uint(4));
    const std::size_t ok = r.uint(1);
    if (!r.ok || ok > 1 || !r.in.empty()) return malformed();
    std::function<void(bool)> done;
    {
      std::lock_guard lock(remote_mu_);
      auto it = group_changes_.find(request);
      if (it == group_changes_.end()) return;  // answered already (it expired)
      done = std::move(it->second.done);
      group_changes_.erase(it);
    }
    done(ok == 1);
    return;
  }
  if (op == 'I') {
    if (target.kind != HubTarget::Kind::Connection) return malformed();
    Reader r{message.substr(1)};
    const auto call = static_cast<std::uint32_t>(r.uint(4));
    const std::string node(r.bytes(r.uint(2)));
    const auto timeout_ms = static_cast<std::uint32_t>(r.uint(4));
    const std::string method(r.bytes(r.uint(2)));
    Json arguments = r.ok ? Json::parse(r.in, nullptr, false) : Json();
    if (!r.ok || node.empty() || arguments.is_discarded()) return malformed();
    const std::string& id = target.names[0];
    auto answer = [this, call, topic_back = "n:" + node](HubClientResult res) {
      std::string m;
      m.push_back('R');
      put_u32(m, call);
      m.push_back(res.ok ? 1 : 0);
      m.append(res.ok ? res.value.dump(-1, ' ', false, Json::error_handler_t::replace) : res.error);
      relay_->send(topic_back, m);
    };
    if (!find_by_id(id)) {
      // The connection left this node (its channel was still watched): say so at once.
      answer({false, nullptr, "Connection '" + id + "' does not exist."});
      return;
    }
    invoke_client(id, method, std::move(arguments), std::move(answer), timeout_ms);
    return;
  }
  if (op == 'R') {
    if (topic != "n:" + node_) return malformed();
    Reader r{message.substr(1)};
    const auto call = static_cast<std::uint32_t>(r.uint(4));
    const std::size_t ok = r.uint(1);
    if (!r.ok || ok > 1) return malformed();
    HubClientResult res;
    res.ok = ok == 1;
    if (res.ok) {
      res.value = Json::parse(r.in, nullptr, false);
      if (res.value.is_discarded()) return malformed();
    } else {
      res.error = std::string(r.in);
    }
    finish_remote_result(call, std::move(res));
    return;
  }
  if (op != 'S' || target.kind == HubTarget::Kind::Nobody) return malformed();

  Reader r{message.substr(1)};
  const std::size_t exceptions = r.uint(2);
  for (std::size_t i = 0; i < exceptions && r.ok; ++i) target.except.emplace_back(r.bytes(r.uint(2)));
  const std::string_view json = r.bytes(r.uint(4));
  const std::string_view msgpack = r.bytes(r.uint(4));
  if (!r.ok || !r.in.empty() || json.empty()) return malformed();

  auto msg = std::make_shared<detail::SharedMessage>();
  auto form = [](std::string_view bytes, bool binary, detail::SharedMessage::Form& f) {
    f.frame = ws::Endpoint::build_frame(bytes, binary);
    f.header_bytes = f.frame->size() - bytes.size();
  };
  form(json, false, msg->json);
  if (options_.messagepack) {
    if (msgpack.empty()) return malformed();
    form(msgpack, true, msg->messagepack);
  }
  // Only this node's connections: a connection no node has is not looked for again.
  deliver_here(target, std::move(msg));
}

}  // namespace wirehub::hubhost
