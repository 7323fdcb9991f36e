#include "core/byte_buffer.hpp"

#include <cstdlib>
#include <new>
#include <utility>

namespace wirehub {

ByteBuffer::ByteBuffer(ByteBuffer&& o) noexcept
    : buf_(std::exchange(o.buf_, nullptr)),
      begin_(std::exchange(o.begin_, 0)),
      end_(std::exchange(o.end_, 0)),
      cap_(std::exchange(o.cap_, 0)) {}

ByteBuffer& ByteBuffer::operator=(ByteBuffer&& o) noexcept {
  if (this != &o) {
    std::free(buf_);
    buf_ = std::exchange(o.buf_, nullptr);
    begin_ = std::exchange(o.begin_, 0);
    end_ = std::exchange(o.end_, 0);
    cap_ = std::exchange(o.cap_, 0);
  }
  return *this;
}

ByteBuffer::~ByteBuffer() { std::free(buf_); }

char* ByteBuffer::prepare(std::size_t n) {
  if (cap_ - end_ >= n) return buf_ + end_;
  std::size_t used = size();
  if (begin_ > 0 && cap_ - used >= n && begin_ >= used) {
    // Enough room once compacted, and the move is cheap relative to what was consumed.
    std::memmove(buf_, buf_ + begin_, used);
    begin_ = 0;
    end_ = used;
    return buf_ + end_;
  }
  std::size_t want = used + n;
  std::size_t cap = cap_ ? cap_ : 256;
  while (cap < want) cap *= 2;
  char* nb = static_cast<char*>(std::malloc(cap));
  if (!nb) throw std::bad_alloc();
  if (used) std::memcpy(nb, buf_ + begin_, used);
  std::free(buf_);
  buf_ = nb;
  begin_ = 0;
  end_ = used;
  cap_ = cap;
  return buf_ + end_;
}

void ByteBuffer::shrink() {
  if (empty()) {
    std::free(buf_);
    buf_ = nullptr;
    begin_ = end_ = cap_ = 0;
    return;
  }
  if (begin_ == 0 && end_ == cap_) return;
  std::size_t used = size();
  char* nb = static_cast<char*>(std::malloc(used));
  if (!nb) return;  // keeping the larger block is fine
  std::memcpy(nb, buf_ + begin_, used);
  std::free(buf_);
  buf_ = nb;
  begin_ = 0;
  end_ = cap_ = used;
}

}  // namespace wirehub
