#include "core/shared_buffer.hpp"

#include <cstdlib>
#include <cstring>
#include <new>

namespace wirehub {

SharedBuffer* SharedBuffer::allocate(std::size_t capacity) {
  void* mem = std::malloc(sizeof(SharedBuffer) + capacity);
  if (!mem) throw std::bad_alloc();
  return new (mem) SharedBuffer(capacity);
}

void SharedBuffer::release() noexcept {
  // acq_rel: the thread that frees must see every write made before other releases.
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    this->~SharedBuffer();
    std::free(this);
  }
}

BufferRef BufferRef::copy_of(std::string_view bytes) {
  BufferRef r = allocate(bytes.size());
  if (!bytes.empty()) std::memcpy(r->data(), bytes.data(), bytes.size());
  r->set_size(bytes.size());
  return r;
}

}  // namespace wirehub
