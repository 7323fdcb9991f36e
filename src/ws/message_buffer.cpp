#include "ws/message_buffer.hpp"

#include <cstdlib>
#include <new>
#include <utility>

namespace wirehub::ws {

MessageBuffer::MessageBuffer(MessageBuffer&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)), cap_(std::exchange(o.cap_, 0)) {}

MessageBuffer& MessageBuffer::operator=(MessageBuffer&& o) noexcept {
  if (this != &o) {
    std::free(data_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    cap_ = std::exchange(o.cap_, 0);
  }
  return *this;
}

MessageBuffer::~MessageBuffer() { std::free(data_); }

void MessageBuffer::release() noexcept {
  std::free(data_);
  data_ = nullptr;
  size_ = cap_ = 0;
}

void MessageBuffer::grow(std::size_t n) {
  // Doubling keeps appends amortised O(1) for a message arriving in many small reads;
  // the capacity is not sized from the frame header, so a peer that announces a large
  // frame and then stalls pins only what it actually sent (times two).
  std::size_t want = size_ + n;
  std::size_t cap = cap_ ? cap_ : 256;
  while (cap < want) cap *= 2;
  void* p = std::realloc(data_, cap);
  if (!p) throw std::bad_alloc();
  data_ = static_cast<char*>(p);
  cap_ = cap;
}

}  // namespace wirehub::ws
