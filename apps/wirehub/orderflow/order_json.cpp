#include "orderflow/order_json.hpp"

#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

namespace wirehub::orderflow {

namespace {

// Objects keep their members in the order written, so every message starts with its
// "type" (or an order with its id), as the contract shows them.
using json = nlohmann::ordered_json;

char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A JSON type's name as a client would write it, for error messages.
std::string_view type_name(const json& v) noexcept {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::object: return "an object";
    case json::value_t::array: return "an array";
    case json::value_t::string: return "a string";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::binary: return "binary";
    case json::value_t::discarded: return "nothing";
    default: return "a number";
  }
}

// Parses text as JSON: the value, or what is wrong with the text (invalid UTF-8 included).
std::variant<json, std::string> parse_or_error(std::string_view text) {
  try {
    return json::parse(text);
  } catch (const json::out_of_range&) {
    // The grammar allows 1e400, but no double holds it.
    return std::string("request body holds a number out of range");
  } catch (const json::exception&) {
    return std::string("request body is not valid JSON");
  }
}

std::optional<json> parse(std::string_view text) {
  auto r = parse_or_error(text);
  if (auto* v = std::get_if<json>(&r)) return std::move(*v);
  return std::nullopt;
}

// JSON with invalid UTF-8 replaced rather than thrown on; the strings we write were
// parsed from valid JSON, so this never triggers, but a serialiser must not throw.
std::string dump(const json& v) { return v.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

bool is_json_media_type(std::string_view content_type) noexcept {
  std::string_view type = trim(content_type.substr(0, content_type.find(';')));
  auto slash = type.find('/');
  if (slash == std::string_view::npos) return false;
  std::string_view main = type.substr(0, slash), sub = type.substr(slash + 1);
  if (!iequals(main, "application")) return false;
  if (iequals(sub, "json")) return true;
  return sub.size() > 5 && iequals(sub.substr(sub.size() - 5), "+json");
}

std::variant<store::NewOrder, FieldError> parse_new_order(std::string_view body) {
  auto parsed = parse_or_error(body);
  if (auto* e = std::get_if<std::string>(&parsed)) return FieldError{std::move(*e), ""};
  const json& v = std::get<json>(parsed);
  if (!v.is_object()) return FieldError{"request body must be a JSON object", ""};

  store::NewOrder order;
  auto customer = v.find("customerId");
  if (customer == v.end()) return FieldError{"customerId is required", "customerId"};
  if (!customer->is_string())
    return FieldError{"customerId must be a string, not " + std::string(type_name(*customer)), "customerId"};
  order.customer_id = customer->get<std::string>();
  if (trim(order.customer_id).empty()) return FieldError{"customerId must not be empty", "customerId"};
  if (order.customer_id.size() > kMaxCustomerIdBytes)
    return FieldError{"customerId is longer than " + std::to_string(kMaxCustomerIdBytes) + " bytes", "customerId"};

  auto total = v.find("total");
  if (total == v.end()) return FieldError{"total is required", "total"};
  if (!total->is_number()) return FieldError{"total must be a number, not " + std::string(type_name(*total)), "total"};
  order.total = total->get<double>();
  // JSON has no literal for infinity, but a number such as 1e400 parses to one.
  if (!std::isfinite(order.total)) return FieldError{"total must be a finite number", "total"};
  if (order.total < 0) return FieldError{"total must not be negative", "total"};
  if (order.total == 0) order.total = 0;  // -0 is stored and shown as 0

  auto items = v.find("items");
  if (items != v.end()) {
    if (!items->is_array()) return FieldError{"items must be an array, not " + std::string(type_name(*items)), "items"};
    order.items_json = dump(*items);
  }
  return order;
}

std::string error_json(std::string_view message, std::string_view field) {
  return dump(json{{"error", message}, {"field", field}});
}

namespace {

json order_object(const store::StoredOrder& o) {
  json j = json::object();
  j["orderId"] = o.order_id;
  j["seq"] = o.seq;
  j["customerId"] = o.customer_id;
  j["total"] = o.total;
  if (!o.items_json.empty()) {
    auto items = parse(o.items_json);
    if (items) j["items"] = std::move(*items);
  }
  j["createdAt"] = o.created_at;
  return j;
}

}  // namespace

std::string order_json(const store::StoredOrder& o) { return dump(order_object(o)); }

std::string pending_order_json(const store::StoredOrder& o) {
  json j = order_object(o);
  j.erase("seq");
  json out = json::object();
  for (auto it = j.begin(); it != j.end(); ++it) {
    out[it.key()] = it.value();
    if (it.key() == "orderId") out["status"] = "pending";
  }
  return dump(out);
}

std::string order_list_json(const std::vector<store::StoredOrder>& orders, std::int64_t last_seq) {
  json list = json::array();
  for (const store::StoredOrder& o : orders) list.push_back(order_object(o));
  return dump(json{{"orders", std::move(list)}, {"lastSeq", last_seq}});
}

std::string order_created_event(const store::StoredOrder& o) {
  json j = json::object();
  j["type"] = "ORDER_CREATED";
  j["seq"] = o.seq;
  j["orderId"] = o.order_id;
  j["customer"] = o.customer_id;
  j["total"] = o.total;
  j["timestamp"] = o.created_at;
  return dump(j);
}

std::variant<FeedCommand, std::string> parse_feed_command(std::string_view text) {
  auto parsed = parse(text);
  if (!parsed) return std::string("message is not valid JSON");
  const json& v = *parsed;
  if (!v.is_object()) return std::string("message must be a JSON object");
  auto type = v.find("type");
  if (type == v.end() || !type->is_string()) return std::string("message needs a string \"type\"");
  const std::string& t = type->get_ref<const std::string&>();
  FeedCommand cmd;
  if (t == "SUBSCRIBE") {
    cmd.kind = FeedCommand::Kind::Subscribe;
  } else if (t == "RESUME") {
    cmd.kind = FeedCommand::Kind::Resume;
  } else if (t == "UNSUBSCRIBE") {
    cmd.kind = FeedCommand::Kind::Unsubscribe;
  } else {
    return "unknown message type \"" + t.substr(0, 64) + "\" (expected SUBSCRIBE, RESUME or UNSUBSCRIBE)";
  }
  auto topic = v.find("topic");
  if (topic == v.end()) {
    cmd.topic = "orders";
  } else if (!topic->is_string()) {
    return std::string("\"topic\" must be a string");
  } else {
    cmd.topic = topic->get<std::string>();
  }
  if (cmd.kind == FeedCommand::Kind::Resume) {
    auto after = v.find("after");
    if (after == v.end()) return std::string("RESUME needs \"after\": the last seq received (0 for all)");
    if (!after->is_number_integer() || (after->is_number_unsigned() && after->get<std::uint64_t>() > INT64_MAX) ||
        after->get<std::int64_t>() < 0)
      return std::string("\"after\" must be an integer >= 0");
    cmd.after = after->get<std::int64_t>();
  }
  return cmd;
}

std::string subscribed_json(std::string_view topic, std::int64_t seq) {
  return dump(json{{"type", "SUBSCRIBED"}, {"topic", topic}, {"seq", seq}});
}

std::string unsubscribed_json(std::string_view topic) {
  return dump(json{{"type", "UNSUBSCRIBED"}, {"topic", topic}});
}

std::string feed_error_json(std::string_view error) { return dump(json{{"type", "ERROR"}, {"error", error}}); }

std::optional<std::int64_t> parse_seq(std::string_view text) noexcept {
  text = trim(text);
  if (text.empty()) return std::nullopt;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
  return v;
}

}  // namespace wirehub::orderflow
