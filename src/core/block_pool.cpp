#include "core/block_pool.hpp"

#include <sys/mman.h>

#include <cassert>
#include <new>
#include <stdexcept>

namespace wirehub {

// A slab is kSlabBytes aligned to kSlabBytes: its header at the start, blocks after it.
// A block's slab is its address rounded down, so freeing needs no lookup.
struct BlockPool::Slab {
  Slab* prev;
  Slab* next;
  void* free;  // singly linked through the first word of each free block
  std::size_t used;
  std::size_t fresh;  // blocks never handed out yet, from the end of the used ones
};

namespace {
constexpr std::size_t kHeader = (sizeof(void*) * 5 + 15) & ~std::size_t{15};

void* map_aligned_slab() {
  // Map twice the size and keep the aligned half: mmap only promises page alignment.
  const std::size_t n = BlockPool::kSlabBytes;
  void* p = ::mmap(nullptr, 2 * n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  auto base = reinterpret_cast<std::uintptr_t>(p);
  std::uintptr_t aligned = (base + n - 1) & ~(n - 1);
  if (aligned > base) ::munmap(p, aligned - base);
  std::uintptr_t end = base + 2 * n;
  if (end > aligned + n) ::munmap(reinterpret_cast<void*>(aligned + n), end - (aligned + n));
  return reinterpret_cast<void*>(aligned);
}
}  // namespace

BlockPool::BlockPool(std::size_t block_size)
    : block_size_((block_size < sizeof(void*) ? sizeof(void*) : block_size + 15) & ~std::size_t{15}),
      per_slab_((kSlabBytes - kHeader) / block_size_) {
  if (per_slab_ < 8) throw std::invalid_argument("BlockPool: block too large for a slab");
}

BlockPool::~BlockPool() {
  assert(in_use_ == 0);
  for (Slab* list : {partial_, full_}) {
    for (Slab* s = list; s;) {
      Slab* next = s->next;
      ::munmap(s, kSlabBytes);
      s = next;
    }
  }
}

void BlockPool::link(Slab*& head, Slab* s) noexcept {
  s->prev = nullptr;
  s->next = head;
  if (head) head->prev = s;
  head = s;
}

void BlockPool::unlink(Slab*& head, Slab* s) noexcept {
  if (s->prev) s->prev->next = s->next;
  else head = s->next;
  if (s->next) s->next->prev = s->prev;
  s->prev = s->next = nullptr;
}

BlockPool::Slab* BlockPool::new_slab() {
  auto* s = static_cast<Slab*>(map_aligned_slab());
  s->prev = s->next = nullptr;
  s->free = nullptr;
  s->used = 0;
  s->fresh = 0;
  ++slabs_;
  return s;
}

void* BlockPool::allocate() {
  std::lock_guard lock(mu_);
  Slab* s = partial_;
  if (!s) {
    s = new_slab();
    link(partial_, s);
  } else if (s->used == 0) {
    --empty_slabs_;
  }
  void* p;
  if (s->free) {
    p = s->free;
    s->free = *static_cast<void**>(p);
  } else {
    // Untouched pages stay unmapped until a block on them is first used.
    p = reinterpret_cast<char*>(s) + kHeader + s->fresh * block_size_;
    ++s->fresh;
  }
  ++s->used;
  ++in_use_;
  if (s->used == per_slab_) {
    unlink(partial_, s);
    link(full_, s);
  }
  return p;
}

void BlockPool::deallocate(void* p) noexcept {
  if (!p) return;
  auto* s = reinterpret_cast<Slab*>(reinterpret_cast<std::uintptr_t>(p) & ~(kSlabBytes - 1));
  std::lock_guard lock(mu_);
  if (s->used == per_slab_) {
    unlink(full_, s);
    link(partial_, s);
  }
  *static_cast<void**>(p) = s->free;
  s->free = p;
  --s->used;
  --in_use_;
  if (s->used == 0) {
    if (empty_slabs_ >= 1) {
      unlink(partial_, s);
      ::munmap(s, kSlabBytes);
      --slabs_;
    } else {
      ++empty_slabs_;
    }
  }
}

std::size_t BlockPool::slabs() const {
  std::lock_guard lock(mu_);
  return slabs_;
}

std::size_t BlockPool::blocks_in_use() const {
  std::lock_guard lock(mu_);
  return in_use_;
}

}  // namespace wirehub
