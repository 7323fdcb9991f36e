#pragma once
// WireArguments: an Invocation's arguments as they arrived (hub::Arguments), seen through
// the interface the binding templates of wirehub/hub.hpp read them by.

#include <cstddef>
#include <cstdint>
#include <string>

#include "hub/arguments.hpp"
#include "wirehub/hub.hpp"

namespace wirehub::hubhost {

class WireArguments final : public hub_detail::CallArguments {
 public:
  explicit WireArguments(const hub::Arguments& a) : a_(a) {}
  std::size_t size() const noexcept override { return a_.size(); }
  bool read_string(std::size_t i, std::string& out) const override { return a_.read_string(i, out); }
  bool read_integer(std::size_t i, std::uint64_t& bits, bool& negative) const override {
    return a_.read_integer(i, bits, negative);
  }
  bool read_bool(std::size_t i, bool& out) const override { return a_.read_bool(i, out); }
  Json value(std::size_t i) const override { return a_.value(i); }

 private:
  const hub::Arguments& a_;
};

}  // namespace wirehub::hubhost
