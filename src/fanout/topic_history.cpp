#include "fanout/topic_history.hpp"

#include <charconv>
#include <cstdio>

namespace wirehub::fanout {

std::string format_position(HistoryPosition p) {
  char buf[48];
  const int n = std::snprintf(buf, sizeof buf, "%016llx-%llu", static_cast<unsigned long long>(p.epoch),
                              static_cast<unsigned long long>(p.seq));
  return std::string(buf, static_cast<std::size_t>(n));
}

std::optional<HistoryPosition> parse_position(std::string_view s) {
  if (s.size() < 18 || s[16] != '-') return std::nullopt;
  HistoryPosition p;
  for (char c : s.substr(0, 16)) {
    int v;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else {
      return std::nullopt;
    }
    p.epoch = p.epoch << 4 | static_cast<std::uint64_t>(v);
  }
  const std::string_view digits = s.substr(17);
  if (digits.size() > 1 && digits[0] == '0') return std::nullopt;  // one spelling per position
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), p.seq);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return p;
}

TopicHistory::TopicHistory(Numbering numbering, Limits limits)
    : numbering_(numbering), limits_(limits), epochs_(std::random_device{}()) {
  if (limits_.max_messages == 0) limits_.max_messages = 1;
}

std::size_t TopicHistory::topic_count() const {
  std::lock_guard lock(mu_);
  return topics_.size();
}

TopicHistory::Topic* TopicHistory::find(std::string_view topic) {
  const auto it = topics_.find(topic);
  return it == topics_.end() ? nullptr : &it->second;
}

TopicHistory::Topic& TopicHistory::add(std::string_view topic, std::uint64_t epoch, std::uint64_t last,
                                       std::uint64_t now_ms) {
  sweep(now_ms);  // before the new topic exists: a sweep may forget topics
  Topic& t = topics_.try_emplace(std::string(topic)).first->second;
  reset_topic(t, epoch, last);
  return t;
}

TopicHistory::Topic& TopicHistory::topic_here(std::string_view topic, std::uint64_t now_ms) {
  sweep(now_ms);  // first: it may forget this very topic
  if (Topic* t = find(topic)) return *t;
  std::uint64_t epoch = 0;
  while (epoch == 0) epoch = epochs_();  // 0 is no epoch
  return add(topic, epoch, 0, now_ms);
}

void TopicHistory::reset_topic(Topic& t, std::uint64_t epoch, std::uint64_t last) {
  t.epoch = epoch;
  t.last = last;
  t.entries.clear();
  t.filling = false;  // what a pending fill holds is of the old numbering
  t.held.clear();
}

void TopicHistory::keep(Topic& t, std::uint64_t seq, std::uint64_t now_ms, const BufferRef& message) {
  t.entries.push_back({seq, now_ms, message});
  t.last = seq;
  while (t.entries.size() > limits_.max_messages) t.entries.pop_front();
  trim_age(t, now_ms);
}

void TopicHistory::trim_age(Topic& t, std::uint64_t now_ms) const {
  if (limits_.max_age_ms == 0) return;
  while (!t.entries.empty() && now_ms - t.entries.front().at_ms > limits_.max_age_ms) t.entries.pop_front();
}

void TopicHistory::sweep(std::uint64_t now_ms) {
  if (now_ms < next_sweep_ms_) return;
  next_sweep_ms_ = now_ms + kSweepMs;
  for (auto it = topics_.begin(); it != topics_.end();) {
    Topic& t = it->second;
    trim_age(t, now_ms);
    // Forgotten: a topic no message was numbered in (a resume named it), and one whose
    // messages all aged out. Either starts a new epoch if it comes back, so a position
    // in the old one gets a reset, never a wrong replay.
    const bool forget = !t.filling && (t.last == 0 || (limits_.max_age_ms != 0 && t.entries.empty()));
    it = forget ? topics_.erase(it) : std::next(it);
  }
}

TopicHistory::Replay TopicHistory::replay(std::string_view topic, const std::optional<HistoryPosition>& from,
                                          std::uint64_t now_ms) {
  Replay r;
  Topic* t = find(topic);
  if (t != nullptr) {
    trim_age(*t, now_ms);
    r.now = {t->epoch, t->last};
  }
  if (t == nullptr) {
    // Nothing numbered yet (or forgotten): only a position of no epoch is current. The
    // next message starts an epoch; say which now, so the client's position names it.
    t = &topic_here(topic, now_ms);
    r.now = {t->epoch, 0};
  }
  if (!from || from->epoch != t->epoch || from->seq > t->last) {
    r.kind = Replay::Kind::Reset;
    return r;
  }
  const std::uint64_t first_needed = from->seq + 1;
  if (first_needed <= t->last) {
    if (t->entries.empty() || t->entries.front().seq > first_needed) {
      r.kind = Replay::Kind::Reset;
      return r;
    }
    for (auto it = t->entries.begin() + static_cast<std::ptrdiff_t>(first_needed - t->entries.front().seq);
         it != t->entries.end(); ++it) {
      r.messages.push_back(it->message);
    }
  }
  return r;
}

TopicHistory::Cached TopicHistory::cached(std::string_view topic, HistoryPosition through, std::uint64_t now_ms) {
  Cached c;
  c.now = through;
  Topic* t = find(topic);
  if (t == nullptr) return c;  // nothing delivered here yet
  if (t->epoch != through.epoch) {
    c.complete = false;
    c.now = {t->epoch, t->last};
    return c;
  }
  if (t->last <= through.seq) return c;
  c.now.seq = t->last;
  trim_age(*t, now_ms);
  const std::uint64_t first_needed = through.seq + 1;
  if (t->entries.empty() || t->entries.front().seq > first_needed) {
    c.complete = false;
    return c;
  }
  for (auto it = t->entries.begin() + static_cast<std::ptrdiff_t>(first_needed - t->entries.front().seq);
       it != t->entries.end(); ++it) {
    c.messages.push_back(it->message);
  }
  return c;
}

}  // namespace wirehub::fanout
