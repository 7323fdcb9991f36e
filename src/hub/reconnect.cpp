#include "hub/reconnect.hpp"

#include <utility>

namespace wirehub::hub {

bool ReplayBuffer::fits(std::size_t len) const noexcept {
  // bytes_ passes the limit only while it holds one message larger than the limit alone.
  return messages_.empty() || (bytes_ <= limit_ && len <= limit_ - bytes_);
}

bool ReplayBuffer::push(BufferRef buf, std::size_t off, std::size_t len) {
  if (!fits(len)) return false;
  bytes_ += len;
  messages_.push_back(Message{std::move(buf), off, len});
  return true;
}

bool ReplayBuffer::push(std::string_view framed) {
  // Check before copying: a refused message is pushed again later, copied again then.
  if (!fits(framed.size())) return false;
  return push(BufferRef::copy_of(framed), 0, framed.size());
}

bool ReplayBuffer::ack(std::int64_t n) {
  if (n < 0 || n >= next_id()) return false;
  while (first_unacked_ <= n) {
    bytes_ -= messages_.front().len;
    messages_.pop_front();
    ++first_unacked_;
  }
  return true;
}

bool InboundSequence::on_trackable() noexcept {
  if (awaiting_sequence_) return false;
  const std::int64_t id = next_expected_++;
  arrived_since_ack_ = true;
  if (id <= highest_processed_) return false;
  highest_processed_ = id;
  return true;
}

bool InboundSequence::on_sequence(std::int64_t s) noexcept {
  if (s < 1 || s > highest_processed_ + 1) return false;
  next_expected_ = s;
  awaiting_sequence_ = false;
  return true;
}

}  // namespace wirehub::hub
