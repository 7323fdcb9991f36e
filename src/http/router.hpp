#pragma once
// Router<Handler>: a RouteTable with a handler per route. See route_table.hpp for the
// pattern syntax and the precedence rules.
//
//   Router<Fn> r;
//   r.add(Method::Get, "/api/orders/{id}", get_order);
//   auto m = r.match(head.method, head.path);
//   if (m.kind == MatchKind::Found) (*m.handler)(head, m.params);
//   else if (m.kind == MatchKind::MethodNotAllowed) /* 405 with Allow: m.allow */;

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/request.hpp"
#include "http/route_table.hpp"

namespace wirehub::http {

template <class Handler>
class Router {
 public:
  using Kind = MatchKind;
  using Param = RouteParam;
  using Params = RouteParams;

  struct Match {
    Kind kind = Kind::NotFound;
    const Handler* handler = nullptr;  // only when Found
    Params params;
    std::string allow;  // for MethodNotAllowed, the value of the Allow header

    std::optional<std::string_view> param(std::string_view name) const noexcept {
      return params.get(name);
    }
  };

  // Registers handler for method and pattern. Throws std::invalid_argument for a
  // malformed or duplicate pattern (see RouteTable::add).
  void add(Method method, std::string_view pattern, Handler handler, bool ignore_case = false) {
    // Make room first, so nothing can throw once the table has the route.
    if (handlers_.size() == handlers_.capacity())
      handlers_.reserve(handlers_.empty() ? 8 : 2 * handlers_.size());
    table_.add(method, pattern, ignore_case);
    handlers_.push_back(std::move(handler));
  }

  // The handler for a request. The handler pointer and parameter names stay valid while
  // the router is unchanged; parameter values view `path`.
  Match match(Method method, std::string_view path) const {
    RouteTable::Match m = table_.match(method, path);
    Match out;
    out.kind = m.kind;
    if (m.kind == Kind::Found) out.handler = &handlers_[m.index];
    out.params = m.params;
    out.allow = std::move(m.allow);
    return out;
  }

  std::size_t size() const noexcept { return handlers_.size(); }

 private:
  RouteTable table_;
  std::vector<Handler> handlers_;
};

}  // namespace wirehub::http
