#include "fanout/topic_index.hpp"

#include <algorithm>

namespace wirehub::fanout {

TopicIndex::Topic* TopicIndex::find(std::string_view topic) const {
  auto it = by_name_.find(topic);
  return it == by_name_.end() ? nullptr : it->second.get();
}

TopicIndex::Membership* TopicIndex::membership(Slot slot, const Topic* t) {
  if (slot >= by_slot_.size()) return nullptr;
  for (Membership& m : by_slot_[slot]) {
    if (m.topic == t) return &m;
  }
  return nullptr;
}

bool TopicIndex::subscribe(Slot slot, std::string_view topic, std::uint64_t floor) {
  if (topic.empty()) return false;
  Topic* t = find(topic);
  if (t && membership(slot, t)) return false;
  if (slot >= by_slot_.size()) by_slot_.resize(std::max<std::size_t>(slot + 1, 2 * by_slot_.size()));
  if (!t) {
    auto owned = std::make_unique<Topic>();
    owned->name.assign(topic);
    t = owned.get();
    by_name_.emplace(owned->name, std::move(owned));
    if (relay_) relay_->watch(t->name);
  }
  by_slot_[slot].push_back({t, static_cast<std::uint32_t>(t->members.size())});
  t->members.push_back(slot);
  t->floors.push_back(floor);
  ++subscriptions_;
  return true;
}

void TopicIndex::drop(Slot slot, Membership m) {
  Topic* t = m.topic;
  const Slot last = t->members.back();
  if (last != slot) {
    t->members[m.pos] = last;
    t->floors[m.pos] = t->floors.back();
    membership(last, t)->pos = m.pos;
  }
  t->members.pop_back();
  t->floors.pop_back();
  --subscriptions_;
  if (t->members.empty()) {
    if (relay_) relay_->unwatch(t->name);
    by_name_.erase(t->name);  // t is freed here
  }
}

bool TopicIndex::unsubscribe(Slot slot, std::string_view topic) {
  Topic* t = find(topic);
  if (!t) return false;
  Membership* m = membership(slot, t);
  if (!m) return false;
  Membership copy = *m;
  auto& mine = by_slot_[slot];
  *m = mine.back();
  mine.pop_back();
  drop(slot, copy);
  return true;
}

void TopicIndex::remove(Slot slot) {
  if (slot >= by_slot_.size()) return;
  std::vector<Membership> mine;
  mine.swap(by_slot_[slot]);
  for (const Membership& m : mine) drop(slot, m);
}

bool TopicIndex::is_subscribed(Slot slot, std::string_view topic) const {
  Topic* t = find(topic);
  if (!t || slot >= by_slot_.size()) return false;
  return std::any_of(by_slot_[slot].begin(), by_slot_[slot].end(), [t](const Membership& m) { return m.topic == t; });
}

std::span<const TopicIndex::Slot> TopicIndex::subscribers(std::string_view topic) const {
  Topic* t = find(topic);
  if (!t) return {};
  return t->members;
}

TopicIndex::Members TopicIndex::members(std::string_view topic) const {
  Topic* t = find(topic);
  if (!t) return {};
  return {t->members, t->floors};
}

void TopicIndex::clear_floors(std::string_view topic) {
  if (Topic* t = find(topic)) std::fill(t->floors.begin(), t->floors.end(), 0);
}

std::vector<std::string_view> TopicIndex::topics_of(Slot slot) const {
  std::vector<std::string_view> out;
  if (slot >= by_slot_.size()) return out;
  for (const Membership& m : by_slot_[slot]) out.push_back(m.topic->name);
  return out;
}

}  // namespace wirehub::fanout
