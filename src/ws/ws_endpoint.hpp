#pragma once
// Endpoint: a WebSocket route — its handlers, options, and the live sessions per loop.
//
// Sessions are only touched by their own loop: each loop has its own slot table and topic
// index in per_loop_[loop index]. Anything addressed from another thread (a broadcast, a
// publish, a send to one id, a function to run with one) is posted to the owning loop,
// whose task queue is FIFO: that is what keeps one thread's calls in order for each
// connection (see WebSocketEndpoint). A broadcast or publish frame is built once into a
// SharedBuffer and every receiver's queue holds a reference to it (with
// permessage-deflate, once more per window size for receivers without server context
// takeover).

#include <array>
#include <atomic>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/counter.hpp"
#include "core/histogram.hpp"
#include "core/shared_buffer.hpp"
#include "fanout/relay.hpp"
#include "fanout/topic_history.hpp"
#include "fanout/topic_index.hpp"
#include "http/http_connection.hpp"
#include "http/origin.hpp"
#include "loop/event_loop.hpp"
#include "wirehub/websocket.hpp"
#include "ws/deflate_negotiation.hpp"
#include "ws/deflate_state.hpp"
#include "ws/token_auth.hpp"

namespace wirehub::ws {

class Session;

class Endpoint final : public WebSocketEndpoint {
 public:
  Endpoint(std::string path, WebSocketHandlers handlers, WebSocketOptions options,
           std::vector<loop::EventLoop*> loops);
  ~Endpoint() override;

  // Route upgrade handler: validates the handshake (RFC 6455 4.2.1) and either answers
  // with the precise error status or switches the connection to a Session.
  void upgrade(http::HttpConnection& conn, const http::RequestHead& head, char* rest, std::size_t n);

  // WebSocketEndpoint
  void broadcast(std::string_view payload, bool binary, std::string_view topic) override;
  void publish(std::string_view topic, std::string_view payload, bool binary) override;
  bool send_to(ConnectionId id, std::string_view payload, bool binary) override;
  bool post_to(ConnectionId id, std::function<void(WebSocket&)> fn) override;
  std::size_t connection_count() const override;
  EndpointStats stats() const override;
  const std::string& path() const noexcept override { return path_; }

  // Several nodes (the server runs with a backplane): broadcasts and publishes also go to
  // the relay, and what other nodes relayed comes in through deliver_relayed. Set once,
  // before the server starts; the relay outlives the endpoint's use of it.
  void set_relay(fanout::Relay* relay);
  // Any thread: a broadcast (topic "") or publish that another node's endpoint on this path
  // handed to its relay, delivered here as that call would deliver it. Bytes that are not
  // such a message are ignored and counted (relay_malformed).
  void deliver_relayed(std::string_view topic, std::string_view message);
  std::uint64_t relay_malformed() const noexcept { return relay_malformed_.load(std::memory_order_relaxed); }
  // The topic history (options().history on), else nullptr.
  const fanout::TopicHistory* history() const noexcept { return history_.get(); }
  // Any thread (the relay's): a message of a topic with history, numbered by the backplane
  // (Relay::send_numbered), in the order the backplane numbered them.
  void deliver_numbered(std::string_view topic, fanout::HistoryPosition p, std::string_view message);

  // Loop thread: sends Close(code, reason) to every session of the calling loop.
  void close_all_on_this_loop(std::uint16_t code, std::string_view reason);
  std::size_t count_on_loop(std::size_t loop_index) const;

  const WebSocketHandlers& handlers() const noexcept { return handlers_; }
  const WebSocketOptions& options() const noexcept { return options_; }

  // Session bookkeeping (loop thread of the session). reserve_id() names the slot the next
  // attach() on that loop will fill (0: the loop is full); nothing may attach in between.
  ConnectionId reserve_id(std::size_t loop_index);
  void attach(Session& s);
  void detach(Session& s);  // also leaves every topic
  // WebSocket::subscribe / unsubscribe of an attached session (its loop thread).
  bool subscribe(Session& s, std::string_view topic);
  bool unsubscribe(Session& s, std::string_view topic);
  // WebSocket::subscribe(topic, position) of an attached session (its loop thread).
  bool resume(Session& s, std::string_view topic, std::string_view position);

  // A connection id: [loop index: 8 bits][serial: 32 bits][slot: 24 bits]. The serial
  // makes a stale id (its connection gone, the slot reused) miss instead of reaching the
  // new connection, unless 2^32 connections later on the same slot.
  static constexpr int kLoopShift = 56;
  static constexpr int kSerialShift = 24;
  static constexpr std::uint64_t kSlotMask = (std::uint64_t{1} << kSerialShift) - 1;
  static constexpr std::size_t kMaxLoops = 256;

  struct LoopStats {
    Counter open, opened, messages_in, messages_out, dropped, slow_closed, protocol_errors, origin_refused,
        auth_refused, auth_expired;
    // For metrics, which want counters that only grow: messages_queued counts what
    // messages_out counts but is never lowered when a drop policy removes a queued message
    // (those are in dropped too). Payload bytes (uncompressed) in and queued out.
    Counter messages_queued, bytes_in, bytes_out;
    // Handshakes by outcome, besides origin_refused and auth_refused.
    Counter handshakes_accepted, handshakes_bad_request /* 400 */, handshakes_unsupported_version /* 426 */,
        handshakes_loop_full /* 503: no slot left on the loop */;
    // From a broadcast() or publish() call to its frame queued on this loop (for at least
    // one receiver), in nanoseconds.
    Histogram delivery_ns{std::span<const std::uint64_t>(kLatencyBoundsNs)};
  };
  // The verified token of a session of an endpoint with JWT authentication, else nullptr.
  const Principal* principal(const Session& s) const noexcept;
  LoopStats& loop_stats(std::size_t loop_index) { return per_loop_[loop_index]->stats; }
  const LoopStats& loop_stats(std::size_t loop_index) const { return per_loop_[loop_index]->stats; }
  std::size_t loop_count() const noexcept { return per_loop_.size(); }

  // Builds one unmasked frame (header + payload) in a shared buffer; rsv1 marks the
  // payload as compressed (permessage-deflate).
  static BufferRef build_frame(std::string_view payload, bool binary, bool rsv1 = false);

  // A data frame built once (build_frame) and placed for sessions of one loop that its
  // sender picks itself (a hub's send to a group), each of which then queues a reference to
  // it: small frames are copied into the loop's broadcast arena, so that consecutive ones
  // merge in each receiver's queue as broadcast frames do.
  struct PlacedFrame {
    BufferRef buf;
    std::size_t off = 0, len = 0;  // the frame is buf[off, off + len)
    std::size_t header_bytes = 0;
    bool binary = false;
    std::string_view payload() const noexcept { return buf->view().substr(off + header_bytes, len - header_bytes); }
  };
  // Loop thread of loop_index: frame (from build_frame, uncompressed, its header
  // header_bytes long) placed for that loop's sessions.
  PlacedFrame place_frame(std::size_t loop_index, const BufferRef& frame, std::size_t header_bytes, bool binary);
  // Loop thread of s: queues f to s as s.send(f.payload(), f.binary, {}) would (the same
  // admission, order and counters), by reference instead of a copy; a session that
  // compresses messages of that size compresses its own copy.
  bool send_placed(Session& s, const PlacedFrame& f);

  // The session's own permessage-deflate state (context takeover), created on first use.
  ConnectionDeflate& deflate_state(Session& s);
  // The queue tag of a topic: 0 for none, else a non-zero 64-bit hash.
  static std::uint64_t topic_tag(std::string_view topic) noexcept;

 private:
  // One broadcast in every form a receiver may need: uncompressed, and compressed without
  // context takeover once per window size in use (deflated[bits - 8]; null if not built).
  struct BroadcastFrames {
    BufferRef plain;
    std::array<BufferRef, 8> deflated;
    std::uint8_t header_bytes = 0;  // of plain
    bool binary = false;
    std::uint64_t called_ns = 0;  // steady clock at the broadcast()/publish() call
  };

  // A loop's sessions in a slot table: a connection id names its slot, so finding a
  // session by id is one index and one compare, and a broadcast walks one array. A free
  // slot holds the next free slot's index, tagged with the low bit.
  struct PerLoop {
    std::vector<std::uintptr_t> slots;  // Session* when live, (next free + 1) << 1 | 1 when free
    std::size_t free_head = 0;          // first free slot + 1; 0: none, append
    std::uint32_t next_serial = 1;
    LoopStats stats;
    // Small broadcast frames of this loop are copied here back to back, so that a
    // receiver's queue merges the frames of one iteration into one slice (one iovec, one
    // reference). Touched by this loop's thread only.
    BufferRef arena;
    // Endpoints with token authentication only: each session's principal, by slot, and
    // the sessions to close when their tokens expire, soonest first (loop time, ms).
    struct Authenticated {
      Principal principal;
      std::uint64_t deadline = 0;  // its key in expiries; 0: none
    };
    std::vector<std::unique_ptr<Authenticated>> principals;
    std::set<std::pair<std::uint64_t, ConnectionId>> expiries;
    struct ExpiryTimer final : loop::Timer {
      Endpoint* endpoint = nullptr;
      std::size_t loop_index = 0;
      void on_timer() override { endpoint->expire_tokens(loop_index); }
    } expiry_timer;
    // Per-slot permessage-deflate state of sessions with context takeover; empty unless
    // one of them compressed something.
    std::vector<std::unique_ptr<ConnectionDeflate>> deflate;
    // Which sessions (by slot) subscribe to which topics; detach() removes a slot.
    fanout::TopicIndex topics;
  };
  Session* find(PerLoop& pl, ConnectionId id) const noexcept;
  // Where a frame is queued from on loop pl: small frames are copied into its arena (see
  // PerLoop::arena), larger ones referenced in place. Sets buf, off and len.
  static void place(PerLoop& pl, const BufferRef& frame, BufferRef& buf, std::size_t& off, std::size_t& len);

  // Keeps what the token said about a session that has just been attached.
  void remember_principal(Session& s, Principal p);
  // Closes (1008) the sessions of a loop whose tokens have expired; re-arms for the next.
  void expire_tokens(std::size_t loop_index);
  void arm_expiry_timer(PerLoop& pl, loop::EventLoop& l);

  // Topic history (options_.history on): publish() numbered here, or sent to be numbered
  // by the relay; a numbered message (its JSON) posted to every loop for the topic's
  // subscribers whose floor is below seq; a numbered message or reset from the relay's form.
  void publish_numbered(std::string_view topic, std::string_view payload, bool binary);
  void deliver_numbered_json(const std::string& topic, const BufferRef& json, std::uint64_t seq);
  // deliver_numbered_json of topic as a TopicHistory delivery, and a reset for a break
  // (both refer to topic, which must outlive them).
  std::function<void(const BufferRef&, fanout::HistoryPosition)> numbered_delivery(const std::string& topic);
  std::function<void(fanout::HistoryPosition)> numbered_break(const std::string& topic);
  // Posts to loop li: if connection id is still open and not in topic, send it what
  // `replay` holds (JSON messages, in order), then subscribe it with floor.
  void post_replay(std::size_t li, ConnectionId id, std::string topic, std::vector<BufferRef> replay,
                   std::uint64_t floor, bool release_watch);
  // resume() with several nodes: the backplane holds the history.
  void resume_across_nodes(std::size_t li, ConnectionId id, std::string topic,
                           std::optional<fanout::HistoryPosition> from);

  // broadcast() and publish() on this node only.
  void broadcast_here(std::string_view payload, bool binary, std::string_view topic);
  void publish_here(std::string_view topic, std::string_view payload, bool binary);

  // Queues frames, on the calling loop, to each receiver: receivers(visit) calls
  // visit(Session&) once per session that is to get the message.
  template <class Receivers>
  void deliver_local(std::size_t loop_index, const BroadcastFrames& frames, std::uint64_t tag, Receivers receivers);
  // The frames of payload, compressed as the endpoint's connections may need them.
  BroadcastFrames build_frames(std::string_view payload, bool binary);
  // skip_token: the offers "access_token, <jwt>" carried the token and are not choices.
  std::string_view choose_subprotocol(const http::RequestHead& head, bool skip_token) const;
  // permessage-deflate for this handshake: nullopt when off or not offered acceptably.
  std::optional<DeflateNegotiation> negotiate_compression(const http::RequestHead& head);

  std::string path_;
  WebSocketHandlers handlers_;
  WebSocketOptions options_;
  http::OriginPolicy origins_;
  std::unique_ptr<TokenAuth> auth_;  // nullptr: no authentication
  std::vector<loop::EventLoop*> loops_;
  std::vector<std::unique_ptr<PerLoop>> per_loop_;
  DeflatePolicy deflate_policy_;
  // Bit b: some connection may take broadcasts compressed without context takeover with a
  // window of b bits; broadcast() compresses once for each. Only ever gains bits.
  std::atomic<std::uint16_t> shared_windows_{0};
  fanout::Relay* relay_ = nullptr;
  std::atomic<std::uint64_t> relay_malformed_{0};
  // Numbered topics (options_.history.max_messages > 0), else null; numbered Here, or
  // Elsewhere once a relay is set.
  std::unique_ptr<fanout::TopicHistory> history_;
};

}  // namespace wirehub::ws
