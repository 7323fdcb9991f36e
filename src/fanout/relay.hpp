#pragma once
// Relay: carries an endpoint's broadcasts and publishes to the other nodes of a
// deployment, and tells them which topics this node has subscribers for.
//
// The server gives each WebSocket and SSE endpoint one when it runs with a backplane
// (--redis); without one an endpoint reaches its own node only and pays nothing. The
// endpoint delivers to its own connections itself, exactly as without a relay, and hands
// the same message to the relay for the other nodes; what arrives from other nodes comes
// back through the endpoint's own delivery code (see ws::Endpoint::deliver_relayed).
//
// Topic membership: a TopicIndex with a relay calls watch(topic) when the topic gains its
// first subscriber on that loop and unwatch(topic) when it loses its last; the relay
// counts across loops, so the node subscribes to a topic's channel while any of its
// connections does.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wirehub::fanout {

class Relay {
 public:
  virtual ~Relay() = default;
  // Any thread. topic "" is the endpoint's broadcast; payload is the endpoint's own
  // encoding of the message, handed back unchanged on the other nodes.
  virtual void send(std::string_view topic, std::string_view payload) = 0;
  // Any thread (the loops call them); counted per topic. on_active, when given, runs once
  // messages sent to the topic from other nodes reach this node (on a thread of the
  // relay's, not a loop); while the link is down it waits for the link.
  virtual void watch(std::string_view topic, std::function<void()> on_active) = 0;
  void watch(std::string_view topic) { watch(topic, {}); }
  virtual void unwatch(std::string_view topic) = 0;
  // Any thread: whether what this node sends now reaches the other nodes now (false: it
  // waits in a buffer, or is refused). For requests whose answer would come too late.
  virtual bool up() const = 0;

  // Topic history across nodes (fanout/topic_history.hpp, Numbering Elsewhere). Any
  // thread: payload goes to be numbered as topic's next message of the deployment and
  // kept in its history; it comes back, numbered, to every node watching topic — this one
  // included — through the endpoint's deliver_numbered. false: refused (the backplane's
  // buffer is full), counted; the caller logs it.
  virtual bool send_numbered(std::string_view topic, std::string_view payload) = 0;
  struct History {
    bool ok = false;            // false: not read (the backplane is down): error says why
    std::string error;
    std::uint64_t epoch = 0;    // the topic's numbering (0: nothing numbered yet)
    std::uint64_t first = 0;    // oldest number kept (0: none)
    std::uint64_t last = 0;     // newest number given (0: none)
    std::vector<std::pair<std::uint64_t, std::string>> messages;  // kept ones after `after`, ascending
  };
  // Any thread: topic's kept messages numbered after `after` (all of them: the history is
  // bounded), read from the backplane; done runs once, on a thread of the relay's,
  // possibly before read_history returns.
  virtual void read_history(std::string_view topic, std::uint64_t after, std::function<void(History)> done) = 0;
};

}  // namespace wirehub::fanout
