#pragma once
// SharedBuffer: an immutable-once-published, reference-counted block of bytes.
//
// "Published" covers the bytes below size() at the time a reference was handed out. A
// block that is only ever referenced from one loop thread may still grow at its end
// (set_size) on that thread: readers look only at the ranges they were given. This is how
// a loop's broadcast arena packs the frames of one iteration next to each other.
//
// A broadcast frame is built once into a SharedBuffer and then queued on many connections,
// possibly on several loops; each queue holds a BufferRef. The count is atomic because the
// last release may happen on any loop thread.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>

namespace wirehub {

class SharedBuffer {
 public:
  // Allocates a block with room for `capacity` bytes, size 0, one reference.
  static SharedBuffer* allocate(std::size_t capacity);

  char* data() noexcept { return reinterpret_cast<char*>(this + 1); }
  const char* data() const noexcept { return reinterpret_cast<const char*>(this + 1); }
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return capacity_; }
  void set_size(std::size_t n) noexcept { size_ = n; }
  std::string_view view() const noexcept { return {data(), size_}; }

  void retain() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  // True when the caller's reference is the only one: nothing else can read the bytes.
  bool unique() const noexcept { return refs_.load(std::memory_order_acquire) == 1; }
  // Drops one reference; frees the block when it was the last.
  void release() noexcept;

 private:
  SharedBuffer(std::size_t capacity) noexcept : capacity_(capacity) {}
  std::atomic<std::uint32_t> refs_{1};
  std::size_t size_ = 0;
  std::size_t capacity_;
};

// Owning handle to a SharedBuffer (like an intrusive_ptr).
class BufferRef {
 public:
  BufferRef() noexcept = default;
  // Adopts one existing reference.
  explicit BufferRef(SharedBuffer* b) noexcept : b_(b) {}
  BufferRef(const BufferRef& o) noexcept : b_(o.b_) { if (b_) b_->retain(); }
  BufferRef(BufferRef&& o) noexcept : b_(std::exchange(o.b_, nullptr)) {}
  BufferRef& operator=(BufferRef o) noexcept { std::swap(b_, o.b_); return *this; }
  ~BufferRef() { if (b_) b_->release(); }

  static BufferRef allocate(std::size_t capacity) { return BufferRef(SharedBuffer::allocate(capacity)); }
  static BufferRef copy_of(std::string_view bytes);

  SharedBuffer* get() const noexcept { return b_; }
  SharedBuffer* operator->() const noexcept { return b_; }
  explicit operator bool() const noexcept { return b_ != nullptr; }

 private:
  SharedBuffer* b_ = nullptr;
};

}  // namespace wirehub
