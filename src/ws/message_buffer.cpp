#include "ws/message_buffer.hpp"

#include <cstdlib>
#include <new>
#include <utility>

namespace wirehub::ws {

MessageBuffer::MessageBuffer(MessageBuffer&& o) noexcept : b_(std::exchange(o.b_, nullptr)) {}

MessageBuffer& MessageBuffer::operator=(MessageBuffer&& o) noexcept {
  if (this != &o) {
    std::free(b_);
    b_ = std::exchange(o.b_, nullptr);
  }
  return *this;
}

MessageBuffer::~MessageBuffer() { std::free(b_); }

void MessageBuffer::release() noexcept {
  std::free(b_);
  b_ = nullptr;
}

void MessageBuffer::grow(std::size_t n) {
  // Doubling keeps appends amortised O(1) for a message arriving in many small reads;
  // the capacity is not sized from the frame header, so a peer that announces a large
  // frame and then stalls pins only what it actually sent (times two).
  const std::size_t size = this->size();
  const std::size_t want = size + n;
  std::size_t cap = b_ ? b_->cap : 256;
  while (cap < want) cap *= 2;
  void* p = std::realloc(b_, sizeof(Block) + cap);
  if (!p) throw std::bad_alloc();
  b_ = static_cast<Block*>(p);
  b_->size = size;
  b_->cap = cap;
}

char* MessageBuffer::reserve_exact(std::size_t cap) {
  const std::size_t size = this->size();
  if (!b_ || b_->cap != cap) {
    void* p = std::realloc(b_, sizeof(Block) + cap);
    if (!p) throw std::bad_alloc();
    b_ = static_cast<Block*>(p);
    b_->size = size;
    b_->cap = cap;
  }
  return b_->bytes() + size;
}

}  // namespace wirehub::ws
