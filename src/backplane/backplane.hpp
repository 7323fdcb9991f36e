#pragma once
// Backplane: how the nodes of one deployment pass messages to each other.
//
// A message is a channel name and opaque bytes. publish(channel, payload) reaches every
// OTHER node that holds a subscription to channel: the publishing node delivers to its
// own connections itself, at once and in the order its threads call it, exactly as
// without a backplane (so what the endpoints promise about one node still holds), and the
// backplane carries the message to the rest. The server layer maps its topics, groups
// and connections onto channels; the backplane knows nothing of them.
//
// Two implementations: the in-memory one (make_memory_backplane: the nodes are servers in
// one process that name the same bus; for tests and embedding) calls the other nodes'
// handlers at once, on the publishing thread; the Redis one (redis_backplane.hpp) carries
// messages over Redis pub/sub and calls the handler on its own thread.
//
// Guarantees, for both:
//   - Order: messages published from one thread reach each subscribed node in publish
//     order.
//   - No duplicates: a message the backplane re-sends after a lost connection (it cannot
//     know whether Redis took it) is delivered at most once per node.
//   - Nothing silently dropped on the publishing side: publish() answers Sent (handed on),
//     Buffered (the backplane is down; the message is kept, in order, and sent when it is
//     back) or Refused (the buffer is full; counted, and the caller must report it).
//   A node that is not subscribed, or whose own link is down, when a message passes does
//   not get it: filling such gaps is the job of topic history, above this layer. (Redis:
//   what a node buffered while Redis was away is sent only once the nodes it knew are
//   subscribed again, or after a bound; see redis_backplane.hpp.)
//
// Subscriptions are reference-counted per channel: the first subscribe of a channel
// subscribes the node, the last unsubscribe unsubscribes it. on_active, if given, runs
// once the node's subscription is in effect (at once in memory; on the Redis reply for
// Redis), on the backplane's thread.
//
// Sequenced channels (topic history). publish_sequenced(channel, payload, limits) gives
// the message the channel's next number — 1, 2, 3, ... without holes, one counter per
// channel for the whole deployment — keeps it in the channel's bounded history, and
// delivers it to EVERY subscribed node, the publishing one included, through the
// SequencedHandler, in number order on every node. fetch_history reads that history, so
// a client that reconnects to any node resumes after the last number it got, or learns
// that the entries it missed are gone (first > its number + 1). One channel may carry
// both kinds: plain messages go to the MessageHandler as before, sequenced ones to the
// SequencedHandler. The numbering lives where the history lives (memory: the bus;
// Redis: Redis' keys, redis_backplane.hpp): if that is lost — a Redis restarted without
// persistence, a channel whose keys expired — numbering starts again at 1 under a new
// epoch (HistoryRange::epoch, and every sequenced message carries its own), so a reader
// holding a number of the old numbering can tell its position is void.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wirehub::backplane {

enum class State : std::uint8_t {
  Up,          // messages flow
  Connecting,  // not connected yet, or reconnecting after a loss: publishes are buffered
};

enum class PublishResult : std::uint8_t {
  Sent,      // handed on (memory: delivered; Redis: queued on the live connection)
  Buffered,  // the backplane is down: kept in order, sent once it is up again
  Refused,   // the buffer is full: not sent (counted in Stats::refused)
};

struct Stats {
  State state = State::Up;
  std::uint64_t published = 0;         // publish() calls answered Sent or Buffered
  std::uint64_t refused = 0;           // publish() calls answered Refused
  std::uint64_t delivered = 0;         // messages handed to the handler on this node
  std::uint64_t duplicates = 0;        // re-sent messages dropped on arrival (Redis: and
                                       // sequenced re-sends Redis had applied, on the publisher)
  std::uint64_t buffered = 0;          // messages waiting for the backplane now
  std::uint64_t buffered_bytes = 0;    // their payload bytes
  std::uint64_t reconnects = 0;        // connections re-established after a loss
  std::uint64_t channels = 0;          // channels this node subscribes to now
  // Redis only (redis_backplane.hpp): other nodes subscribed at the last scan; flushes
  // held back after an outage until those peers had subscribed again; peers not back
  // when such a wait ran out (summed over the waits).
  std::uint64_t peers = 0;
  std::uint64_t flush_waits = 0;
  std::uint64_t peers_missed = 0;
};

// Called for every message of a subscribed channel that another node published. Memory:
// on the publishing thread, inside its publish(). Redis: on the backplane's thread. Must
// not block, and must not call into a memory backplane of the same bus.
using MessageHandler = std::function<void(std::string_view channel, std::string_view payload)>;
// Called on every change of State (Redis: on its thread).
using StateHandler = std::function<void(State)>;
// Called for every sequenced message of a subscribed channel, this node's own included,
// with the number the backplane gave it; per channel in number order. Same threads and
// rules as MessageHandler.
// epoch names the channel's numbering (see HistoryRange::epoch).
using SequencedHandler =
    std::function<void(std::string_view channel, std::uint64_t epoch, std::uint64_t seq, std::string_view payload)>;

// How much of a sequenced channel's history is kept. The limits of the channel's newest
// publish apply to it.
struct HistoryLimits {
  std::uint64_t max_messages = 1000;  // entries kept per channel (0 is taken as 1)
  std::uint32_t max_age_ms = 0;       // 0: no age bound; else entries older than this are gone
};

// An answer of fetch_history.
struct HistoryRange {
  bool ok = false;          // false: not answered (backplane not Up, Redis error): see error
  std::string error;
  std::uint64_t first = 0;  // oldest seq still kept (after trimming by count and age); 0: none kept
  std::uint64_t last = 0;   // newest seq ever assigned on the channel; 0: none yet
  // The channel's numbering: a random non-zero id taken when its numbering (re)starts at 1
  // — the first message, or the first after the history was lost (a Redis restarted
  // without persistence, keys expired) — so a number of an earlier numbering is never
  // taken for one of this; 0 before the first message.
  std::uint64_t epoch = 0;
  std::vector<std::pair<std::uint64_t, std::string>> messages;  // kept entries with seq > after, ascending, at most max
};

class Backplane {
 public:
  virtual ~Backplane() = default;

  // Before start(); not changed afterwards.
  virtual void set_handlers(MessageHandler on_message, StateHandler on_state = {}) = 0;
  // Before start(), like set_handlers.
  virtual void set_sequenced_handler(SequencedHandler on_sequenced) = 0;
  // Starts the backplane (Redis: its thread, which connects and keeps reconnecting).
  virtual void start() = 0;
  // Stops it: buffered messages not yet sent are discarded (counted in Stats::buffered
  // until then); no handler runs once stop() has returned. Idempotent; the destructor
  // calls it.
  virtual void stop() = 0;

  // Thread-safe.
  virtual PublishResult publish(std::string_view channel, std::string_view payload) = 0;
  // Thread-safe. Numbers payload on channel, keeps it in the channel's history (bounded by
  // limits) and delivers it to every subscribed node, this one included, through the
  // SequencedHandler (see above). Answers like publish(), shares its buffer, and is
  // ordered with this thread's publish() calls. Redis: numbered once even when re-sent
  // after a lost connection.
  virtual PublishResult publish_sequenced(std::string_view channel, std::string_view payload,
                                          HistoryLimits limits) = 0;
  // Thread-safe. channel's kept history after `after`, at most max entries, with limits'
  // age bound applied now (an entry past max_age_ms is neither returned nor counted in
  // first). done runs exactly once: not Up (or stopped), at once on the calling thread
  // with ok=false, before fetch_history returns; otherwise memory: on the calling thread
  // before it returns; Redis: on its thread, with ok=false if the link is lost first or
  // the backplane stops first (then before stop() returns). Redis reads on the publish
  // connection, after what this thread published before.
  virtual void fetch_history(std::string_view channel, std::uint64_t after, std::size_t max, HistoryLimits limits,
                             std::function<void(HistoryRange)> done) = 0;
  // Thread-safe; reference-counted per channel (see above).
  virtual void subscribe(std::string_view channel, std::function<void()> on_active = {}) = 0;
  virtual void unsubscribe(std::string_view channel) = 0;

  virtual Stats stats() const = 0;
  // "memory" or "redis".
  virtual std::string_view kind() const noexcept = 0;
};

// A node of the in-process bus `bus`: every backplane of this process made with the same
// name, started and not stopped, is a node of one deployment. Always Up, never buffers or
// refuses. The bus's sequenced channels live while one of its nodes is started: when the
// last one stops they are gone (numbering starts again at 1), and while none is started a
// sequenced publish numbers nothing.
std::unique_ptr<Backplane> make_memory_backplane(std::string_view bus);

}  // namespace wirehub::backplane
