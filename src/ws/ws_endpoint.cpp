#include "ws/ws_endpoint.hpp"

#include <cstring>
#include <stdexcept>

#include "http/response.hpp"
#include "ws/frame.hpp"
#include "ws/handshake.hpp"
#include "ws/ws_session.hpp"

namespace wirehub::ws {

namespace {
// Broadcast frames up to kArenaFrameMax bytes are packed into kArenaBytes arenas; larger
// ones are queued by reference to their own buffer (a copy would cost more than a slice).
constexpr std::size_t kArenaFrameMax = 2048;
constexpr std::size_t kArenaBytes = 16 * 1024;
std::size_t loop_of(ConnectionId id) { return static_cast<std::size_t>(id >> Endpoint::kLoopShift); }
std::size_t slot_of(ConnectionId id) { return static_cast<std::size_t>(id & Endpoint::kSlotMask); }
bool is_free(std::uintptr_t slot) { return slot & 1; }
}  // namespace

Endpoint::Endpoint(std::string path, WebSocketHandlers handlers, WebSocketOptions options,
                   std::vector<loop::EventLoop*> loops)
    : path_(std::move(path)),
      handlers_(std::move(handlers)),
      options_(std::move(options)),
      origins_(options_.allowed_origins),
      loops_(std::move(loops)) {
  if (loops_.size() > kMaxLoops) throw std::invalid_argument("at most 256 loops");
  for (std::size_t i = 0; i < loops_.size(); ++i) per_loop_.push_back(std::make_unique<PerLoop>());
}

Endpoint::~Endpoint() = default;

std::string_view Endpoint::choose_subprotocol(const http::RequestHead& head) const {
  if (options_.subprotocols.empty() && !handlers_.select_subprotocol) return {};
  std::vector<std::string_view> offered;
  for (const auto& h : head.headers) {
    if (h.name.size() == 22 && strncasecmp(h.name.data(), "Sec-WebSocket-Protocol", 22) == 0) {
      for (auto t : split_tokens(h.value)) offered.push_back(t);
    }
  }
  if (handlers_.select_subprotocol) {
    std::string_view chosen = handlers_.select_subprotocol(offered);
    // Only an offered value may be answered (RFC 6455 4.2.2); anything else means none.
    for (std::string_view theirs : offered) {
      if (!chosen.empty() && theirs == chosen) return theirs;
    }
    return {};
  }
  // Server preference order; subprotocol names are case-sensitive (RFC 6455 4.1).
  for (const std::string& mine : options_.subprotocols) {
    for (std::string_view theirs : offered) {
      if (theirs == mine) return mine;
    }
  }
  return {};
}

void Endpoint::upgrade(http::HttpConnection& conn, const http::RequestHead& head, char* rest, std::size_t n) {
  HandshakeRequest req;
  req.method = head.method_text;
  req.version_minor = head.version_minor;
  req.host = head.header("Host");
  req.upgrade = head.header("Upgrade");
  req.connection = head.header("Connection");
  req.key = head.header("Sec-WebSocket-Key");
  req.version = head.header("Sec-WebSocket-Version");
  req.protocol = head.header("Sec-WebSocket-Protocol");
  req.extensions = head.header("Sec-WebSocket-Extensions");
  // Connection and Upgrade may be split over several field lines; the head's token test
  // looks at all of them, so prefer its verdict over the first line alone.
  if (head.has_token("Connection", "upgrade")) req.connection = "upgrade";
  if (head.has_token("Upgrade", "websocket")) req.upgrade = "websocket";

  if (auto err = check_upgrade(req)) {
    std::string body(err->reason);
    body += '\n';
    if (err->send_version_header) {
      http::Header h[] = {{"Sec-WebSocket-Version", kWebSocketVersion}};
      conn.respond(err->status, "text/plain; charset=utf-8", body, h, false);
    } else {
      conn.respond(err->status, "text/plain; charset=utf-8", body, {}, false);
    }
    return;
  }

  std::size_t li = conn.loop().index();
  // After the handshake's own checks (a malformed request is a 400 whatever its origin).
  if (!origins_.allows(head.header("Origin"))) {
    per_loop_[li]->stats.origin_refused.add();
    conn.respond(403, "text/plain; charset=utf-8", "origin not allowed\n", {}, false);
    return;
  }
  ConnectionId id = reserve_id(li);
  if (id == 0) {
    conn.respond(503, "text/plain; charset=utf-8", "this loop holds the most connections it can address\n", {},
                 false);
    return;
  }
  std::string_view protocol = choose_subprotocol(head);
  std::string response;
  write_upgrade_response(response, accept_key(*req.key), protocol);
  conn.send(response);
  conn.upgraded();

  auto* session = new Session(conn, *this, id, protocol);
  conn.loop().dispose(&conn);
  attach(*session);
  session->start(rest, n);
}

ConnectionId Endpoint::reserve_id(std::size_t li) {
  PerLoop& pl = *per_loop_[li];
  // The slot attach() will take: the first free one, else a new one at the end.
  std::size_t slot = pl.free_head ? pl.free_head - 1 : pl.slots.size();
  if (slot > kSlotMask) return 0;
  std::uint32_t serial = pl.next_serial++;
  if (pl.next_serial == 0) pl.next_serial = 1;  // keeps every id non-zero
  return (static_cast<ConnectionId>(li) << kLoopShift) | (static_cast<ConnectionId>(serial) << kSerialShift) | slot;
}

void Endpoint::attach(Session& s) {
  PerLoop& pl = *per_loop_[s.loop().index()];
  std::size_t slot = slot_of(s.id());
  auto value = reinterpret_cast<std::uintptr_t>(&s);
  if (pl.free_head && slot == pl.free_head - 1) {
    pl.free_head = pl.slots[slot] >> 1;
    pl.slots[slot] = value;
  } else {
    pl.slots.push_back(value);  // reserve_id() named the next new slot
  }
  pl.stats.open.add();
  pl.stats.opened.add();
}

void Endpoint::detach(Session& s) {
  PerLoop& pl = *per_loop_[s.loop().index()];
  std::size_t slot = slot_of(s.id());
  if (slot >= pl.slots.size() || pl.slots[slot] != reinterpret_cast<std::uintptr_t>(&s)) return;  // not attached
  pl.slots[slot] = (pl.free_head << 1) | 1;
  pl.free_head = slot + 1;
  pl.stats.open.sub();
}

Session* Endpoint::find(PerLoop& pl, ConnectionId id) const noexcept {
  std::size_t slot = slot_of(id);
  if (slot >= pl.slots.size() || is_free(pl.slots[slot])) return nullptr;
  auto* s = reinterpret_cast<Session*>(pl.slots[slot]);
  return s->id() == id ? s : nullptr;
}

BufferRef Endpoint::build_frame(std::string_view payload, bool binary) {
  BufferRef f = BufferRef::allocate(kMaxFrameHeader + payload.size());
  std::size_t h = write_frame_header(f->data(), binary ? Opcode::Binary : Opcode::Text, true, payload.size());
  if (!payload.empty()) std::memcpy(f->data() + h, payload.data(), payload.size());
  f->set_size(h + payload.size());
  return f;
}

std::uint64_t Endpoint::topic_tag(std::string_view topic) noexcept {
  return topic.empty() ? 0 : (std::hash<std::string_view>{}(topic) | 1);
}

void Endpoint::deliver_local(std::size_t li, const BufferRef& frame, std::uint64_t tag) {
  PerLoop& pl = *per_loop_[li];
  if (pl.stats.open.get() == 0) return;
  const std::size_t len = frame->size();
  const BufferRef* buf = &frame;
  std::size_t off = 0;
  if (len <= kArenaFrameMax) {
    BufferRef& a = pl.arena;
    if (a && a->unique()) a->set_size(0);  // no queue holds any of it any more
    if (!a || a->capacity() - a->size() < len) a = BufferRef::allocate(kArenaBytes);
    off = a->size();
    std::memcpy(a->data() + off, frame->data(), len);
    a->set_size(off + len);
    buf = &a;
  }
  // Merged slices are dropped whole; DropOldest promises to drop no more than needed.
  const bool merge = options_.slow_consumer != SlowConsumerPolicy::DropOldest;
  std::uint64_t sent = 0;
  // A send never attaches or detaches a session (closing is deferred to the end of the
  // iteration), so the table is stable during the walk.
  for (std::uintptr_t slot : pl.slots) {
    if (!is_free(slot)) sent += reinterpret_cast<Session*>(slot)->send_frame(*buf, off, len, tag, merge);
  }
  pl.stats.messages_out.add(sent);
}

void Endpoint::broadcast(std::string_view payload, bool binary, std::string_view topic) {
  BufferRef frame = build_frame(payload, binary);
  std::uint64_t tag = topic_tag(topic);
  for (std::size_t i = 0; i < loops_.size(); ++i) {
    loop::EventLoop* l = loops_[i];
    if (l->in_loop_thread()) {
      deliver_local(i, frame, tag);
    } else {
      l->post([this, i, frame, tag] { deliver_local(i, frame, tag); });
    }
  }
}

bool Endpoint::send_to(ConnectionId id, std::string_view payload, bool binary) {
  std::size_t li = loop_of(id);
  if (li >= loops_.size()) return false;
  loop::EventLoop* l = loops_[li];
  if (l->in_loop_thread()) {
    Session* s = find(*per_loop_[li], id);
    return s && s->send(payload, binary, {});
  }
  l->post([this, li, id, data = std::string(payload), binary] {
    if (Session* s = find(*per_loop_[li], id)) s->send(data, binary, {});
  });
  return true;
}

std::size_t Endpoint::count_on_loop(std::size_t li) const { return per_loop_[li]->stats.open.get(); }

std::size_t Endpoint::connection_count() const {
  std::size_t n = 0;
  for (const auto& pl : per_loop_) n += pl->stats.open.get();
  return n;
}

EndpointStats Endpoint::stats() const {
  EndpointStats s;
  for (const auto& pl : per_loop_) {
    s.open += pl->stats.open.get();
    s.opened += pl->stats.opened.get();
    s.messages_in += pl->stats.messages_in.get();
    s.messages_out += pl->stats.messages_out.get();
    s.dropped += pl->stats.dropped.get();
    s.slow_closed += pl->stats.slow_closed.get();
    s.protocol_errors += pl->stats.protocol_errors.get();
    s.origin_refused += pl->stats.origin_refused.get();
  }
  return s;
}

void Endpoint::close_all_on_this_loop(std::uint16_t code, std::string_view reason) {
  for (loop::EventLoop* l : loops_) {
    if (!l->in_loop_thread()) continue;
    for (std::uintptr_t slot : per_loop_[l->index()]->slots) {
      if (!is_free(slot)) reinterpret_cast<Session*>(slot)->close(code, reason);
    }
  }
}

}  // namespace wirehub::ws
