#include "ws/ws_endpoint.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include "core/clock.hpp"
#include "fanout/history_json.hpp"
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

std::int64_t unix_now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}
// The clock of topic history: monotonic, shared by every thread that publishes.
std::uint64_t history_now_ms() { return steady_now_ns() / 1'000'000; }
BufferRef json_buffer(const std::string& json) { return BufferRef::copy_of(json); }
// A numbered message in the relay's form (flags byte, 2-byte topic length, payload: see
// relay_message) as its JSON envelope.
BufferRef relayed_json(std::string_view topic, fanout::HistoryPosition p, std::string_view m) {
  const bool binary = !m.empty() && m[0] == 1;
  return json_buffer(fanout::numbered_message_json(topic, p, m.size() >= 3 ? m.substr(3) : std::string_view(), binary));
}
}  // namespace

Endpoint::Endpoint(std::string path, WebSocketHandlers handlers, WebSocketOptions options,
                   std::vector<loop::EventLoop*> loops)
    : path_(std::move(path)),
      handlers_(std::move(handlers)),
      options_(std::move(options)),
      origins_(options_.allowed_origins),
      auth_(options_.jwt ? std::make_unique<TokenAuth>(*options_.jwt) : nullptr),
      loops_(std::move(loops)) {
  if (loops_.size() > kMaxLoops) throw std::invalid_argument("at most 256 loops");
  for (std::size_t i = 0; i < loops_.size(); ++i) {
    per_loop_.push_back(std::make_unique<PerLoop>());
    per_loop_[i]->expiry_timer.endpoint = this;
    per_loop_[i]->expiry_timer.loop_index = i;
  }
  const CompressionOptions& c = options_.compression;
  if (c.level < 0 || c.level > 9) throw std::invalid_argument("compression level must be 0..9");
  if (c.mem_level < 1 || c.mem_level > 9) throw std::invalid_argument("compression mem_level must be 1..9");
  if (c.server_max_window_bits < 8 || c.server_max_window_bits > 15 || c.client_max_window_bits < 8 ||
      c.client_max_window_bits > 15)
    throw std::invalid_argument("compression window bits must be 8..15");
  deflate_policy_.server_max_window_bits = static_cast<std::uint8_t>(c.server_max_window_bits);
  deflate_policy_.client_max_window_bits = static_cast<std::uint8_t>(c.client_max_window_bits);
  const bool shared = c.mode == CompressionMode::Shared;
  deflate_policy_.client_no_context_takeover = shared;
  // DropOldest and KeepLatest remove frames already queued: a client whose window kept a
  // removed message's history would decode the next ones wrongly. With those policies
  // our compressor never keeps context.
  deflate_policy_.server_no_context_takeover = shared || options_.slow_consumer == SlowConsumerPolicy::DropOldest ||
                                               options_.slow_consumer == SlowConsumerPolicy::KeepLatest;
  if (options_.history.max_messages > 0) {
    history_ = std::make_unique<fanout::TopicHistory>(
        fanout::TopicHistory::Numbering::Here,
        fanout::TopicHistory::Limits{options_.history.max_messages, options_.history.max_age_ms});
  }
}

Endpoint::~Endpoint() = default;

std::string_view Endpoint::choose_subprotocol(const http::RequestHead& head, bool skip_token) const {
  if (options_.subprotocols.empty() && !handlers_.select_subprotocol && !skip_token) return {};
  std::vector<std::string_view> offered = offered_subprotocols(head);
  if (skip_token) {
    for (std::size_t i = 0; i < offered.size(); ++i) {
      if (offered[i] == kTokenSubprotocol) {
        offered.erase(offered.begin() + static_cast<std::ptrdiff_t>(i),
                      offered.begin() + static_cast<std::ptrdiff_t>(std::min(i + 2, offered.size())));
        break;
      }
    }
    // A client that offered only the token still needs an offered value back: many
    // clients (Node's ws among them) fail a connection whose offers all went unanswered.
    if (options_.subprotocols.empty() && !handlers_.select_subprotocol) return kTokenSubprotocol;
  }
  if (handlers_.select_subprotocol) {
    std::string_view chosen = handlers_.select_subprotocol(offered);
    // Only an offered value may be answered (RFC 6455 4.2.2); anything else means none.
    for (std::string_view theirs : offered) {
      if (!chosen.empty() && theirs == chosen) return theirs;
    }
    return skip_token ? kTokenSubprotocol : std::string_view{};
  }
  // Server preference order; subprotocol names are case-sensitive (RFC 6455 4.1).
  for (const std::string& mine : options_.subprotocols) {
    for (std::string_view theirs : offered) {
      if (theirs == mine) return mine;
    }
  }
  return skip_token ? kTokenSubprotocol : std::string_view{};
}

std::optional<DeflateNegotiation> Endpoint::negotiate_compression(const http::RequestHead& head) {
  if (!options_.compression.enabled) return std::nullopt;
  std::vector<std::string_view> lines;  // every Sec-WebSocket-Extensions field line, in order
  for (const auto& h : head.headers) {
    if (h.name.size() == 24 && strncasecmp(h.name.data(), "Sec-WebSocket-Extensions", 24) == 0)
      lines.push_back(h.value);
  }
  if (lines.empty()) return std::nullopt;
  auto n = negotiate_deflate(lines, deflate_policy_);
  if (n && n->agreement.server_no_context_takeover && n->agreement.server_window_bits >= 9) {
    const auto bit = static_cast<std::uint16_t>(1u << n->agreement.server_window_bits);
    shared_windows_.fetch_or(bit, std::memory_order_relaxed);
  }
  return n;
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

  std::size_t li = conn.loop().index();
  if (auto err = check_upgrade(req)) {
    (err->status == 426 ? per_loop_[li]->stats.handshakes_unsupported_version
                        : per_loop_[li]->stats.handshakes_bad_request)
        .add();
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

  // After the handshake's own checks (a malformed request is a 400 whatever its origin).
  if (!origins_.allows(head.header("Origin"))) {
    per_loop_[li]->stats.origin_refused.add();
    conn.respond(403, "text/plain; charset=utf-8", "origin not allowed\n", {}, false);
    return;
  }
  // Then the token: every refusal happens before the upgrade (RFC 6750 3).
  std::optional<TokenAuth::Verdict> verdict;
  if (auth_) {
    verdict = auth_->check(head, unix_now_ms() / 1000);
    if (verdict->status != 0) {
      per_loop_[li]->stats.auth_refused.add();
      http::Header h[] = {{"WWW-Authenticate", verdict->challenge}};
      std::string body(verdict->reason);
      body += '\n';
      conn.respond(verdict->status, "text/plain; charset=utf-8", body, h, false);
      return;
    }
  }
  ConnectionId id = reserve_id(li);
  if (id == 0) {
    per_loop_[li]->stats.handshakes_loop_full.add();
    conn.respond(503, "text/plain; charset=utf-8", "this loop holds the most connections it can address\n", {},
                 false);
    return;
  }
  std::string_view protocol = choose_subprotocol(head, verdict && verdict->via_subprotocol);
  auto deflate = negotiate_compression(head);
  std::string response;
  write_upgrade_response(response, accept_key(*req.key), protocol,
                         deflate ? "Sec-WebSocket-Extensions: " + deflate->response + "\r\n" : std::string());
  per_loop_[li]->stats.handshakes_accepted.add();  // before the 101 can reach the client
  conn.send(response);
  conn.upgraded();

  auto* session = new Session(conn, *this, id, protocol, deflate ? deflate->agreement : DeflateAgreement{});
  conn.loop().dispose(&conn);
  attach(*session);
  if (verdict) remember_principal(*session, std::move(verdict->principal));
  session->start(rest, n);
}

void Endpoint::remember_principal(Session& s, Principal p) {
  PerLoop& pl = *per_loop_[s.loop().index()];
  const std::size_t slot = slot_of(s.id());
  if (pl.principals.size() <= slot) pl.principals.resize(slot + 1);
  auto a = std::make_unique<PerLoop::Authenticated>();
  if (std::int64_t close_s = auth_->close_at_s(p)) {
    // Wall-clock expiry to loop time: the loop's clock is monotonic, so a later change of
    // the system clock moves no deadline.
    const std::int64_t left_ms = close_s * 1000 - unix_now_ms();
    const std::uint64_t deadline = s.loop().now_ms() + static_cast<std::uint64_t>(std::max<std::int64_t>(left_ms, 0));
    a->deadline = deadline;
    pl.expiries.emplace(deadline, s.id());
    if (pl.expiries.begin()->second == s.id()) arm_expiry_timer(pl, s.loop());
  }
  a->principal = std::move(p);
  pl.principals[slot] = std::move(a);
}

void Endpoint::arm_expiry_timer(PerLoop& pl, loop::EventLoop& l) {
  if (pl.expiries.empty()) {
    l.timers().cancel(pl.expiry_timer);
    return;
  }
  const std::uint64_t now = l.now_ms(), at = pl.expiries.begin()->first;
  l.timers().arm(pl.expiry_timer, now, at > now ? at - now : 0);
}

void Endpoint::expire_tokens(std::size_t li) {
  PerLoop& pl = *per_loop_[li];
  loop::EventLoop& l = *loops_[li];
  const std::uint64_t now = l.now_ms();
  while (!pl.expiries.empty() && pl.expiries.begin()->first <= now) {
    const ConnectionId id = pl.expiries.begin()->second;
    pl.expiries.erase(pl.expiries.begin());
    if (Session* s = find(pl, id)) {
      pl.stats.auth_expired.add();
      s->close(to_int(CloseCode::PolicyViolation), "token expired");
    }
  }
  arm_expiry_timer(pl, l);
}

const Principal* Endpoint::principal(const Session& s) const noexcept {
  const PerLoop& pl = *per_loop_[s.loop().index()];
  const std::size_t slot = slot_of(s.id());
  return slot < pl.principals.size() && pl.principals[slot] ? &pl.principals[slot]->principal : nullptr;
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
  if (slot < pl.deflate.size()) pl.deflate[slot].reset();
  // The slot will be reused: a publish must not reach its next session by this one's topics.
  pl.topics.remove(static_cast<fanout::TopicIndex::Slot>(slot));
  pl.stats.open.sub();
  if (slot < pl.principals.size() && pl.principals[slot]) {
    if (std::uint64_t d = pl.principals[slot]->deadline) pl.expiries.erase({d, s.id()});
    pl.principals[slot].reset();
  }
}

bool Endpoint::subscribe(Session& s, std::string_view topic) {
  PerLoop& pl = *per_loop_[s.loop().index()];
  // A session that is closing, or already detached (an on_close handler), would otherwise
  // leave an entry behind for the next session of its slot.
  if (!s.accepts_messages() || find(pl, s.id()) != &s) return false;
  return pl.topics.subscribe(static_cast<fanout::TopicIndex::Slot>(slot_of(s.id())), topic);
}

bool Endpoint::resume(Session& s, std::string_view topic, std::string_view position) {
  if (!history_) return subscribe(s, topic);
  const std::size_t li = s.loop().index();
  PerLoop& pl = *per_loop_[li];
  const auto slot = static_cast<fanout::TopicIndex::Slot>(slot_of(s.id()));
  if (topic.empty() || !s.accepts_messages() || find(pl, s.id()) != &s || pl.topics.is_subscribed(slot, topic)) {
    return false;
  }
  const std::optional<fanout::HistoryPosition> from = fanout::parse_position(position);
  if (history_->numbering() == fanout::TopicHistory::Numbering::Elsewhere) {
    resume_across_nodes(li, s.id(), std::string(topic), from);
    return true;
  }
  history_->read_after(topic, from, history_now_ms(), [&](fanout::TopicHistory::Replay&& r) {
    if (r.kind != fanout::TopicHistory::Replay::Kind::Messages) {
      r.messages.assign(1, json_buffer(fanout::reset_message_json(topic, r.now)));
    }
    // Under the history's lock: the replay reaches the loop after every message numbered
    // up to r.now and before the next one, so the floor only confirms it.
    post_replay(li, s.id(), std::string(topic), std::move(r.messages), r.now.seq, false);
  });
  return true;
}

void Endpoint::resume_across_nodes(std::size_t li, ConnectionId id, std::string topic,
                                   std::optional<fanout::HistoryPosition> from) {
  // Watch the topic first, so that from the moment the backplane reads its history every
  // newer message also reaches this node; the replay is the history up to that read plus
  // what arrived here since (the cache), and the connection's floor skips what it holds.
  const std::uint64_t after = from ? from->seq : 0;
  relay_->watch(topic, [this, li, id, topic, from, after] {
    relay_->read_history(topic, after, [this, li, id, topic, from](fanout::Relay::History h) {
      auto make = [&](fanout::HistoryPosition p, std::string_view m) { return relayed_json(topic, p, m); };
      history_->replay_after_read(
          topic, from, {.ok = h.ok, .epoch = h.epoch, .first = h.first, .last = h.last, .messages = &h.messages},
          history_now_ms(), make, [&](fanout::TopicHistory::Replay&& r) {
            if (r.kind != fanout::TopicHistory::Replay::Kind::Messages) {
              r.messages.assign(1, json_buffer(fanout::reset_message_json(topic, r.now)));
            }
            post_replay(li, id, topic, std::move(r.messages), r.now.seq, true);
          });
    });
  });
}

void Endpoint::post_replay(std::size_t li, ConnectionId id, std::string topic, std::vector<BufferRef> replay,
                           std::uint64_t floor, bool release_watch) {
  loops_[li]->post([this, li, id, topic = std::move(topic), replay = std::move(replay), floor, release_watch] {
    PerLoop& pl = *per_loop_[li];
    Session* s = find(pl, id);
    const auto slot = static_cast<fanout::TopicIndex::Slot>(slot_of(id));
    if (s != nullptr && s->accepts_messages() && !pl.topics.is_subscribed(slot, topic)) {
      for (const BufferRef& m : replay) s->send(m->view(), false, topic);
      if (s->accepts_messages()) pl.topics.subscribe(slot, topic, floor);
    }
    // After the subscribe above: the node's subscription to the topic never lapses.
    if (release_watch) relay_->unwatch(topic);
  });
}

bool Endpoint::unsubscribe(Session& s, std::string_view topic) {
  PerLoop& pl = *per_loop_[s.loop().index()];
  if (find(pl, s.id()) != &s) return false;
  return pl.topics.unsubscribe(static_cast<fanout::TopicIndex::Slot>(slot_of(s.id())), topic);
}

Session* Endpoint::find(PerLoop& pl, ConnectionId id) const noexcept {
  std::size_t slot = slot_of(id);
  if (slot >= pl.slots.size() || is_free(pl.slots[slot])) return nullptr;
  auto* s = reinterpret_cast<Session*>(pl.slots[slot]);
  return s->id() == id ? s : nullptr;
}

ConnectionDeflate& Endpoint::deflate_state(Session& s) {
  PerLoop& pl = *per_loop_[s.loop().index()];
  std::size_t slot = slot_of(s.id());
  if (pl.deflate.size() <= slot) pl.deflate.resize(pl.slots.size());
  auto& p = pl.deflate[slot];
  if (!p) p = std::make_unique<ConnectionDeflate>();
  return *p;
}

BufferRef Endpoint::build_frame(std::string_view payload, bool binary, bool rsv1) {
  BufferRef f = BufferRef::allocate(kMaxFrameHeader + payload.size());
  std::size_t h =
      write_frame_header(f->data(), binary ? Opcode::Binary : Opcode::Text, true, payload.size(), nullptr, rsv1);
  if (!payload.empty()) std::memcpy(f->data() + h, payload.data(), payload.size());
  f->set_size(h + payload.size());
  return f;
}

std::uint64_t Endpoint::topic_tag(std::string_view topic) noexcept {
  return topic.empty() ? 0 : (std::hash<std::string_view>{}(topic) | 1);
}

void Endpoint::place(PerLoop& pl, const BufferRef& frame, BufferRef& buf, std::size_t& off, std::size_t& len) {
  len = frame->size();
  if (len > kArenaFrameMax) {
    buf = frame;
    off = 0;
    return;
  }
  BufferRef& a = pl.arena;
  if (a && a->unique()) a->set_size(0);  // no queue holds any of it any more
  if (!a || a->capacity() - a->size() < len) a = BufferRef::allocate(kArenaBytes);
  off = a->size();
  std::memcpy(a->data() + off, frame->data(), len);
  a->set_size(off + len);
  buf = a;  // a reference of its own: the arena may be replaced by a later placement
}

Endpoint::PlacedFrame Endpoint::place_frame(std::size_t li, const BufferRef& frame, std::size_t header_bytes,
                                            bool binary) {
  PlacedFrame f;
  place(*per_loop_[li], frame, f.buf, f.off, f.len);
  f.header_bytes = header_bytes;
  f.binary = binary;
  return f;
}

bool Endpoint::send_placed(Session& s, const PlacedFrame& f) {
  const std::string_view payload = f.payload();
  if (s.broadcast_form(payload.size()) != Session::BroadcastForm::Plain) return s.send(payload, f.binary, {});
  // Merged slices are dropped whole; DropOldest promises to drop no more than needed.
  const bool merge = options_.slow_consumer != SlowConsumerPolicy::DropOldest;
  if (!s.send_frame(f.buf, f.off, f.len, 0, merge)) return false;
  LoopStats& stats = per_loop_[s.loop().index()]->stats;
  stats.messages_out.add();
  stats.messages_queued.add();
  stats.bytes_out.add(payload.size());
  return true;
}

template <class Receivers>
void Endpoint::deliver_local(std::size_t li, const BroadcastFrames& frames, std::uint64_t tag, Receivers receivers) {
  PerLoop& pl = *per_loop_[li];
  if (pl.stats.open.get() == 0) return;
  // Where each form of the frame is queued from, decided at its first receiver: small
  // frames are copied into this loop's arena, so consecutive broadcasts merge per receiver.
  struct Placed {
    BufferRef buf;  // a reference of its own: the arena may be replaced by a later form
    std::size_t off = 0, len = 0;
  };
  Placed placed[9];  // [0..7]: deflated by window bits - 8; [8]: plain
  const std::string_view payload(frames.plain->data() + frames.header_bytes,
                                 frames.plain->size() - frames.header_bytes);
  // Merged slices are dropped whole; DropOldest promises to drop no more than needed.
  const bool merge = options_.slow_consumer != SlowConsumerPolicy::DropOldest;
  std::uint64_t sent = 0;
  // A send never attaches or detaches a session, nor changes a subscription (closing is
  // deferred to the end of the iteration, and no handler runs), so whatever receivers
  // walks (the slot table, a topic's members) is stable during the walk.
  receivers([&](Session& s) {
    Placed* p = &placed[8];
    const BufferRef* frame = &frames.plain;
    switch (s.broadcast_form(payload.size())) {
      case Session::BroadcastForm::Plain:
        break;
      case Session::BroadcastForm::Shared:
        if (const BufferRef& d = frames.deflated[static_cast<std::size_t>(s.shared_window_bits() - 8)]) {
          p = &placed[s.shared_window_bits() - 8];
          frame = &d;
        }
        break;
      case Session::BroadcastForm::Own:
        sent += s.queue_message(payload, frames.binary, tag);
        return;
    }
    if (!p->buf) place(pl, *frame, p->buf, p->off, p->len);
    sent += s.send_frame(p->buf, p->off, p->len, tag, merge);
  });
  pl.stats.messages_out.add(sent);
  if (sent) {
    pl.stats.messages_queued.add(sent);
    pl.stats.bytes_out.add(sent * payload.size());
    const std::uint64_t now = steady_now_ns();
    pl.stats.delivery_ns.observe(now > frames.called_ns ? now - frames.called_ns : 0);
  }
}

Endpoint::BroadcastFrames Endpoint::build_frames(std::string_view payload, bool binary) {
  BroadcastFrames frames;
  frames.called_ns = steady_now_ns();
  frames.plain = build_frame(payload, binary);
  frames.header_bytes = static_cast<std::uint8_t>(frames.plain->size() - payload.size());
  frames.binary = binary;
  const CompressionOptions& c = options_.compression;
  if (c.enabled && payload.size() >= c.min_size) {
    // Once per window size that receivers without context takeover use, on the calling
    // thread, for every receiver on every loop.
    const unsigned windows = shared_windows_.load(std::memory_order_relaxed);
    thread_local std::string z;
    for (int bits = 9; bits <= 15; ++bits) {
      if (!(windows >> bits & 1)) continue;
      thread_deflater(c.level, bits, c.mem_level).compress(payload, z);
      // Not smaller: those receivers get the plain frame (RSV1 is per message).
      if (z.size() < payload.size()) frames.deflated[static_cast<std::size_t>(bits - 8)] = build_frame(z, binary, true);
    }
    if (z.capacity() > (256u << 10)) std::string().swap(z);
  }
  return frames;
}

// What a relay carries for a broadcast or publish: one flags byte (bit 0: binary), the
// KeepLatest topic of a broadcast as a 2-byte little-endian length and its bytes (a
// publish's topic is the relay's channel), then the payload.
namespace {
std::string relay_message(std::string_view payload, bool binary, std::string_view keep_latest_topic) {
  const std::size_t tn = std::min<std::size_t>(keep_latest_topic.size(), 0xFFFF);
  std::string m;
  m.reserve(3 + tn + payload.size());
  m.push_back(static_cast<char>(binary ? 1 : 0));
  m.push_back(static_cast<char>(tn & 0xFF));
  m.push_back(static_cast<char>(tn >> 8));
  m.append(keep_latest_topic.substr(0, tn));
  m.append(payload);
  return m;
}
}  // namespace

void Endpoint::set_relay(fanout::Relay* relay) {
  relay_ = relay;
  if (relay && history_) {
    history_ = std::make_unique<fanout::TopicHistory>(fanout::TopicHistory::Numbering::Elsewhere, history_->limits());
  }
  for (auto& pl : per_loop_) pl->topics.set_relay(relay);
  if (relay) relay->watch("");  // broadcasts: every node takes them while it runs
}

void Endpoint::deliver_relayed(std::string_view topic, std::string_view message) {
  if (message.size() < 3 || static_cast<unsigned char>(message[0]) > 1) {
    relay_malformed_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const bool binary = message[0] == 1;
  const std::size_t tn = static_cast<unsigned char>(message[1]) | static_cast<std::size_t>(static_cast<unsigned char>(message[2])) << 8;
  if (message.size() - 3 < tn || (!topic.empty() && tn != 0)) {
    relay_malformed_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const std::string_view payload = message.substr(3 + tn);
  if (topic.empty()) {
    broadcast_here(payload, binary, message.substr(3, tn));
  } else {
    publish_here(topic, payload, binary);
  }
}

void Endpoint::broadcast(std::string_view payload, bool binary, std::string_view topic) {
  broadcast_here(payload, binary, topic);
  if (relay_) relay_->send({}, relay_message(payload, binary, topic));
}

void Endpoint::publish(std::string_view topic, std::string_view payload, bool binary) {
  if (topic.empty()) return;  // nobody can subscribe to it
  if (history_) {
    publish_numbered(topic, payload, binary);
    return;
  }
  publish_here(topic, payload, binary);
  if (relay_) relay_->send(topic, relay_message(payload, binary, {}));
}

void Endpoint::publish_numbered(std::string_view topic, std::string_view payload, bool binary) {
  if (history_->numbering() == fanout::TopicHistory::Numbering::Elsewhere) {
    // Delivered here too when the backplane brings it back numbered: one order everywhere.
    relay_->send_numbered(topic, relay_message(payload, binary, {}));
    return;
  }
  const std::string t(topic);
  history_->append(
      topic, history_now_ms(),
      [&](fanout::HistoryPosition p) { return json_buffer(fanout::numbered_message_json(topic, p, payload, binary)); },
      [&](const BufferRef& json, fanout::HistoryPosition p) { deliver_numbered_json(t, json, p.seq); });
}

void Endpoint::deliver_numbered(std::string_view topic, fanout::HistoryPosition p, std::string_view message) {
  if (!history_ || topic.empty() || message.size() < 3 || static_cast<unsigned char>(message[0]) > 1) {
    relay_malformed_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const std::string t(topic);
  const bool binary = message[0] == 1;
  const std::string_view payload = message.substr(3);
  auto make = [&](fanout::HistoryPosition q) { return json_buffer(fanout::numbered_message_json(topic, q, payload, binary)); };
  const fanout::TopicHistory::Acceptance a = history_->accept(topic, p, history_now_ms(), make,
                                                              numbered_delivery(t), numbered_break(t));
  if (a.kind != fanout::TopicHistory::Accepted::Gap) return;
  // This node missed the numbers after a.last (its subscription lapsed while Redis stayed
  // up): bring them from the history, then deliver what waited behind them.
  relay_->read_history(topic, a.last, [this, t](fanout::Relay::History h) {
    auto make_fetched = [&](fanout::HistoryPosition q, std::string_view m) { return relayed_json(t, q, m); };
    history_->fill(t, {.ok = h.ok, .epoch = h.epoch, .messages = &h.messages}, history_now_ms(), make_fetched,
                   numbered_delivery(t), numbered_break(t));
  });
}

std::function<void(const BufferRef&, fanout::HistoryPosition)> Endpoint::numbered_delivery(const std::string& topic) {
  return [this, &topic](const BufferRef& json, fanout::HistoryPosition p) { deliver_numbered_json(topic, json, p.seq); };
}

std::function<void(fanout::HistoryPosition)> Endpoint::numbered_break(const std::string& topic) {
  // This node cannot give its subscribers the messages before `before` (they are gone,
  // or the numbering started over): each is told with a reset, and goes on from there.
  return [this, &topic](fanout::HistoryPosition before) {
    deliver_numbered_json(topic, json_buffer(fanout::reset_message_json(topic, before)), 0);
  };
}

void Endpoint::deliver_numbered_json(const std::string& topic, const BufferRef& json, std::uint64_t seq) {
  const BroadcastFrames frames = build_frames(json->view(), false);
  const std::uint64_t tag = topic_tag(topic);
  // Always posted, even to the calling loop: deliveries of one topic are made under the
  // history's lock in number order, and a replay posted under it must find them queued.
  for (std::size_t li = 0; li < loops_.size(); ++li) {
    loops_[li]->post([this, li, frames, tag, topic, seq] {
      PerLoop& pl = *per_loop_[li];
      // seq 0: a reset, for every subscriber; the floors it leaves behind are of the old
      // numbering, so they go.
      if (seq == 0) pl.topics.clear_floors(topic);
      deliver_local(li, frames, tag, [&pl, &topic, seq](auto&& visit) {
        const fanout::TopicIndex::Members m = pl.topics.members(topic);
        for (std::size_t i = 0; i < m.slots.size(); ++i) {
          if (seq == 0 || m.floors[i] < seq) visit(*reinterpret_cast<Session*>(pl.slots[m.slots[i]]));
        }
      });
    });
  }
}

void Endpoint::broadcast_here(std::string_view payload, bool binary, std::string_view topic) {
  const BroadcastFrames frames = build_frames(payload, binary);
  const std::uint64_t tag = topic_tag(topic);
  auto deliver = [this, tag](std::size_t li, const BroadcastFrames& f) {
    PerLoop& pl = *per_loop_[li];
    deliver_local(li, f, tag, [&pl](auto&& visit) {
      for (std::uintptr_t slot : pl.slots) {
        if (!is_free(slot)) visit(*reinterpret_cast<Session*>(slot));
      }
    });
  };
  for (std::size_t i = 0; i < loops_.size(); ++i) {
    if (loops_[i]->in_loop_thread()) {
      deliver(i, frames);
    } else {
      loops_[i]->post([deliver, i, frames] { deliver(i, frames); });
    }
  }
}

void Endpoint::publish_here(std::string_view topic, std::string_view payload, bool binary) {
  const BroadcastFrames frames = build_frames(payload, binary);
  const std::uint64_t tag = topic_tag(topic);
  auto deliver = [this, tag](std::size_t li, const BroadcastFrames& f, std::string_view t) {
    PerLoop& pl = *per_loop_[li];
    deliver_local(li, f, tag, [&pl, t](auto&& visit) {
      for (fanout::TopicIndex::Slot slot : pl.topics.subscribers(t)) {
        visit(*reinterpret_cast<Session*>(pl.slots[slot]));  // detach() unsubscribes: live
      }
    });
  };
  // Every loop gets the message, subscribers or not: whether a loop has any is known only
  // on that loop, and a subscribe already posted there (post_to) must be seen by it.
  for (std::size_t i = 0; i < loops_.size(); ++i) {
    if (loops_[i]->in_loop_thread()) {
      deliver(i, frames, topic);
    } else {
      loops_[i]->post([deliver, i, frames, t = std::string(topic)] { deliver(i, frames, t); });
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

bool Endpoint::post_to(ConnectionId id, std::function<void(WebSocket&)> fn) {
  std::size_t li = loop_of(id);
  if (li >= loops_.size() || !fn) return false;
  loop::EventLoop* l = loops_[li];
  // On the owning loop, at once, like send_to and broadcast there: posting would let a
  // later send_to or broadcast of the same thread overtake fn.
  if (l->in_loop_thread()) {
    Session* s = find(*per_loop_[li], id);
    if (!s || !s->accepts_messages()) return false;
    fn(*s);
    return true;
  }
  l->post([this, li, id, fn = std::move(fn)] {
    Session* s = find(*per_loop_[li], id);
    if (s && s->accepts_messages()) fn(*s);
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
    s.auth_refused += pl->stats.auth_refused.get();
    s.auth_expired += pl->stats.auth_expired.get();
  }
  return s;
}

void Endpoint::close_all_on_this_loop(std::uint16_t code, std::string_view reason) {
  for (loop::EventLoop* l : loops_) {
    if (!l->in_loop_thread()) continue;
    l->timers().cancel(per_loop_[l->index()]->expiry_timer);
    for (std::uintptr_t slot : per_loop_[l->index()]->slots) {
      if (!is_free(slot)) reinterpret_cast<Session*>(slot)->close(code, reason);
    }
  }
}

}  // namespace wirehub::ws
