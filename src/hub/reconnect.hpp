#pragma once
// Stateful reconnect bookkeeping, without I/O (PROTOCOL.md section 12). One connection
// owns one ReplayBuffer (what it sent) and one InboundSequence (what it received); no
// threads, no clock (the connection runs the 1 s Ack timer and asks ack_due()).
//
// Trackable messages are types 1-5 (Invocation, StreamItem, Completion, StreamInvocation,
// CancelInvocation); Ping, Close, Ack, Sequence and the handshake are never numbered. Each
// direction numbers its trackable messages 1, 2, 3... implicitly (the ids are not on the
// wire), for the whole logical connection: a reconnect does not reset them. After a
// reconnect each side first sends Sequence(first_unacked_id()) and then replays
// for_each_unacked(), oldest first, before anything new.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string_view>

#include "core/shared_buffer.hpp"

namespace wirehub::hub {

// ASP.NET's StatefulReconnectBufferSize default, in bytes.
inline constexpr std::size_t kDefaultReplayBufferBytes = 100'000;

// The trackable messages sent and not yet acknowledged, for replay after a reconnect.
class ReplayBuffer {
 public:
  // One framed message held for replay: a range of a shared block, so a message framed once
  // for many connections is held once, not copied into each connection's buffer.
  struct Message {
    BufferRef buf;
    std::size_t off = 0;
    std::size_t len = 0;
    std::string_view bytes() const noexcept { return buf->view().substr(off, len); }
  };

  explicit ReplayBuffer(std::size_t limit_bytes = kDefaultReplayBufferBytes) noexcept : limit_(limit_bytes) {}

  // Takes a trackable message about to be sent (its framed bytes, buf[off, off + len)) and
  // gives it id next_id(). Returns false, taking nothing and numbering nothing, when it
  // does not fit: the buffered bytes would pass the limit. A message larger than the limit
  // on its own is taken when the buffer is empty, so it cannot wedge the connection. On
  // false the caller holds the message back and pushes it again after an Ack made room
  // (flow control, as ASP.NET's writer waits for an Ack). ASP.NET admits a message while
  // the buffered count is at most the limit, overshooting by up to one message; this
  // bound is strict.
  bool push(BufferRef buf, std::size_t off, std::size_t len);
  // The same for bytes of the caller's, copied into a block of their own.
  bool push(std::string_view framed);

  // The peer's Ack(n): drops the messages with id <= n. Returns false (a protocol error,
  // which ASP.NET leaves open) for n beyond the last id sent or below 0; Ack(0) and an Ack
  // below an earlier one are valid and drop nothing new.
  bool ack(std::int64_t n);

  // The id the next pushed message gets (1 on a new connection).
  std::int64_t next_id() const noexcept { return first_unacked_ + static_cast<std::int64_t>(messages_.size()); }
  // What this side's Sequence message says after a reconnect: the oldest unacked id, or
  // next_id() when nothing is buffered.
  std::int64_t first_unacked_id() const noexcept { return first_unacked_; }

  // Calls f(const Message&) for each unacked message, oldest first: the replay after a
  // reconnect. f must not push or ack (that would change the sequence being walked).
  template <class F>
  void for_each_unacked(F&& f) const {
    for (const Message& m : messages_) f(m);
  }

  std::size_t buffered_bytes() const noexcept { return bytes_; }
  std::size_t buffered_count() const noexcept { return messages_.size(); }

 private:
  bool fits(std::size_t len) const noexcept;

  std::deque<Message> messages_;  // ids first_unacked_, first_unacked_ + 1, ...
  std::int64_t first_unacked_ = 1;
  std::size_t bytes_ = 0;
  std::size_t limit_;
};

// The receiving side's numbering: drops replayed duplicates and says what to Ack.
class InboundSequence {
 public:
  // A trackable message arrived. True: new, process it. False: drop it, because it is a
  // replayed duplicate (its id <= the highest processed) or because the peer's Sequence has
  // not yet arrived after expect_sequence() (ASP.NET ignores such messages; they take no id,
  // as the Sequence will number what follows it).
  bool on_trackable() noexcept;

  // The peer's Sequence(s): the next trackable message it sends has id s. Returns false (a
  // protocol error: "Sequence ID greater than amount of messages we've received.") when s is
  // past ack_id() + 1, which would leave a gap, or below 1, which no sender can mean. A
  // repeated Sequence is valid and simply renumbers again.
  // ASP.NET and the JS client compare s with their running counter instead, which a replay
  // rewinds: if that replay is cut short by another drop after an Ack already reached the
  // peer, the peer's next Sequence is past the counter though nothing is missing, and they
  // fail the connection. The highest processed id is the bound that means "gap".
  bool on_sequence(std::int64_t s) noexcept;

  // The transport was replaced (a reconnect): until the peer's Sequence, trackable
  // messages are dropped; PROTOCOL.md section 12 says Sequence comes first.
  void expect_sequence() noexcept { awaiting_sequence_ = true; }
  bool awaiting_sequence() const noexcept { return awaiting_sequence_; }

  // The highest id processed: the value for the next Ack (0 before any).
  std::int64_t ack_id() const noexcept { return highest_processed_; }
  // True when a trackable message arrived since the last ack_sent(), a duplicate included:
  // re-acknowledging after a replay of already-processed messages lets the peer drop them
  // even when the Ack that covered them was lost with the old transport.
  bool ack_due() const noexcept { return arrived_since_ack_; }
  // The connection sent Ack(ack_id()).
  void ack_sent() noexcept { arrived_since_ack_ = false; }

  // The id the next trackable message will get.
  std::int64_t next_expected_id() const noexcept { return next_expected_; }

 private:
  std::int64_t next_expected_ = 1;
  std::int64_t highest_processed_ = 0;
  bool arrived_since_ack_ = false;
  bool awaiting_sequence_ = false;
};

}  // namespace wirehub::hub
