#pragma once
// DeferredTable: one loop's HTTP requests that wait for a response produced later.
//
// A handler that answers later (possibly on another thread) gets a key, not a pointer to
// its connection: the connection may be gone by the time the answer arrives, and the
// answer reaches the loop as a posted task that looks the key up here. Keys are never
// reused (a 64-bit count per loop), so a late answer can only miss, never reach another
// request. Loop thread only; the counters are readable from any thread.

#include <cstdint>
#include <unordered_map>

#include "core/counter.hpp"

namespace wirehub::http {

class HttpConnection;

class DeferredTable {
 public:
  // Registers c as waiting; returns its key (never 0).
  std::uint64_t add(HttpConnection& c);
  // The connection waiting under key, or nullptr (answered, timed out, or gone).
  HttpConnection* find(std::uint64_t key) const noexcept;
  void remove(std::uint64_t key) noexcept;
  std::size_t size() const noexcept { return waiting_.size(); }

  Counter dropped;    // answers that found no waiting request (connection gone, timed out)
  Counter timed_out;  // requests answered 503 after the handler timeout

 private:
  std::uint64_t next_key_ = 1;
  std::unordered_map<std::uint64_t, HttpConnection*> waiting_;
};

}  // namespace wirehub::http
