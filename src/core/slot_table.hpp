#pragma once
// SlotTable<T>: one loop's live connections of an endpoint, addressed by connection id.
//
// A connection id is [loop index: 8 bits][serial: 32 bits][slot: 24 bits]: the top byte
// says which loop to post to, the slot is an index into that loop's table, and the serial
// makes a stale id (its connection gone, the slot reused) miss instead of reaching the
// new connection, unless 2^32 connections later on the same slot. Finding a connection
// is one index and one compare; a fan-out walks one array. A free slot holds the next
// free slot's index, tagged with the low bit (objects are at least 2-aligned).
//
// One thread (the loop's) only. T must have `std::uint64_t id() const`.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace wirehub {

template <class T>
class SlotTable {
 public:
  static constexpr int kLoopShift = 56;
  static constexpr int kSerialShift = 24;
  static constexpr std::uint64_t kSlotMask = (std::uint64_t{1} << kSerialShift) - 1;
  static constexpr std::size_t kMaxLoops = 256;

  static std::size_t loop_of(std::uint64_t id) noexcept { return static_cast<std::size_t>(id >> kLoopShift); }
  static std::size_t slot_of(std::uint64_t id) noexcept { return static_cast<std::size_t>(id & kSlotMask); }

  // The id the next attach() will take on this loop (0: the table is full); nothing else
  // may attach in between.
  std::uint64_t reserve(std::size_t loop_index) {
    const std::size_t slot = free_head_ ? free_head_ - 1 : slots_.size();
    if (slot > kSlotMask) return 0;
    const std::uint32_t serial = next_serial_++;
    if (next_serial_ == 0) next_serial_ = 1;  // keeps every id non-zero
    return (std::uint64_t{loop_index} << kLoopShift) | (std::uint64_t{serial} << kSerialShift) | slot;
  }

  // Puts t (whose id() came from the last reserve()) in its slot.
  void attach(T& t) {
    const std::size_t slot = slot_of(t.id());
    const auto value = reinterpret_cast<std::uintptr_t>(&t);
    if (free_head_ && slot == free_head_ - 1) {
      free_head_ = slots_[slot] >> 1;
      slots_[slot] = value;
    } else {
      slots_.push_back(value);  // reserve() named the next new slot
    }
    ++size_;
  }

  // Frees t's slot; false if t was not attached.
  bool detach(const T& t) noexcept {
    const std::size_t slot = slot_of(t.id());
    if (slot >= slots_.size() || slots_[slot] != reinterpret_cast<std::uintptr_t>(&t)) return false;
    slots_[slot] = (free_head_ << 1) | 1;
    free_head_ = slot + 1;
    --size_;
    return true;
  }

  T* find(std::uint64_t id) const noexcept {
    const std::size_t slot = slot_of(id);
    if (slot >= slots_.size() || is_free(slots_[slot])) return nullptr;
    T* t = reinterpret_cast<T*>(slots_[slot]);
    return t->id() == id ? t : nullptr;
  }
  // The object in a slot (a slot number from a topic index, say), or nullptr.
  T* at_slot(std::size_t slot) const noexcept {
    return slot < slots_.size() && !is_free(slots_[slot]) ? reinterpret_cast<T*>(slots_[slot]) : nullptr;
  }

  // Calls fn(T&) for every attached object. fn must not attach or detach.
  template <class Fn>
  void for_each(Fn&& fn) const {
    for (std::uintptr_t s : slots_) {
      if (!is_free(s)) fn(*reinterpret_cast<T*>(s));
    }
  }
  std::size_t size() const noexcept { return size_; }

 private:
  static bool is_free(std::uintptr_t s) noexcept { return s & 1; }

  std::vector<std::uintptr_t> slots_;  // T* when live, (next free + 1) << 1 | 1 when free
  std::size_t free_head_ = 0;          // first free slot + 1; 0: none, append
  std::uint32_t next_serial_ = 1;
  std::size_t size_ = 0;
};

}  // namespace wirehub
