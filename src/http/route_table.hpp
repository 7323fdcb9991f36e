#pragma once
// RouteTable: maps (method, path) to the index of a registered route. Router<Handler>
// (router.hpp) puts handlers on top; this part is not a template so it is compiled once.
//
// Patterns: exact "/ws/echo"; with parameters "/api/orders/{id}" (a parameter is a whole,
// non-empty segment); prefix "/static/*" (matches "/static/" and below, and yields the rest
// as parameter "*"). Exact beats parameterised beats prefix; among parameterised routes
// the one with more literal segments wins, among prefixes the longest; then the earliest
// added. Paths are compared raw (not percent-decoded) and case-sensitively, except exact
// routes added with ignore_case (ASCII case folded; what SignalR clients expect of hub
// paths, whose ASP.NET routes ignore case). HEAD falls back
// to GET routes when no HEAD route matches. Matching allocates only to build a 405's Allow.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/request.hpp"

namespace wirehub::http {

enum class MatchKind : std::uint8_t { Found, NotFound, MethodNotAllowed };

// name views the router's pattern; value views the matched path.
struct RouteParam {
  std::string_view name, value;
};

// A fixed-capacity list of route parameters, so matching never allocates.
class RouteParams {
 public:
  static constexpr std::size_t kCapacity = 8;

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  const RouteParam* begin() const noexcept { return items_.data(); }
  const RouteParam* end() const noexcept { return items_.data() + size_; }
  const RouteParam& operator[](std::size_t i) const noexcept { return items_[i]; }
  // The value of parameter `name`, or nullopt.
  std::optional<std::string_view> get(std::string_view name) const noexcept {
    for (const RouteParam& p : *this) {
      if (p.name == name) return p.value;
    }
    return std::nullopt;
  }
  // Precondition: size() < kCapacity (RouteTable::add refuses patterns with more).
  void push_back(RouteParam p) noexcept { items_[size_++] = p; }
  void clear() noexcept { size_ = 0; }

 private:
  std::array<RouteParam, kCapacity> items_{};
  std::size_t size_ = 0;
};

class RouteTable {
 public:
  struct Match {
    MatchKind kind = MatchKind::NotFound;
    std::size_t index = 0;  // of the route, in order of add(); only when Found
    RouteParams params;
    std::string allow;  // for MethodNotAllowed: e.g. "GET, HEAD, POST"
  };

  // Adds a route; returns its index (0, 1, ...). Throws std::invalid_argument for a
  // malformed pattern or a (method, pattern) pair that is already there: routes are
  // configuration, and a mistake there should stop start-up.
  std::size_t add(Method method, std::string_view pattern, bool ignore_case = false);

  // The best route for method and path. Views in the result are valid while the table is
  // unchanged and path is alive.
  Match match(Method method, std::string_view path) const;

  std::size_t size() const noexcept { return routes_.size(); }

 private:
  enum class Kind : std::uint8_t { Exact, Param, Prefix };
  // A segment of a parameterised pattern, as offsets into Route::pattern; for a parameter
  // the offsets select its name (without braces).
  struct Segment {
    std::size_t off, len;
    bool param;
  };
  struct Route {
    Method method;
    Kind kind;
    std::string pattern;  // for a prefix, without the trailing '*'
    std::vector<Segment> segments;
    std::size_t literal_segments = 0;
    bool ignore_case = false;  // exact routes only
  };

  // Whether r matches path; fills *params when given.
  bool matches(const Route& r, std::string_view path, RouteParams* params) const;
  static bool outranks(const Route& r, const Route& b) noexcept;
  // Index of the best route registered for exactly `method`, or npos; fills params.
  std::size_t best(Method method, std::string_view path, RouteParams& params) const;

  std::vector<Route> routes_;
};

}  // namespace wirehub::http
