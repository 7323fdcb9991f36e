#pragma once
// TopicIndex: which connections of one loop subscribe to which topics.
//
// A loop's endpoint keeps one. Connections are named by their slot (the low bits of a
// connection id), topics by name. A publish walks subscribers(topic), one contiguous
// array; subscribe, unsubscribe and remove (a connection closing) cost O(topics of that
// connection), not O(subscribers of the topic): every membership remembers its position
// in the topic's array, and a removal moves the last member into the hole.
//
// Touched by its loop's thread only; no locks.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "fanout/relay.hpp"

namespace wirehub::fanout {

class TopicIndex {
 public:
  using Slot = std::uint32_t;

  // Adds slot to topic; false if it was already there (or topic is empty). floor: for a
  // topic with history (fanout/topic_history.hpp), the number of the last message the
  // connection already has — its replay ended there — so deliveries numbered up to it
  // skip it (0 for everything else).
  bool subscribe(Slot slot, std::string_view topic, std::uint64_t floor = 0);
  // Removes slot from topic; false if it was not there.
  bool unsubscribe(Slot slot, std::string_view topic);
  // Removes slot from every topic (the connection closed).
  void remove(Slot slot);
  bool is_subscribed(Slot slot, std::string_view topic) const;

  // The slots subscribed to topic, in no particular order; valid until the next change.
  std::span<const Slot> subscribers(std::string_view topic) const;
  // The slots subscribed to topic with their floors (floors[i] is slots[i]'s).
  struct Members {
    std::span<const Slot> slots;
    std::span<const std::uint64_t> floors;
  };
  Members members(std::string_view topic) const;
  // Sets every floor of topic to 0 (its numbering started over).
  void clear_floors(std::string_view topic);
  // The topics slot is subscribed to.
  std::vector<std::string_view> topics_of(Slot slot) const;
  std::size_t topic_count() const noexcept { return by_name_.size(); }
  std::size_t subscription_count() const noexcept { return subscriptions_; }

  // From now on, relay->watch(topic) when a topic gains its first member here and
  // relay->unwatch(topic) when it loses its last (nullptr: no relay). Set before use.
  void set_relay(Relay* relay) noexcept { relay_ = relay; }

 private:
  struct Topic {
    std::string name;
    std::vector<Slot> members;
    std::vector<std::uint64_t> floors;  // parallel to members
  };
  struct Membership {
    Topic* topic;
    std::uint32_t pos;  // index of the slot in topic->members
  };
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };

  Topic* find(std::string_view topic) const;
  Membership* membership(Slot slot, const Topic* t);
  void drop(Slot slot, Membership m);  // removes slot from m.topic's members

  // Topics with at least one member; a topic is erased when its last member leaves.
  std::unordered_map<std::string, std::unique_ptr<Topic>, StringHash, std::equal_to<>> by_name_;
  // By slot: the topics it belongs to (usually one or two).
  std::vector<std::vector<Membership>> by_slot_;
  std::size_t subscriptions_ = 0;
  Relay* relay_ = nullptr;
};

}  // namespace wirehub::fanout
