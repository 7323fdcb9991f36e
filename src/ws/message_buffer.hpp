#pragma once
// MessageBuffer: where Protocol keeps payload bytes that must outlive one receive() call
// (a frame split across reads, the fragments of a message, a split control frame).
//
// One pointer to a malloc'd block that carries its own size and capacity in front of the
// bytes: every connection holds a MessageBuffer, and almost all of them are empty, so the
// empty state is 8 bytes (a null pointer) rather than three words. Growth does not
// zero-fill (std::string would), clear() keeps the capacity for the next message,
// release() gives it back.

#include <cstddef>
#include <cstring>
#include <string_view>

namespace wirehub::ws {

class MessageBuffer {
 public:
  MessageBuffer() noexcept = default;
  MessageBuffer(const MessageBuffer&) = delete;
  MessageBuffer& operator=(const MessageBuffer&) = delete;
  MessageBuffer(MessageBuffer&& o) noexcept;
  MessageBuffer& operator=(MessageBuffer&& o) noexcept;
  ~MessageBuffer();

  const char* data() const noexcept { return b_ ? b_->bytes() : nullptr; }
  std::size_t size() const noexcept { return b_ ? b_->size : 0; }
  std::size_t capacity() const noexcept { return b_ ? b_->cap : 0; }
  bool empty() const noexcept { return size() == 0; }
  std::string_view view() const noexcept { return {data(), size()}; }

  void append(const char* p, std::size_t n) {
    if (n == 0) return;
    if (capacity() - size() < n) grow(n);
    std::memcpy(b_->bytes() + b_->size, p, n);
    b_->size += n;
  }
  // Makes the capacity exactly cap (>= size()) and returns the writable space after the
  // data; commit(n) then adds n bytes written there. For writers that must not allocate
  // past a bound (inflate stops at the message limit), so no doubling here.
  char* reserve_exact(std::size_t cap);
  void commit(std::size_t n) noexcept { b_->size += n; }
  // Keeps at most the first n bytes.
  void truncate(std::size_t n) noexcept {
    if (b_ && n < b_->size) b_->size = n;
  }
  // Drops the first n bytes (n <= size()).
  void erase_front(std::size_t n) noexcept {
    if (n == 0) return;
    std::memmove(b_->bytes(), b_->bytes() + n, b_->size - n);
    b_->size -= n;
  }
  void clear() noexcept {
    if (b_) b_->size = 0;
  }
  // Frees the storage (and the data).
  void release() noexcept;

 private:
  struct Block {
    std::size_t size;
    std::size_t cap;
    char* bytes() noexcept { return reinterpret_cast<char*>(this + 1); }
    const char* bytes() const noexcept { return reinterpret_cast<const char*>(this + 1); }
  };
  void grow(std::size_t n);

  Block* b_ = nullptr;
};

}  // namespace wirehub::ws
