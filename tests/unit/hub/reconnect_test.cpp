#include "hub/reconnect.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <random>
#include <string>
#include <vector>

namespace wirehub::hub {
namespace {

std::vector<std::string> unacked(const ReplayBuffer& b) {
  std::vector<std::string> out;
  b.for_each_unacked([&](const ReplayBuffer::Message& m) { out.emplace_back(m.bytes()); });
  return out;
}

using Strings = std::vector<std::string>;

TEST(HubReplayBuffer, NumbersFromOneAndSaysWhereTheReplayStarts) {
  ReplayBuffer b(1000);
  EXPECT_EQ(b.next_id(), 1);
  EXPECT_EQ(b.first_unacked_id(), 1);  // reconnect with nothing sent: Sequence(1), no replay
  EXPECT_TRUE(unacked(b).empty());
  ASSERT_TRUE(b.push("m1"));
  ASSERT_TRUE(b.push("m22"));
  ASSERT_TRUE(b.push("m333"));
  EXPECT_EQ(b.next_id(), 4);
  EXPECT_EQ(b.first_unacked_id(), 1);
  EXPECT_EQ(b.buffered_bytes(), 9u);
  EXPECT_EQ(unacked(b), (Strings{"m1", "m22", "m333"}));
}

TEST(HubReplayBuffer, AckDropsUpToItsIdAndNoFurther) {
  ReplayBuffer b(1000);
  for (const char* m : {"a", "bb", "ccc"}) ASSERT_TRUE(b.push(m));
  EXPECT_TRUE(b.ack(0));  // nothing processed yet: valid, drops nothing
  EXPECT_EQ(b.buffered_count(), 3u);
  EXPECT_TRUE(b.ack(2));
  EXPECT_EQ(b.first_unacked_id(), 3);
  EXPECT_EQ(b.buffered_bytes(), 3u);
  EXPECT_EQ(unacked(b), (Strings{"ccc"}));
  EXPECT_TRUE(b.ack(1));  // older than an earlier Ack: valid, changes nothing
  EXPECT_EQ(b.first_unacked_id(), 3);
  EXPECT_TRUE(b.ack(2));  // the same again
  EXPECT_EQ(b.buffered_count(), 1u);
  EXPECT_TRUE(b.ack(3));
  EXPECT_EQ(b.first_unacked_id(), 4);  // empty: Sequence would say next_id()
  EXPECT_EQ(b.next_id(), 4);
  EXPECT_EQ(b.buffered_bytes(), 0u);
}

TEST(HubReplayBuffer, AckBeyondTheLastSentIdOrNegativeIsAnError) {
  ReplayBuffer b(1000);
  EXPECT_FALSE(b.ack(1));  // nothing sent
  ASSERT_TRUE(b.push("x"));
  ASSERT_TRUE(b.push("y"));
  EXPECT_FALSE(b.ack(3));
  EXPECT_FALSE(b.ack(-1));
  EXPECT_EQ(b.buffered_count(), 2u);  // a refused Ack changes nothing
  EXPECT_TRUE(b.ack(2));
  EXPECT_FALSE(b.ack(3));  // still beyond, with the buffer empty
}

TEST(HubReplayBuffer, LimitAdmitsUpToItAndNotPast) {
  ReplayBuffer b(10);
  ASSERT_TRUE(b.push(std::string(6, 'a')));
  EXPECT_FALSE(b.push(std::string(5, 'b')));  // 11 > 10
  EXPECT_EQ(b.next_id(), 2);                  // a refused message takes no id
  ASSERT_TRUE(b.push(std::string(4, 'c')));   // exactly 10
  EXPECT_EQ(b.buffered_bytes(), 10u);
  EXPECT_FALSE(b.push("d"));
  ASSERT_TRUE(b.ack(1));     // room for 6 again
  ASSERT_TRUE(b.push(std::string(5, 'b')));
  EXPECT_EQ(b.next_id(), 4);
  EXPECT_EQ(unacked(b), (Strings{"cccc", "bbbbb"}));
}

TEST(HubReplayBuffer, OneMessageLargerThanTheLimitPassesAloneSoItCannotWedge) {
  ReplayBuffer b(10);
  ASSERT_TRUE(b.push(std::string(50, 'x')));  // the buffer was empty
  EXPECT_EQ(b.buffered_bytes(), 50u);
  EXPECT_FALSE(b.push(""));  // nothing more until it is acked
  EXPECT_FALSE(b.push("y"));
  ASSERT_TRUE(b.ack(1));
  ASSERT_TRUE(b.push(std::string(11, 'z')));  // empty again: too big passes again
  EXPECT_FALSE(b.push(std::string(11, 'z')));
}

TEST(HubReplayBuffer, SharedBlocksAreHeldNotCopied) {
  // Two framed messages packed in one block, as a broadcast arena holds them.
  BufferRef block = BufferRef::copy_of("first\x1esecond\x1e");
  ReplayBuffer b(1000);
  ASSERT_TRUE(b.push(block, 0, 6));
  ASSERT_TRUE(b.push(block, 6, 7));
  EXPECT_EQ(b.buffered_bytes(), 13u);
  std::vector<const char*> where;
  b.for_each_unacked([&](const ReplayBuffer::Message& m) { where.push_back(m.bytes().data()); });
  ASSERT_EQ(where.size(), 2u);
  EXPECT_EQ(where[0], block->data());
  EXPECT_EQ(where[1], block->data() + 6);
  EXPECT_EQ(unacked(b), (Strings{"first\x1e", "second\x1e"}));
  EXPECT_FALSE(block->unique());
  ASSERT_TRUE(b.ack(2));
  EXPECT_TRUE(block->unique());  // acked messages let go of the block
}

TEST(HubInboundSequence, NewMessagesAreProcessedAndAckedUpToTheHighest) {
  InboundSequence in;
  EXPECT_EQ(in.ack_id(), 0);
  EXPECT_FALSE(in.ack_due());
  EXPECT_TRUE(in.on_trackable());
  EXPECT_TRUE(in.on_trackable());
  EXPECT_EQ(in.ack_id(), 2);
  EXPECT_TRUE(in.ack_due());
  in.ack_sent();
  EXPECT_FALSE(in.ack_due());
  EXPECT_TRUE(in.on_trackable());
  EXPECT_TRUE(in.ack_due());
  EXPECT_EQ(in.ack_id(), 3);
  EXPECT_EQ(in.next_expected_id(), 4);
}

TEST(HubInboundSequence, ReplayedDuplicatesAreDroppedUntilNewOnesArrive) {
  InboundSequence in;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(in.on_trackable());  // 1..5 processed
  in.ack_sent();
  // The peer kept 3..7 (our Ack of 5 did not reach it, and it sent 6, 7 into the drop).
  ASSERT_TRUE(in.on_sequence(3));
  EXPECT_FALSE(in.on_trackable());  // 3
  EXPECT_TRUE(in.ack_due());        // re-ack: the peer may drop 3
  EXPECT_FALSE(in.on_trackable());  // 4
  EXPECT_FALSE(in.on_trackable());  // 5
  EXPECT_EQ(in.ack_id(), 5);
  EXPECT_TRUE(in.on_trackable());  // 6
  EXPECT_TRUE(in.on_trackable());  // 7
  EXPECT_EQ(in.ack_id(), 7);
}

TEST(HubInboundSequence, ASequencePastTheHighestProcessedIdPlusOneIsAGap) {
  InboundSequence in;
  EXPECT_FALSE(in.on_sequence(2));  // nothing received, 1 is next
  ASSERT_TRUE(in.on_trackable());
  ASSERT_TRUE(in.on_trackable());
  EXPECT_FALSE(in.on_sequence(4));  // message 3 would be lost
  EXPECT_FALSE(in.on_sequence(0));
  EXPECT_FALSE(in.on_sequence(-5));
  EXPECT_EQ(in.next_expected_id(), 3);  // refused: nothing changed
  EXPECT_TRUE(in.on_sequence(3));       // nothing to replay
  EXPECT_TRUE(in.on_trackable());
  EXPECT_EQ(in.ack_id(), 3);
}

// Found by the model below: a replay cut short by a drop after the receiver's Ack reached
// the sender. The receiver's counter was rewound to 3 by the first Sequence, the sender
// then dropped 1..10 on Ack(10), so its next Sequence says 11: nothing is missing.
TEST(HubInboundSequence, SequenceAfterAnInterruptedReplayWhoseMessagesWereAckedIsNoGap) {
  InboundSequence in;
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(in.on_trackable());
  in.ack_sent();
  in.expect_sequence();
  ASSERT_TRUE(in.on_sequence(3));
  EXPECT_FALSE(in.on_trackable());  // 3, a duplicate; Ack(10) goes out, then the drop
  EXPECT_EQ(in.ack_id(), 10);
  in.ack_sent();
  in.expect_sequence();
  EXPECT_TRUE(in.on_sequence(11));
  EXPECT_TRUE(in.on_trackable());  // 11
  EXPECT_EQ(in.ack_id(), 11);
}

TEST(HubInboundSequence, ARepeatedSequenceRenumbersAgain) {
  InboundSequence in;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(in.on_trackable());
  ASSERT_TRUE(in.on_sequence(2));
  ASSERT_TRUE(in.on_sequence(2));   // the same Sequence twice
  EXPECT_FALSE(in.on_trackable());  // 2
  ASSERT_TRUE(in.on_sequence(2));   // and again after a replayed message
  EXPECT_FALSE(in.on_trackable());  // 2
  EXPECT_FALSE(in.on_trackable());  // 3
  EXPECT_TRUE(in.on_trackable());   // 4
  EXPECT_EQ(in.ack_id(), 4);
}

TEST(HubInboundSequence, AfterAReconnectNothingCountsBeforeTheSequence) {
  InboundSequence in;
  ASSERT_TRUE(in.on_trackable());
  in.ack_sent();
  in.expect_sequence();
  EXPECT_TRUE(in.awaiting_sequence());
  EXPECT_FALSE(in.on_trackable());  // ignored, takes no id
  EXPECT_FALSE(in.ack_due());
  EXPECT_EQ(in.next_expected_id(), 2);
  ASSERT_TRUE(in.on_sequence(2));
  EXPECT_FALSE(in.awaiting_sequence());
  EXPECT_TRUE(in.on_trackable());
  EXPECT_EQ(in.ack_id(), 2);
}

// Both directions' bookkeeping through drops and reconnects, by hand: the table cases.
TEST(HubStatefulReconnect, AckInTheMiddleOfAReplayThenAnotherDrop) {
  ReplayBuffer out(1000);
  InboundSequence in;
  for (const char* m : {"1", "2", "3", "4", "5"}) ASSERT_TRUE(out.push(m));
  ASSERT_TRUE(in.on_trackable());  // 1 arrives, then the connection drops
  // Reconnect 1: Sequence(1) and replay 1..5; 1..3 arrive, the receiver acks 3, drop again.
  EXPECT_EQ(out.first_unacked_id(), 1);
  ASSERT_TRUE(in.on_sequence(out.first_unacked_id()));
  EXPECT_FALSE(in.on_trackable());  // 1, seen
  EXPECT_TRUE(in.on_trackable());   // 2
  EXPECT_TRUE(in.on_trackable());   // 3
  ASSERT_TRUE(out.ack(in.ack_id()));
  in.ack_sent();
  // Reconnect 2: the replay starts after what was acked.
  EXPECT_EQ(out.first_unacked_id(), 4);
  EXPECT_EQ(unacked(out), (Strings{"4", "5"}));
  in.expect_sequence();
  ASSERT_TRUE(in.on_sequence(out.first_unacked_id()));
  EXPECT_TRUE(in.on_trackable());  // 4
  EXPECT_TRUE(in.on_trackable());  // 5
  ASSERT_TRUE(out.push("6"));
  EXPECT_TRUE(in.on_trackable());  // 6
  ASSERT_TRUE(out.ack(in.ack_id()));
  EXPECT_EQ(out.buffered_count(), 0u);
  // Reconnect 3 with nothing buffered: Sequence(next id), no replay, nothing lost.
  EXPECT_EQ(out.first_unacked_id(), 7);
  in.expect_sequence();
  EXPECT_TRUE(in.on_sequence(out.first_unacked_id()));
  EXPECT_TRUE(in.on_trackable());
  EXPECT_EQ(in.ack_id(), 7);
}

// A model of two peers over a transport that drops at random, with in-flight frames lost.
// Each side follows section 12: buffer and number what it sends, hold back what the
// buffer refuses, ack what it processed, and on each reconnect send Sequence then replay.
// Whatever happens, each side's application sees the other's messages exactly once, in
// order (checked at every delivery, and in full at the end).
struct Frame {
  enum Kind { Trackable, Ack, Sequence } kind;
  std::int64_t n = 0;
  std::string bytes;
};

struct Peer {
  explicit Peer(std::size_t limit) : out(limit) {}
  ReplayBuffer out;
  InboundSequence in;
  std::deque<std::string> held;  // refused by the full buffer, in send order
  Strings sent, delivered;
  int next_message = 0;
};

class Link {
 public:
  Link(std::uint32_t seed, std::size_t limit) : rng_(seed), a_(limit), b_(limit) {}

  void run(int steps) {
    for (int i = 0; i < steps && !::testing::Test::HasFatalFailure(); ++i) step();
    if (!up_) reconnect();
    // Drain without drops: everything sent must arrive and every buffer empty out.
    for (int guard = 0; guard < 100'000 && !quiet(); ++guard) {
      if (!to_b_.empty()) {
        deliver(to_b_, b_, a_);
      } else if (!to_a_.empty()) {
        deliver(to_a_, a_, b_);
      } else {
        maybe_ack(a_, to_b_, true);
        maybe_ack(b_, to_a_, true);
      }
      if (::testing::Test::HasFatalFailure()) return;
    }
    ASSERT_TRUE(quiet());
    EXPECT_EQ(b_.delivered, a_.sent);
    EXPECT_EQ(a_.delivered, b_.sent);
    EXPECT_EQ(a_.out.buffered_count(), 0u);
    EXPECT_EQ(b_.out.buffered_count(), 0u);
  }

  int reconnects() const { return reconnects_; }
  int refusals() const { return refusals_; }
  std::size_t messages() const { return a_.sent.size() + b_.sent.size(); }

 private:
  bool quiet() const {
    return to_a_.empty() && to_b_.empty() && a_.held.empty() && b_.held.empty() && !a_.in.ack_due() &&
           !b_.in.ack_due();
  }

  void step() {
    const int r = pick(100);
    if (r < 30) {
      send_new(pick(2) ? a_ : b_);
    } else if (r < 70) {
      if (up_ && !to_b_.empty() && (to_a_.empty() || pick(2))) deliver(to_b_, b_, a_);
      else if (up_ && !to_a_.empty()) deliver(to_a_, a_, b_);
    } else if (r < 85) {
      maybe_ack(a_, to_b_, false);
      maybe_ack(b_, to_a_, false);
    } else if (r < 95) {
      if (up_) drop();
    } else if (!up_) {
      reconnect();
    }
  }

  // A new application message from one side, of a random size.
  void send_new(Peer& p) {
    std::deque<Frame>& wire = &p == &a_ ? to_b_ : to_a_;
    std::string m = (&p == &a_ ? "a" : "b") + std::to_string(p.next_message++) + std::string(pick(40), '.');
    p.sent.push_back(m);
    p.held.push_back(std::move(m));
    flush_held(p, wire);
  }

  // Pushes held messages while the buffer takes them; sends them if the transport is up
  // (if not, the buffer keeps them for the replay).
  void flush_held(Peer& p, std::deque<Frame>& wire) {
    while (!p.held.empty()) {
      if (!p.out.push(p.held.front())) {
        ++refusals_;
        return;
      }
      if (up_) wire.push_back(Frame{Frame::Trackable, 0, p.held.front()});
      p.held.pop_front();
    }
  }

  void deliver(std::deque<Frame>& wire, Peer& to, Peer& from) {
    Frame f = std::move(wire.front());
    wire.pop_front();
    std::deque<Frame>& back = &to == &a_ ? to_b_ : to_a_;
    switch (f.kind) {
      case Frame::Trackable:
        if (to.in.on_trackable()) {
          ASSERT_LT(to.delivered.size(), from.sent.size());
          ASSERT_EQ(f.bytes, from.sent[to.delivered.size()]) << "out of order or duplicated";
          to.delivered.push_back(std::move(f.bytes));
        }
        break;
      case Frame::Ack:
        ASSERT_TRUE(to.out.ack(f.n)) << f.n;
        flush_held(to, back);
        break;
      case Frame::Sequence:
        ASSERT_TRUE(to.in.on_sequence(f.n)) << f.n;
        break;
    }
  }

  void maybe_ack(Peer& p, std::deque<Frame>& wire, bool always) {
    if (!up_ || !p.in.ack_due() || (!always && pick(2))) return;
    wire.push_back(Frame{Frame::Ack, p.in.ack_id(), {}});
    p.in.ack_sent();
  }

  void drop() {
    up_ = false;
    to_a_.clear();  // in flight: lost with the old transport
    to_b_.clear();
  }

  void reconnect() {
    up_ = true;
    ++reconnects_;
    for (auto [p, wire] : {std::pair{&a_, &to_b_}, std::pair{&b_, &to_a_}}) {
      p->in.expect_sequence();
      wire->push_back(Frame{Frame::Sequence, p->out.first_unacked_id(), {}});
      p->out.for_each_unacked([&](const ReplayBuffer::Message& m) {
        wire->push_back(Frame{Frame::Trackable, 0, std::string(m.bytes())});
      });
    }
  }

  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

  std::mt19937 rng_;
  Peer a_, b_;
  std::deque<Frame> to_a_, to_b_;
  bool up_ = true;
  int reconnects_ = 0;
  int refusals_ = 0;
};

TEST(HubStatefulReconnect, ModelEachMessageArrivesExactlyOnceInOrderThroughDrops) {
  int reconnects = 0;
  int refusals = 0;
  std::size_t messages = 0;
  for (std::uint32_t seed = 1; seed <= 300; ++seed) {
    SCOPED_TRACE(seed);
    // Small limits make the buffer refuse often (and admit the odd oversized message).
    Link link(seed, seed % 3 == 0 ? 30 : 200);
    link.run(2000);
    if (HasFailure()) return;
    reconnects += link.reconnects();
    refusals += link.refusals();
    messages += link.messages();
  }
  // The runs did exercise what they claim to.
  EXPECT_GT(reconnects, 1000);
  EXPECT_GT(refusals, 1000);
  EXPECT_GT(messages, 50'000u);
}

}  // namespace
}  // namespace wirehub::hub
