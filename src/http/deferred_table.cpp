#include "http/deferred_table.hpp"

namespace wirehub::http {

std::uint64_t DeferredTable::add(HttpConnection& c) {
  const std::uint64_t key = next_key_++;
  waiting_.emplace(key, &c);
  return key;
}

HttpConnection* DeferredTable::find(std::uint64_t key) const noexcept {
  auto it = waiting_.find(key);
  return it == waiting_.end() ? nullptr : it->second;
}

void DeferredTable::remove(std::uint64_t key) noexcept { waiting_.erase(key); }

}  // namespace wirehub::http
