#pragma once
// SliceQueue: the output queue of one connection.
//
// A ring of slices, each a view into a reference-counted SharedBuffer. Broadcast frames
// are queued by reference (one buffer, many queues); small copied writes are appended
// into a tail buffer this queue owns alone, so a run of small frames costs one block.
// Slices carry flags marking frame boundaries, so control frames can be placed ahead of
// queued data and whole unstarted frames can be dropped by a back-pressure policy.

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/shared_buffer.hpp"

namespace wirehub::net {

enum SliceFlags : std::uint8_t {
  kFrameStart = 1,  // first slice of a frame: a frame boundary precedes it
  kControl = 2,     // part of a control frame (never dropped, queued ahead of data)
  kOwnedTail = 4,   // the buffer is this queue's own copy area and may be appended to
  kStarted = 8,     // already partly sent, or of unknown framing: never dropped, nothing
                    // is inserted before it (e.g. the unsent rest of a corked write)
};

class SliceQueue {
 public:
  SliceQueue() noexcept = default;
  SliceQueue(const SliceQueue&) = delete;
  SliceQueue& operator=(const SliceQueue&) = delete;
  SliceQueue(SliceQueue&& o) noexcept;
  SliceQueue& operator=(SliceQueue&& o) noexcept;
  ~SliceQueue();

  bool empty() const noexcept { return count_ == 0; }
  std::size_t bytes() const noexcept { return bytes_; }

  // Appends a copy of bytes (into the owned tail buffer when it has room). A frame start
  // may carry a tag (e.g. a topic's hash) that drop_tagged() matches; 0 = untagged.
  void push_copy(std::string_view bytes, std::uint8_t flags, std::uint64_t tag = 0);
  // Appends a reference to buf[off, off+len). With merge, a frame that directly follows
  // the last slice in the same buffer (same tag) extends that slice instead of adding one:
  // consecutive broadcast frames packed in one arena leave as one iovec. A merged slice
  // keeps its frame count, so drops still count messages, but it is dropped as a whole;
  // callers whose policy must drop single frames exactly pass merge = false.
  void push_shared(const BufferRef& buf, std::size_t off, std::size_t len, std::uint8_t flags,
                   std::uint64_t tag = 0, bool merge = false);
  // Inserts a copied control frame before the first data frame that has not started to be
  // written, so pings, pongs and closes are not stuck behind queued data.
  void push_control(std::string_view frame);

  // Fills up to max iovecs from the front; returns how many.
  int gather(iovec* iov, int max) const noexcept;
  // Drops n written bytes from the front.
  void consume(std::size_t n) noexcept;
  // Drops whole unstarted data frames from the front (oldest first) until at most
  // target bytes remain; returns the number of frames dropped (a merged slice counts
  // every frame in it).
  std::size_t drop_oldest_frames(std::size_t target) noexcept;
  // Drops every unstarted data frame whose start carries tag (non-zero); returns how many.
  std::size_t drop_tagged(std::uint64_t tag) noexcept;
  void clear() noexcept;
  // Frees the ring when empty.
  void shrink() noexcept;

 private:
  struct Slice {
    SharedBuffer* buf;
    std::uint32_t off;
    std::uint32_t len;
    std::uint8_t flags;
    std::uint16_t frames;  // frames that start in this slice: 1 for a frame start, more
                           // once frames were merged into it, 0 for a continuation
    std::uint64_t tag;     // of the frame(s) this slice starts (frame starts only)
  };
  static_assert(sizeof(Slice) == 32);
  Slice& at(std::size_t i) noexcept { return ring_[(head_ + i) & (cap_ - 1)]; }
  const Slice& at(std::size_t i) const noexcept { return ring_[(head_ + i) & (cap_ - 1)]; }
  void grow();
  void push(const Slice& s);
  void erase(std::size_t i) noexcept;  // removes slice i (not the partially written one)
  bool droppable(std::uint32_t i) const noexcept;  // slice i starts an unstarted data frame
  // Slice i and the slices continuing it; returns the number of frames removed.
  std::size_t erase_frame(std::uint32_t i) noexcept;

  Slice* ring_ = nullptr;
  std::uint32_t head_ = 0, count_ = 0, cap_ = 0;  // cap_ is a power of two
  std::uint32_t head_written_ = 0;                // bytes of the front slice already written
  std::size_t bytes_ = 0;
};

}  // namespace wirehub::net
