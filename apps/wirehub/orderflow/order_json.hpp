#pragma once
// The OrderFlow wire formats, without I/O: the REST API's request and response bodies,
// the ORDER_CREATED event, and the messages of the raw WebSocket feed. Everything the
// server reads from a client is checked here and answered with a precise error; the
// store sees only valid orders.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "store/order_store.hpp"

namespace wirehub::orderflow {

// Limits on one order (the body as a whole is bounded by the route's body limit).
inline constexpr std::size_t kMaxCustomerIdBytes = 256;

// A refusal of a request body: the message and the JSON field it concerns ("" for the
// body as a whole), sent as 400 {"error": message, "field": field}.
struct FieldError {
  std::string message;
  std::string field;
};

// True for application/json and any application/<x>+json, parameters (charset) allowed,
// case-insensitive (RFC 9110 8.3.1). Anything else is answered 415.
bool is_json_media_type(std::string_view content_type) noexcept;

// Parses and validates the body of POST /api/orders:
//   {"customerId": non-empty string, "total": finite number >= 0, "items": array (optional)}
// Other members are ignored. The result is either the order to store or the error.
std::variant<store::NewOrder, FieldError> parse_new_order(std::string_view body);

// {"error": message, "field": field}.
std::string error_json(std::string_view message, std::string_view field);

// The REST representation of a stored order:
// {"orderId","seq","customerId","total","items"? ,"createdAt"}.
std::string order_json(const store::StoredOrder& o);
// An order accepted and not yet in the order log (no seq yet): POST's 202 body and GET
// /api/orders/{id} while it waits. {"orderId","status":"pending","customerId","total",
// "items"?,"createdAt"}.
std::string pending_order_json(const store::StoredOrder& o);
// The body of GET /api/orders: {"orders":[order_json...],"lastSeq":last_seq}.
std::string order_list_json(const std::vector<store::StoredOrder>& orders, std::int64_t last_seq);

// The feed event of a stored order:
// {"type":"ORDER_CREATED","seq","orderId","customer","total","timestamp"}.
std::string order_created_event(const store::StoredOrder& o);

// A message from a raw-feed client. topic defaults to "orders"; `after` only for Resume.
struct FeedCommand {
  enum class Kind : std::uint8_t { Subscribe, Resume, Unsubscribe };
  Kind kind = Kind::Subscribe;
  std::string topic;
  std::int64_t after = 0;
};
// Parses {"type":"SUBSCRIBE"|"RESUME"|"UNSUBSCRIBE","topic":T,"after":N}; the error text
// (sent back as {"type":"ERROR","error":...}) otherwise.
std::variant<FeedCommand, std::string> parse_feed_command(std::string_view text);

// {"type":"SUBSCRIBED","topic":T,"seq":L} / {"type":"UNSUBSCRIBED","topic":T} /
// {"type":"ERROR","error":E}.
std::string subscribed_json(std::string_view topic, std::int64_t seq);
std::string unsubscribed_json(std::string_view topic);
std::string feed_error_json(std::string_view error);

// A sequence number from text (a query parameter, Last-Event-ID): decimal digits only,
// 0..2^63-1; nullopt otherwise.
std::optional<std::int64_t> parse_seq(std::string_view text) noexcept;

}  // namespace wirehub::orderflow
