#pragma once
// Endpoint: an SSE route — its handlers, options, and the open streams per loop.
//
// Streams are only touched by their own loop: each loop has its own slot table (ids as
// in core/slot_table.hpp) and topic index (fanout::TopicIndex, by slot). Everything the
// public SseEndpoint does — broadcast, publish, send_to, post_to — is posted to the
// owning loop's task queue, even from that loop's own thread, so calls made from one
// thread reach a stream in call order (see wirehub/sse.hpp). A broadcast or publish
// formats its event once into a SharedBuffer that every receiver's queue references.

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/counter.hpp"
#include "core/histogram.hpp"
#include "core/shared_buffer.hpp"
#include "core/slot_table.hpp"
#include "fanout/topic_history.hpp"
#include "fanout/topic_index.hpp"
#include "http/http_connection.hpp"
#include "http/origin.hpp"
#include "loop/event_loop.hpp"
#include "wirehub/sse.hpp"

namespace wirehub::sse {

class Stream;

class Endpoint final : public SseEndpoint {
 public:
  // linger_ms: how long a closed stream waits for the client's EOF after its last byte.
  Endpoint(std::string path, SseHandlers handlers, SseOptions options, std::vector<loop::EventLoop*> loops,
           std::uint32_t linger_ms);
  ~Endpoint() override;

  // Route upgrade handler (at the end of the head): answers 403 for a refused origin,
  // else queues the 200 head and the retry line and turns the connection into a Stream.
  void upgrade(http::HttpConnection& conn, const http::RequestHead& head, char* rest, std::size_t n);

  // SseEndpoint
  void broadcast(const SseEvent& e) override;
  void publish(std::string_view topic, const SseEvent& e) override;
  bool send_to(ConnectionId id, const SseEvent& e) override;
  bool post_to(ConnectionId id, std::function<void(SseStream&)> fn) override;
  std::size_t connection_count() const override;
  SseEndpointStats stats() const override;
  const std::string& path() const noexcept override { return path_; }

  // Several nodes (the server runs with a backplane): broadcasts and publishes also go to
  // the relay as their formatted event, and what other nodes relayed comes in through
  // deliver_relayed. Set once, before the server starts.
  void set_relay(fanout::Relay* relay);
  // Any thread: an event another node's endpoint on this path relayed for a broadcast
  // (topic "") or publish, delivered here as that call would. Bytes that are not one
  // formatted event (ending in a blank line) are ignored and counted (relay_malformed).
  void deliver_relayed(std::string_view topic, std::string_view event);
  std::uint64_t relay_malformed() const noexcept { return relay_malformed_.load(std::memory_order_relaxed); }
  // The topic history (options().history on), else nullptr.
  const fanout::TopicHistory* history() const noexcept { return history_.get(); }
  // Any thread (the relay's): an event of a topic with history, numbered by the backplane,
  // in the order the backplane numbered them (its relayed form: see numbered_fields).
  void deliver_numbered(std::string_view topic, fanout::HistoryPosition p, std::string_view fields);

  // Loop thread: ends every stream of the calling loop (after what is queued).
  void close_all_on_this_loop();

  const SseHandlers& handlers() const noexcept { return handlers_; }
  const SseOptions& options() const noexcept { return options_; }
  std::uint32_t linger_ms() const noexcept { return linger_ms_; }

  struct LoopStats {
    Counter open, opened, events_out, dropped, slow_closed, origin_refused;
    // Like events_out but never lowered when a slow stream's queued events are discarded
    // (those are in dropped too), with their bytes: monotonic, for metrics.
    Counter events_queued, bytes_out;
    // From a broadcast() or publish() call to its event queued on this loop (for at least
    // one receiver), in nanoseconds.
    Histogram delivery_ns{std::span<const std::uint64_t>(kLatencyBoundsNs)};
  };
  const LoopStats& loop_stats(std::size_t loop_index) const { return per_loop_[loop_index]->stats; }
  std::size_t loop_count() const noexcept { return per_loop_.size(); }
  LoopStats& loop_stats(std::size_t loop_index) { return per_loop_[loop_index]->stats; }

  // Formats e once into a buffer every receiver shares.
  static BufferRef format(const SseEvent& e);
  // Loop thread of s: queues event (from format) to s as s.send() would queue it (the same
  // admission and counters), by reference: one event formatted once for receivers its
  // sender picks itself (a hub's send to a group).
  bool send_formatted(Stream& s, const BufferRef& event);

  // Stream bookkeeping (loop thread of the stream).
  bool subscribe(Stream& s, std::string_view topic);
  bool unsubscribe(Stream& s, std::string_view topic);
  // SseStream::subscribe(topic, position) (the stream's loop thread).
  bool resume(Stream& s, std::string_view topic, std::string_view position);
  void detach(Stream& s);

 private:
  struct PerLoop {
    SlotTable<Stream> streams;
    fanout::TopicIndex topics;
    LoopStats stats;
  };
  // Topic history (options_.history on): see ws::Endpoint, whose scheme this follows; an
  // event's id is its position, and the relay carries its event name and data only.
  void publish_numbered(std::string_view topic, const SseEvent& e);
  void deliver_numbered_event(const std::string& topic, const BufferRef& event, std::uint64_t seq);
  void post_replay(std::size_t li, ConnectionId id, std::string topic, std::vector<BufferRef> replay,
                   std::uint64_t floor, bool release_watch);
  void resume_across_nodes(std::size_t li, ConnectionId id, std::string topic,
                           std::optional<fanout::HistoryPosition> from);

  // broadcast() and publish() of a formatted event on this node only.
  void broadcast_here(BufferRef event);
  void publish_here(std::string_view topic, BufferRef event);
  // Posts fn(PerLoop&) to loop li (never runs it inline: see the ordering guarantee).
  template <class Fn>
  void post(std::size_t li, Fn&& fn);
  // Queues a shared event to s; true when it was taken.
  bool deliver(PerLoop& pl, Stream& s, const BufferRef& event);
  // After a broadcast or publish reached `taken` streams of a loop: the counters and the
  // delivery time since called_ns.
  static void delivered(PerLoop& pl, std::size_t taken, std::size_t bytes, std::uint64_t called_ns);

  std::string path_;
  SseHandlers handlers_;
  SseOptions options_;
  http::OriginPolicy origins_;
  std::vector<loop::EventLoop*> loops_;
  std::vector<std::unique_ptr<PerLoop>> per_loop_;
  std::uint32_t linger_ms_;
  fanout::Relay* relay_ = nullptr;
  std::atomic<std::uint64_t> relay_malformed_{0};
  std::unique_ptr<fanout::TopicHistory> history_;  // as in ws::Endpoint
};

}  // namespace wirehub::sse
