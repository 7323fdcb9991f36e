#include "net/slice_queue.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace wirehub::net {

namespace {
// Copied writes go into blocks this queue owns. The first block is small, because most
// queues only ever hold a frame or two (a reply to a peer that is not reading this very
// moment, a Close at shutdown to every connection at once); each further block doubles
// the last one up to kMaxTailBlock, so a queue under load still copies into large blocks.
constexpr std::size_t kFirstTailBlock = 512 - 32;  // with the buffer and malloc headers, 512 B
constexpr std::size_t kMaxTailBlock = 16 * 1024;
}

SliceQueue::SliceQueue(SliceQueue&& o) noexcept
    : ring_(std::exchange(o.ring_, nullptr)),
      head_(std::exchange(o.head_, 0)),
      count_(std::exchange(o.count_, 0)),
      cap_(std::exchange(o.cap_, 0)),
      head_written_(std::exchange(o.head_written_, 0)),
      bytes_(std::exchange(o.bytes_, 0)) {}

SliceQueue& SliceQueue::operator=(SliceQueue&& o) noexcept {
  if (this != &o) {
    clear();
    std::free(ring_);
    ring_ = std::exchange(o.ring_, nullptr);
    head_ = std::exchange(o.head_, 0);
    count_ = std::exchange(o.count_, 0);
    cap_ = std::exchange(o.cap_, 0);
    head_written_ = std::exchange(o.head_written_, 0);
    bytes_ = std::exchange(o.bytes_, 0);
  }
  return *this;
}

SliceQueue::~SliceQueue() {
  clear();
  std::free(ring_);
}

void SliceQueue::grow() {
  std::uint32_t cap = cap_ ? cap_ * 2 : 8;
  auto* ring = static_cast<Slice*>(std::malloc(cap * sizeof(Slice)));
  if (!ring) throw std::bad_alloc();
  for (std::uint32_t i = 0; i < count_; ++i) ring[i] = at(i);
  std::free(ring_);
  ring_ = ring;
  cap_ = cap;
  head_ = 0;
}

void SliceQueue::push(const Slice& s) {
  if (count_ == cap_) grow();
  at(count_) = s;
  ++count_;
  bytes_ += s.len;
}

void SliceQueue::push_copy(std::string_view bytes, std::uint8_t flags, std::uint64_t tag) {
  if (bytes.empty()) return;
  if (count_ > 0 && !(flags & kControl)) {
    Slice& last = at(count_ - 1);
    std::size_t end = std::size_t{last.off} + last.len;
    // Our own tail block with room left and nothing after `end`: copy into it. A frame
    // start gets a slice of its own (same block) so it stays a boundary for drop policies.
    if ((last.flags & kOwnedTail) && !(last.flags & kControl) && last.buf->size() == end &&
        last.buf->capacity() - end >= bytes.size()) {
      std::memcpy(last.buf->data() + end, bytes.data(), bytes.size());
      last.buf->set_size(end + bytes.size());
      if (flags & kFrameStart) {
        last.buf->retain();
        push({last.buf, static_cast<std::uint32_t>(end), static_cast<std::uint32_t>(bytes.size()),
              static_cast<std::uint8_t>(flags | kOwnedTail), 1, tag});
      } else {
        last.len += static_cast<std::uint32_t>(bytes.size());
        bytes_ += bytes.size();
      }
      return;
    }
  }
  std::size_t block = kFirstTailBlock;
  if (count_ > 0 && (at(count_ - 1).flags & kOwnedTail)) {
    block = std::min(at(count_ - 1).buf->capacity() * 2, kMaxTailBlock);
  }
  SharedBuffer* b = SharedBuffer::allocate(std::max(bytes.size(), block));
  std::memcpy(b->data(), bytes.data(), bytes.size());
  b->set_size(bytes.size());
  try {
    push({b, 0, static_cast<std::uint32_t>(bytes.size()), static_cast<std::uint8_t>(flags | kOwnedTail),
          static_cast<std::uint16_t>((flags & kFrameStart) ? 1 : 0), tag});
  } catch (...) {
    b->release();
    throw;
  }
}

void SliceQueue::push_shared(const BufferRef& buf, std::size_t off, std::size_t len, std::uint8_t flags,
                             std::uint64_t tag, bool merge) {
  if (len == 0) return;
  if (merge && count_ > 0 && flags == kFrameStart) {
    Slice& last = at(count_ - 1);
    // Only a plain data frame start (possibly already partly written) of the same buffer,
    // ending exactly where this frame begins, with the same tag.
    if (last.buf == buf.get() && std::size_t{last.off} + last.len == off && (last.flags & ~kStarted) == kFrameStart &&
        last.tag == tag && last.frames < UINT16_MAX) {
      last.len += static_cast<std::uint32_t>(len);
      ++last.frames;
      bytes_ += len;
      return;
    }
  }
  buf->retain();
  try {
    push({buf.get(), static_cast<std::uint32_t>(off), static_cast<std::uint32_t>(len),
          static_cast<std::uint8_t>(flags & ~kOwnedTail), static_cast<std::uint16_t>((flags & kFrameStart) ? 1 : 0),
          tag});
  } catch (...) {
    buf->release();
    throw;
  }
}

void SliceQueue::push_control(std::string_view frame) {
  // Find the first frame start that has not begun to be written.
  // Started slices (and what continues them) are skipped: a control frame may only go
  // where a data frame boundary is, before any byte of that frame has been written.
  std::uint32_t pos = count_;
  for (std::uint32_t i = 0; i < count_; ++i) {
    if (i == 0 && head_written_ > 0) continue;
    const Slice& s = at(i);
    if ((s.flags & kFrameStart) && !(s.flags & (kControl | kStarted))) {
      pos = i;
      break;
    }
  }
  SharedBuffer* b = SharedBuffer::allocate(frame.size());
  std::memcpy(b->data(), frame.data(), frame.size());
  b->set_size(frame.size());
  try {
    push({b, 0, static_cast<std::uint32_t>(frame.size()), kFrameStart | kControl, 1, 0});
  } catch (...) {
    b->release();
    throw;
  }
  // Rotate the new slice from the back into position.
  for (std::uint32_t i = count_ - 1; i > pos; --i) std::swap(at(i), at(i - 1));
}

int SliceQueue::gather(iovec* iov, int max) const noexcept {
  int n = 0;
  for (std::uint32_t i = 0; i < count_ && n < max; ++i, ++n) {
    const Slice& s = at(i);
    std::uint32_t skip = i == 0 ? head_written_ : 0;
    iov[n].iov_base = const_cast<char*>(s.buf->data()) + s.off + skip;
    iov[n].iov_len = s.len - skip;
  }
  return n;
}

void SliceQueue::consume(std::size_t n) noexcept {
  bytes_ -= n;
  while (n > 0 && count_ > 0) {
    Slice& s = at(0);
    std::size_t left = s.len - head_written_;
    if (n < left) {
      head_written_ += static_cast<std::uint32_t>(n);
      return;
    }
    n -= left;
    s.buf->release();
    head_ = (head_ + 1) & (cap_ - 1);
    --count_;
    head_written_ = 0;
  }
}

void SliceQueue::erase(std::size_t i) noexcept {
  Slice& s = at(i);
  bytes_ -= s.len;
  s.buf->release();
  for (std::size_t j = i; j + 1 < count_; ++j) at(j) = at(j + 1);
  --count_;
}

bool SliceQueue::droppable(std::uint32_t i) const noexcept {
  const Slice& s = at(i);
  bool started = (i == 0 && head_written_ > 0) || (s.flags & kStarted);
  return !started && !(s.flags & kControl) && (s.flags & kFrameStart);
}

std::size_t SliceQueue::erase_frame(std::uint32_t i) noexcept {
  std::size_t frames = at(i).frames;
  erase(i);
  while (i < count_ && !(at(i).flags & kFrameStart)) erase(i);
  return frames;
}

std::size_t SliceQueue::drop_oldest_frames(std::size_t target) noexcept {
  std::size_t dropped = 0;
  std::uint32_t i = 0;
  while (bytes_ > target && i < count_) {
    if (!droppable(i)) {
      ++i;
      continue;
    }
    dropped += erase_frame(i);
  }
  return dropped;
}

std::size_t SliceQueue::drop_tagged(std::uint64_t tag) noexcept {
  if (tag == 0) return 0;
  std::size_t dropped = 0;
  std::uint32_t i = 0;
  while (i < count_) {
    if (droppable(i) && at(i).tag == tag) {
      dropped += erase_frame(i);
    } else {
      ++i;
    }
  }
  return dropped;
}

void SliceQueue::clear() noexcept {
  for (std::uint32_t i = 0; i < count_; ++i) at(i).buf->release();
  count_ = head_ = head_written_ = 0;
  bytes_ = 0;
}

void SliceQueue::shrink() noexcept {
  if (count_ == 0 && ring_) {
    std::free(ring_);
    ring_ = nullptr;
    cap_ = head_ = 0;
  }
}

}  // namespace wirehub::net
