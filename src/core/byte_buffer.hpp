#pragma once
// ByteBuffer: a growable byte array that is consumed from the front.
//
// Used for bytes a connection must keep between reads (an incomplete HTTP head, an
// unflushed tail of output). Growth leaves new bytes uninitialised; consume() only moves
// the read offset, and compaction happens lazily when space is needed. It owns nothing
// when empty and shrink() gives the memory back, so idle connections cost 24 bytes.

#include <cstddef>
#include <cstring>
#include <string_view>

namespace wirehub {

class ByteBuffer {
 public:
  ByteBuffer() noexcept = default;
  ByteBuffer(const ByteBuffer&) = delete;
  ByteBuffer& operator=(const ByteBuffer&) = delete;
  ByteBuffer(ByteBuffer&& o) noexcept;
  ByteBuffer& operator=(ByteBuffer&& o) noexcept;
  ~ByteBuffer();

  char* data() noexcept { return buf_ + begin_; }
  const char* data() const noexcept { return buf_ + begin_; }
  std::size_t size() const noexcept { return end_ - begin_; }
  bool empty() const noexcept { return begin_ == end_; }
  std::size_t capacity() const noexcept { return cap_; }
  std::string_view view() const noexcept { return {data(), size()}; }

  // Returns a pointer to at least n writable bytes after the data; commit() makes them data.
  char* prepare(std::size_t n);
  void commit(std::size_t n) noexcept { end_ += n; }
  void append(const void* p, std::size_t n) {
    if (n == 0) return;
    std::memcpy(prepare(n), p, n);
    commit(n);
  }
  void append(std::string_view s) { append(s.data(), s.size()); }
  // Drops n bytes from the front.
  void consume(std::size_t n) noexcept {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  void clear() noexcept { begin_ = end_ = 0; }
  // Frees the storage when empty, or trims it to the data otherwise.
  void shrink();

 private:
  char* buf_ = nullptr;
  std::size_t begin_ = 0, end_ = 0, cap_ = 0;
};

}  // namespace wirehub
