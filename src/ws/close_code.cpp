#include "ws/close_code.hpp"

namespace wirehub::ws {

bool is_valid_wire_close_code(std::uint16_t code) noexcept {
  if (code >= 3000) return code <= 4999;
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014);
}

}  // namespace wirehub::ws
