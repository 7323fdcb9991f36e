#include "sse/sse_endpoint.hpp"

#include <stdexcept>

#include "core/clock.hpp"
#include "fanout/history_json.hpp"
#include "sse/event_writer.hpp"
#include "sse/sse_stream.hpp"
#include "wirehub/server.hpp"

namespace wirehub::sse {

namespace {

using Slots = SlotTable<Stream>;
constexpr std::string_view kText = "text/plain; charset=utf-8";

// No Content-Length and no chunking: the body is every event until one side closes, so
// the close delimits it (RFC 9112 6.3, last rule), and the connection is never reused.
constexpr std::string_view kHead =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/event-stream; charset=utf-8\r\n"
    "Cache-Control: no-store\r\n"
    "X-Accel-Buffering: no\r\n"  // tells a proxy (nginx) not to hold events back
    "Connection: close\r\n"
    "\r\n";

std::uint64_t history_now_ms() { return steady_now_ns() / 1'000'000; }

// What a relay carries for a numbered event: its event name's length (2 bytes,
// little-endian), the name, then the data; each node writes the id (the position) itself.
std::string numbered_fields(const SseEvent& e) {
  const std::size_t n = std::min<std::size_t>(e.event.size(), 0xFFFF);
  std::string m;
  m.reserve(2 + n + e.data.size());
  m.push_back(static_cast<char>(n & 0xFF));
  m.push_back(static_cast<char>(n >> 8));
  m.append(e.event.substr(0, n)).append(e.data);
  return m;
}
std::optional<SseEvent> parse_numbered_fields(std::string_view m) {
  if (m.size() < 2) return std::nullopt;
  const std::size_t n = static_cast<unsigned char>(m[0]) | static_cast<std::size_t>(static_cast<unsigned char>(m[1])) << 8;
  if (m.size() - 2 < n) return std::nullopt;
  return SseEvent{.data = m.substr(2 + n), .event = m.substr(2, n)};
}
BufferRef numbered_event(const SseEvent& e, fanout::HistoryPosition p) {
  const std::string id = fanout::format_position(p);
  return Endpoint::format({.data = e.data, .id = id, .event = e.event});
}
// A numbered event in the relay's form (numbered_fields), formatted.
BufferRef relayed_event(fanout::HistoryPosition p, std::string_view fields) {
  const std::optional<SseEvent> e = parse_numbered_fields(fields);
  return numbered_event(e ? *e : SseEvent{}, p);
}
BufferRef reset_event(std::string_view topic, fanout::HistoryPosition p) {
  const std::string id = fanout::format_position(p);
  const std::string data = fanout::reset_message_json(topic, p);
  return Endpoint::format({.data = data, .id = id, .event = "reset"});
}

}  // namespace

Endpoint::Endpoint(std::string path, SseHandlers handlers, SseOptions options, std::vector<loop::EventLoop*> loops,
                   std::uint32_t linger_ms)
    : path_(std::move(path)),
      handlers_(std::move(handlers)),
      options_(std::move(options)),
      origins_(options_.allowed_origins),
      loops_(std::move(loops)),
      linger_ms_(linger_ms) {
  if (loops_.size() > Slots::kMaxLoops) throw std::invalid_argument("at most 256 loops");
  for (std::size_t i = 0; i < loops_.size(); ++i) per_loop_.push_back(std::make_unique<PerLoop>());
  if (options_.history.max_messages > 0) {
    history_ = std::make_unique<fanout::TopicHistory>(
        fanout::TopicHistory::Numbering::Here,
        fanout::TopicHistory::Limits{options_.history.max_messages, options_.history.max_age_ms});
  }
}

Endpoint::~Endpoint() = default;

void Endpoint::upgrade(http::HttpConnection& conn, const http::RequestHead& head, char*, std::size_t) {
  const std::size_t li = conn.loop().index();
  PerLoop& pl = *per_loop_[li];
  if (head.method != http::Method::Get) {  // HEAD reaches GET routes; a stream has no head to show
    http::Header allow[] = {{"Allow", "GET"}};
    conn.respond(405, kText, "method not allowed\n", allow, false);
    return;
  }
  if (!origins_.allows(head.header("Origin"))) {
    pl.stats.origin_refused.add();
    conn.respond(403, kText, "origin not allowed\n", {}, false);
    return;
  }
  const ConnectionId id = pl.streams.reserve(li);
  if (id == 0) {
    conn.respond(503, kText, "this loop holds the most connections it can address\n", {}, false);
    return;
  }
  std::string out(kHead);
  // Some body bytes right after the head: some browsers (Firefox) fire the EventSource's
  // open only then, and a client that waits for open before it talks would wait for ever.
  if (options_.retry_ms) {
    append_retry(out, options_.retry_ms);
  } else {
    out.append(kHeartbeat);
  }
  conn.send(out);
  conn.upgraded();
  // Bytes after the head (a body the client should not have sent) are dropped with the
  // HttpConnection, and whatever comes later is read and discarded by the stream.
  auto* s = new Stream(conn, *this, id);
  conn.loop().dispose(&conn);
  pl.streams.attach(*s);
  pl.stats.open.add();
  pl.stats.opened.add();
  HttpRequest req;
  req.method = head.method_text;
  req.path = head.path;
  req.query = head.query;
  req.impl_ = &head;
  s->start(req);
}

BufferRef Endpoint::format(const SseEvent& e) {
  thread_local std::string t;
  t.clear();
  append_event(t, e.data, e.id, e.event);
  BufferRef b = BufferRef::copy_of(t);
  if (t.capacity() > (256u << 10)) std::string().swap(t);  // do not pin a huge event
  return b;
}

template <class Fn>
void Endpoint::post(std::size_t li, Fn&& fn) {
  loops_[li]->post([this, li, f = std::forward<Fn>(fn)]() mutable { f(*per_loop_[li]); });
}

bool Endpoint::deliver(PerLoop& pl, Stream& s, const BufferRef& event) {
  if (!s.send_shared(event)) return false;
  pl.stats.events_out.add();
  return true;
}

bool Endpoint::send_formatted(Stream& s, const BufferRef& event) {
  PerLoop& pl = *per_loop_[s.loop().index()];
  if (!deliver(pl, s, event)) return false;
  pl.stats.events_queued.add();
  pl.stats.bytes_out.add(event->size());
  return true;
}

void Endpoint::delivered(PerLoop& pl, std::size_t taken, std::size_t bytes, std::uint64_t called_ns) {
  if (!taken) return;
  pl.stats.events_queued.add(taken);
  pl.stats.bytes_out.add(taken * bytes);
  const std::uint64_t now = steady_now_ns();
  pl.stats.delivery_ns.observe(now > called_ns ? now - called_ns : 0);
}

void Endpoint::set_relay(fanout::Relay* relay) {
  relay_ = relay;
  if (relay && history_) {
    history_ = std::make_unique<fanout::TopicHistory>(fanout::TopicHistory::Numbering::Elsewhere, history_->limits());
  }
  for (auto& pl : per_loop_) pl->topics.set_relay(relay);
  if (relay) relay->watch("");  // broadcasts: every node takes them while it runs
}

void Endpoint::deliver_relayed(std::string_view topic, std::string_view event) {
  if (event.size() < 2 || event.substr(event.size() - 2) != "\n\n") {
    relay_malformed_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (topic.empty()) {
    broadcast_here(BufferRef::copy_of(event));
  } else {
    publish_here(topic, BufferRef::copy_of(event));
  }
}

void Endpoint::broadcast(const SseEvent& e) {
  BufferRef event = format(e);
  if (relay_) relay_->send({}, event->view());
  broadcast_here(std::move(event));
}

void Endpoint::publish(std::string_view topic, const SseEvent& e) {
  if (history_ && !topic.empty()) {
    publish_numbered(topic, e);
    return;
  }
  BufferRef event = format(e);
  if (relay_) relay_->send(topic, event->view());
  publish_here(topic, std::move(event));
}

void Endpoint::broadcast_here(BufferRef event) {
  const std::uint64_t called = steady_now_ns();
  for (std::size_t li = 0; li < loops_.size(); ++li) {
    post(li, [this, event, called](PerLoop& pl) {
      // A send never attaches or detaches (closing completes at the end of the
      // iteration), so the table is stable during the walk.
      std::size_t taken = 0;
      pl.streams.for_each([&](Stream& s) { taken += deliver(pl, s, event); });
      delivered(pl, taken, event->size(), called);
    });
  }
}

void Endpoint::publish_here(std::string_view topic, BufferRef event) {
  const std::uint64_t called = steady_now_ns();
  for (std::size_t li = 0; li < loops_.size(); ++li) {
    post(li, [this, event, called, t = std::string(topic)](PerLoop& pl) {
      std::size_t taken = 0;
      for (fanout::TopicIndex::Slot slot : pl.topics.subscribers(t)) {
        if (Stream* s = pl.streams.at_slot(slot)) taken += deliver(pl, *s, event);
      }
      delivered(pl, taken, event->size(), called);
    });
  }
}

bool Endpoint::send_to(ConnectionId id, const SseEvent& e) {
  const std::size_t li = Slots::loop_of(id);
  if (li >= loops_.size()) return false;
  if (loops_[li]->in_loop_thread() && !per_loop_[li]->streams.find(id)) return false;
  post(li, [this, id, event = format(e)](PerLoop& pl) {
    Stream* s = pl.streams.find(id);
    if (s && deliver(pl, *s, event)) {
      pl.stats.events_queued.add();
      pl.stats.bytes_out.add(event->size());
    }
  });
  return true;
}

bool Endpoint::post_to(ConnectionId id, std::function<void(SseStream&)> fn) {
  const std::size_t li = Slots::loop_of(id);
  if (li >= loops_.size()) return false;
  if (loops_[li]->in_loop_thread() && !per_loop_[li]->streams.find(id)) return false;
  post(li, [id, f = std::move(fn)](PerLoop& pl) {
    Stream* s = pl.streams.find(id);
    if (s && !s->ended()) f(*s);
  });
  return true;
}

bool Endpoint::subscribe(Stream& s, std::string_view topic) {
  return per_loop_[s.loop().index()]->topics.subscribe(static_cast<fanout::TopicIndex::Slot>(Slots::slot_of(s.id())),
                                                        topic);
}

bool Endpoint::unsubscribe(Stream& s, std::string_view topic) {
  return per_loop_[s.loop().index()]->topics.unsubscribe(
      static_cast<fanout::TopicIndex::Slot>(Slots::slot_of(s.id())), topic);
}

void Endpoint::detach(Stream& s) {
  PerLoop& pl = *per_loop_[s.loop().index()];
  if (!pl.streams.detach(s)) return;
  pl.topics.remove(static_cast<fanout::TopicIndex::Slot>(Slots::slot_of(s.id())));
  pl.stats.open.sub();
}

void Endpoint::close_all_on_this_loop() {
  for (loop::EventLoop* l : loops_) {
    if (l->in_loop_thread()) per_loop_[l->index()]->streams.for_each([](Stream& s) { s.close(); });
  }
}

std::size_t Endpoint::connection_count() const {
  std::size_t n = 0;
  for (const auto& pl : per_loop_) n += pl->stats.open.get();
  return n;
}

SseEndpointStats Endpoint::stats() const {
  SseEndpointStats s;
  for (const auto& pl : per_loop_) {
    s.open += pl->stats.open.get();
    s.opened += pl->stats.opened.get();
    s.events_out += pl->stats.events_out.get();
    s.dropped += pl->stats.dropped.get();
    s.slow_closed += pl->stats.slow_closed.get();
    s.origin_refused += pl->stats.origin_refused.get();
  }
  return s;
}

bool Endpoint::resume(Stream& s, std::string_view topic, std::string_view position) {
  if (!history_) return subscribe(s, topic);
  const std::size_t li = s.loop().index();
  const auto slot = static_cast<fanout::TopicIndex::Slot>(Slots::slot_of(s.id()));
  if (topic.empty() || per_loop_[li]->topics.is_subscribed(slot, topic)) return false;
  const std::optional<fanout::HistoryPosition> from = fanout::parse_position(position);
  if (history_->numbering() == fanout::TopicHistory::Numbering::Elsewhere) {
    resume_across_nodes(li, s.id(), std::string(topic), from);
    return true;
  }
  history_->read_after(topic, from, history_now_ms(), [&](fanout::TopicHistory::Replay&& r) {
    if (r.kind != fanout::TopicHistory::Replay::Kind::Messages) r.messages.assign(1, reset_event(topic, r.now));
    post_replay(li, s.id(), std::string(topic), std::move(r.messages), r.now.seq, false);
  });
  return true;
}

void Endpoint::resume_across_nodes(std::size_t li, ConnectionId id, std::string topic,
                                   std::optional<fanout::HistoryPosition> from) {
  const std::uint64_t after = from ? from->seq : 0;
  relay_->watch(topic, [this, li, id, topic, from, after] {
    relay_->read_history(topic, after, [this, li, id, topic, from](fanout::Relay::History h) {
      history_->replay_after_read(
          topic, from, {.ok = h.ok, .epoch = h.epoch, .first = h.first, .last = h.last, .messages = &h.messages},
          history_now_ms(), relayed_event, [&](fanout::TopicHistory::Replay&& r) {
            if (r.kind != fanout::TopicHistory::Replay::Kind::Messages) r.messages.assign(1, reset_event(topic, r.now));
            post_replay(li, id, topic, std::move(r.messages), r.now.seq, true);
          });
    });
  });
}

void Endpoint::post_replay(std::size_t li, ConnectionId id, std::string topic, std::vector<BufferRef> replay,
                           std::uint64_t floor, bool release_watch) {
  post(li, [this, id, topic = std::move(topic), replay = std::move(replay), floor, release_watch](PerLoop& pl) {
    Stream* s = pl.streams.find(id);
    const auto slot = static_cast<fanout::TopicIndex::Slot>(Slots::slot_of(id));
    if (s != nullptr && !s->ended() && !pl.topics.is_subscribed(slot, topic)) {
      for (const BufferRef& e : replay) send_formatted(*s, e);
      if (!s->ended()) pl.topics.subscribe(slot, topic, floor);
    }
    if (release_watch) relay_->unwatch(topic);  // after the subscribe: no lapse
  });
}

void Endpoint::publish_numbered(std::string_view topic, const SseEvent& e) {
  if (history_->numbering() == fanout::TopicHistory::Numbering::Elsewhere) {
    relay_->send_numbered(topic, numbered_fields(e));
    return;
  }
  const std::string t(topic);
  history_->append(
      topic, history_now_ms(), [&](fanout::HistoryPosition p) { return numbered_event(e, p); },
      [&](const BufferRef& event, fanout::HistoryPosition p) { deliver_numbered_event(t, event, p.seq); });
}

void Endpoint::deliver_numbered(std::string_view topic, fanout::HistoryPosition p, std::string_view fields) {
  const std::optional<SseEvent> e = parse_numbered_fields(fields);
  if (!history_ || topic.empty() || !e) {
    relay_malformed_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const std::string t(topic);
  auto deliver = [this, &t](const BufferRef& event, fanout::HistoryPosition q) { deliver_numbered_event(t, event, q.seq); };
  auto on_break = [this, &t](fanout::HistoryPosition before) { deliver_numbered_event(t, reset_event(t, before), 0); };
  const fanout::TopicHistory::Acceptance a = history_->accept(
      topic, p, history_now_ms(), [&](fanout::HistoryPosition q) { return numbered_event(*e, q); }, deliver, on_break);
  if (a.kind != fanout::TopicHistory::Accepted::Gap) return;
  // Missed numbers (see ws::Endpoint::deliver_numbered): brought from the history.
  relay_->read_history(topic, a.last, [this, t](fanout::Relay::History h) {
    history_->fill(
        t, {.ok = h.ok, .epoch = h.epoch, .messages = &h.messages}, history_now_ms(), relayed_event,
        [this, &t](const BufferRef& event, fanout::HistoryPosition q) { deliver_numbered_event(t, event, q.seq); },
        [this, &t](fanout::HistoryPosition before) { deliver_numbered_event(t, reset_event(t, before), 0); });
  });
}

void Endpoint::deliver_numbered_event(const std::string& topic, const BufferRef& event, std::uint64_t seq) {
  const std::uint64_t called = steady_now_ns();
  // Posted to every loop under the history's lock: number order (see ws::Endpoint).
  for (std::size_t li = 0; li < loops_.size(); ++li) {
    post(li, [this, event, called, topic, seq](PerLoop& pl) {
      if (seq == 0) pl.topics.clear_floors(topic);  // a reset: the old floors are of another numbering
      std::size_t taken = 0;
      const fanout::TopicIndex::Members m = pl.topics.members(topic);
      for (std::size_t i = 0; i < m.slots.size(); ++i) {
        if (seq != 0 && m.floors[i] >= seq) continue;
        if (Stream* s = pl.streams.at_slot(m.slots[i])) taken += deliver(pl, *s, event);
      }
      delivered(pl, taken, event->size(), called);
    });
  }
}

}  // namespace wirehub::sse
