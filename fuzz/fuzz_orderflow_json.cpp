// Fuzzing of what OrderFlow reads from clients: the body of POST /api/orders and the raw
// feed's commands. The first byte picks the parser. Nothing may crash or throw, and what
// is accepted must hold the documented invariants: a non-empty customer id within its
// limit, a finite total >= 0 (never -0), items that are a JSON array; an order built from
// it must serialise to JSON that reads back the same; a RESUME point is never negative.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "orderflow/order_json.hpp"

namespace of = wirehub::orderflow;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void new_order(std::string_view body) {
  auto r = of::parse_new_order(body);
  if (auto* e = std::get_if<of::FieldError>(&r)) {
    check(!e->message.empty());
    check(e->field.empty() || e->field == "customerId" || e->field == "total" || e->field == "items");
    return;
  }
  const auto& o = std::get<wirehub::store::NewOrder>(r);
  check(!o.customer_id.empty() && o.customer_id.size() <= of::kMaxCustomerIdBytes);
  check(std::isfinite(o.total) && o.total >= 0 && !std::signbit(o.total));
  if (!o.items_json.empty()) check(nlohmann::json::parse(o.items_json).is_array());
  wirehub::store::StoredOrder stored{1, "id", o.customer_id, o.total, o.items_json, "t"};
  const auto back = nlohmann::json::parse(of::order_json(stored));
  check(back.at("customerId") == o.customer_id);
  check(back.at("total").get<double>() == o.total);
  const auto event = nlohmann::json::parse(of::order_created_event(stored));
  check(event.at("customer") == o.customer_id);
}

void feed_command(std::string_view text) {
  auto r = of::parse_feed_command(text);
  if (auto* e = std::get_if<std::string>(&r)) {
    check(!e->empty());
    check(nlohmann::json::parse(of::feed_error_json(*e)).is_object());  // valid JSON back
    return;
  }
  const auto& c = std::get<of::FeedCommand>(r);
  check(c.after >= 0);
  if (c.kind != of::FeedCommand::Kind::Resume) check(c.after == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] & 1) {
    feed_command(text);
  } else {
    new_order(text);
  }
  if (auto seq = of::parse_seq(text)) check(*seq >= 0);
  return 0;
}
