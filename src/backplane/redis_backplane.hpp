#pragma once
// The Redis backplane: the Backplane contract (backplane.hpp) over Redis pub/sub.
//
// The backplane owns an EventLoop on its own thread and two RedisConnections on it: a
// subscriber (SUBSCRIBE/UNSUBSCRIBE only, one Redis subscription per channel with local
// subscribers) and a publisher (PUBLISH, pipelined). A Redis channel is
// channel_prefix + channel.
//
// Publishing. publish() (any thread) appends to a mutex-guarded outbox and posts one
// drain per batch to the loop. While the backplane is Up the loop issues a PUBLISH at
// once for each message; while it is Connecting messages wait in order, up to
// buffer_max_messages / buffer_max_bytes (payload bytes) held in all — waiting, or sent
// and not yet acknowledged — and past that publish() answers Refused. State is Up only
// when both connections are ready, every subscription is confirmed again after a
// (re)connect and the peers are back (below); the buffer is flushed only then, so this
// node's own buffered messages reach this node too.
//
// Exactly once, in order. Each payload travels in an envelope: the origin (a random
// 64-bit id of this backplane instance) and a sequence number (one counter per origin
// over all channels), both big-endian, then the payload. PUBLISHes sent and not yet
// acknowledged stay in an in-flight queue; when the publish connection is lost Redis may
// or may not have taken them, so after the reconnect they are sent again, first, before
// the buffer. A receiver keeps, per origin, the highest sequence it has seen and drops
// (counting Stats::duplicates) anything not higher. That is sound because Redis is one
// server that runs commands one at a time and writes a subscriber's messages in the
// order it ran the PUBLISHes: the messages of one publish connection reach a subscriber
// in sequence order; a later connection's re-sends are a superset, in the same order, of
// whatever an earlier connection still had in flight, so however Redis interleaves the
// two the first copy of each message to arrive is the one in order and every later copy
// has a sequence not higher than one already seen.
//
// Buffered publishes and late peers. Pub/sub keeps nothing for a subscriber that is not
// there, so a node that flushed its buffer the moment its own link was back would lose it
// for every node that has not subscribed again yet. Each node therefore has a presence
// channel, channel_prefix + "node:" + its id (16 hex digits), which its subscriber
// connection subscribes LAST after every (re)connect; Redis runs one connection's commands
// in order, so while PUBSUB NUMSUB counts that channel, every channel the node wants is
// subscribed too, and a dead connection or a restarted Redis counts nothing: no TTL, clock
// or run id to trust. Nodes also list themselves in the set channel_prefix + "nodes"
// (re-added on every scan; members no longer subscribed are removed). While Up, a node
// scans that set every peer_scan_ms (one script on the publish connection) and keeps the
// peers it found. When its link comes back with publishes held, it stays Connecting (new
// publishes queue behind the held ones) and polls PUBSUB NUMSUB on the presence channels
// of those peers until every one is subscribed again, or flush_wait_ms has passed — a peer
// not back by then is taken for dead or cut off, named in a warning and counted in
// Stats::peers_missed — and only then flushes, in order, on the same connection as the
// poll: Redis runs the PUBLISHes after it saw the peers subscribed.
//
// What this does not cover: a message Redis acknowledged (and so dropped from in flight)
// but had not yet written to a subscriber's socket when it died is lost for that
// subscriber; so is anything published while a node's own subscriber connection is down
// and the publisher's link is up (nothing is held then); a peer that joined, or came
// back, less than one scan before the outage is not waited for, and a node that was never
// Up knows no peers and flushes at once. Filling those gaps is
// topic history's job, above this layer.
//
// Sequenced channels (backplane.hpp). publish_sequenced() goes through the same outbox,
// buffer and in-flight queue as publish(), in order with it, but the loop sends, instead
// of a PUBLISH, EVALSHA of a script run atomically by Redis. For channel C it uses
//   channel_prefix + "h:" + C     the history, a Stream: entry id "<seq>-0", fields
//                                 t (Redis' TIME in ms) and p (the payload);
//   channel_prefix + "hseq:" + C  "<last number given>:<epoch>", kept when the stream is
//                                 trimmed to nothing ("h:" and "hseq:" cannot collide,
//                                 whatever C); the epoch (16 hex digits) is a random id
//                                 the publisher offers and the script takes when the
//                                 counter does not exist, i.e. when numbering starts at 1;
//   channel_prefix + "origin:" + this node's id (16 hex digits)  the highest origin
//                                 sequence of this node the script has applied (1 day TTL).
// The script skips — no number, no entry, no PUBLISH; counted in Stats::duplicates on the
// publishing node — a message whose origin sequence is not above that mark: a re-send
// whose first copy Redis ran before the connection was lost. That is exact for the same
// reason receivers may drop by sequence (above): one connection's scripts run in
// sequence order, and a later connection's re-sends are a superset, in the same order, of
// what an earlier one had in flight. Otherwise it gives seq = counter + 1, XADDs with an
// exact MAXLEN of max_messages, and with max_age_ms drops the head entries older than
// that (XTRIM MINID; it reads only the head, one entry when nothing is old) and sets
// PEXPIRE 2 × max_age_ms on both channel keys — refreshed by each publish, so the keys of
// a channel nobody publishes to any more go away, and its numbering starts again at 1 —
// or PERSIST without one. Then it PUBLISHes on channel_prefix + C an envelope whose origin
// is 0 (no node has that id) and whose sequence is seq, then the epoch (8 bytes,
// big-endian), then the payload. Redis runs one
// script at a time and sends every subscriber a channel's messages in the order it ran
// them, so each node sees number order; a receiver hands these to the SequencedHandler,
// on the publishing node too, without the per-origin dedupe (the script did it).
// fetch_history runs a second script on the publish connection, behind what was
// published before it: first (the oldest entry not older than max_age_ms), last and the
// epoch (the counter) and the entries after `after` read at one instant.
// Both scripts are loaded (SCRIPT LOAD) on every publish connection before the link
// counts as up, so a restarted Redis, which has none, gets them first. A NOSCRIPT later
// (SCRIPT FLUSH under a live connection), like any error reply to a publish, drops the
// connection and sends the message again on the next one — after plain publishes that
// were pipelined behind it: their order with it is lost then. Numbers and history last as
// long as Redis' data: a Redis restarted without persistence (appendonly) starts every
// channel again at 1 under a new epoch, so a reader's old position is recognised as void.
//
// Reconnects back off exponentially from reconnect_min_ms to reconnect_max_ms with
// jitter; the subscriber re-subscribes every channel with a live reference count. A
// failed AUTH or SELECT is logged with Redis' error and retried like any other failure.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "backplane/backplane.hpp"

namespace wirehub::backplane {

struct RedisOptions {
  std::string host = "127.0.0.1";  // address (IPv6 without brackets) or host name
  std::uint16_t port = 6379;
  std::string password;  // empty: no AUTH
  std::string user;      // Redis 6 ACL user; needs a password
  int db = 0;
  std::string channel_prefix = "wirehub:";
  std::size_t buffer_max_messages = 100'000;
  std::size_t buffer_max_bytes = 64 * 1024 * 1024;
  std::uint32_t reconnect_min_ms = 100;
  std::uint32_t reconnect_max_ms = 5'000;
  std::uint32_t connect_timeout_ms = 2'000;
  std::uint32_t command_timeout_ms = 5'000;  // a PUBLISH or (UN)SUBSCRIBE unanswered: the link is dead
  // Redis sends a node its own PUBLISHes back on its subscriptions; the Backplane contract
  // (each node delivers its own messages itself) drops them. true hands them to the
  // handler like any other node's: the node then observes its own traffic through the
  // wire, which the backplane's tests use to check order and exactly-once end to end.
  bool deliver_own = false;
  // How often a node that is Up lists the peers it will wait for after an outage.
  std::uint32_t peer_scan_ms = 5'000;
  // After an outage, the longest a node holding publishes waits for those peers to
  // subscribe again before it sends them.
  std::uint32_t flush_wait_ms = 10'000;
};

// The options a URL names (every other field keeps its default), or why it is not one.
struct RedisUrl {
  RedisOptions options;
  std::string error;  // empty when the URL is good
};

// redis://[[user]:password@]host[:port][/db]; user and password may be percent-encoded;
// an IPv6 host goes in brackets. rediss:// is refused (no TLS in hiredis 0.14).
RedisUrl parse_redis_url(std::string_view url);

std::unique_ptr<Backplane> make_redis_backplane(RedisOptions options);

}  // namespace wirehub::backplane
