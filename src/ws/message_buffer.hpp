#pragma once
// MessageBuffer: where Protocol keeps payload bytes that must outlive one receive() call
// (a frame split across reads, the fragments of a message, a split control frame).
//
// A bare malloc'd array: growth does not zero-fill (std::string would), clear() keeps the
// capacity for the next message, release() gives it back. Empty and released it owns
// nothing; 24 bytes either way.

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

  const char* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return cap_; }
  bool empty() const noexcept { return size_ == 0; }
  std::string_view view() const noexcept { return {data_, size_}; }

  void append(const char* p, std::size_t n) {
    if (n == 0) return;
    if (cap_ - size_ < n) grow(n);
    std::memcpy(data_ + size_, p, n);
    size_ += n;
  }
  // Keeps at most the first n bytes.
  void truncate(std::size_t n) noexcept {
    if (n < size_) size_ = n;
  }
  // Drops the first n bytes (n <= size()).
  void erase_front(std::size_t n) noexcept {
    if (n == 0) return;
    std::memmove(data_, data_ + n, size_ - n);
    size_ -= n;
  }
  void clear() noexcept { size_ = 0; }
  // Frees the storage (and the data).
  void release() noexcept;

 private:
  void grow(std::size_t n);

  char* data_ = nullptr;
  std::size_t size_ = 0, cap_ = 0;
};

}  // namespace wirehub::ws
