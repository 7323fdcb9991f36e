#include "http/route_table.hpp"

#include <stdexcept>

namespace wirehub::http {

namespace {

constexpr std::size_t npos = std::string_view::npos;

[[noreturn]] void bad_pattern(std::string_view pattern, const char* why) {
  std::string message = "route pattern \"";
  message.append(pattern);
  message.append("\": ");
  message.append(why);
  throw std::invalid_argument(message);
}

// Methods listed in a 405's Allow, in this order. Other has no name to list.
constexpr Method kAllowOrder[] = {Method::Get,    Method::Head,    Method::Post, Method::Put,
                                  Method::Delete, Method::Options, Method::Patch};

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
    if (x != y) return false;
  }
  return true;
}

constexpr unsigned bit(Method m) noexcept {
  return 1u << static_cast<unsigned>(m);
}

}  // namespace

std::size_t RouteTable::add(Method method, std::string_view pattern, bool ignore_case) {
  if (pattern.empty() || pattern[0] != '/') bad_pattern(pattern, "must start with '/'");

  Route r{method, Kind::Exact, std::string(pattern), {}, 0, ignore_case};
  if (pattern.size() >= 2 && pattern.substr(pattern.size() - 2) == "/*") {
    r.kind = Kind::Prefix;
    r.pattern.pop_back();
    if (r.pattern.find_first_of("{}*") != npos)
      bad_pattern(pattern, "a prefix pattern takes no parameters");
  } else if (pattern.find('{') != npos) {
    r.kind = Kind::Param;
    std::size_t pos = 1;
    while (pos <= pattern.size()) {
      const std::size_t slash = pattern.find('/', pos);
      const std::size_t end = slash == npos ? pattern.size() : slash;
      const std::string_view seg = pattern.substr(pos, end - pos);
      if (seg.size() >= 3 && seg.front() == '{' && seg.back() == '}') {
        if (seg.substr(1, seg.size() - 2).find_first_of("{}*") != npos)
          bad_pattern(pattern, "malformed parameter");
        r.segments.push_back({pos + 1, seg.size() - 2, true});
      } else {
        if (seg.find_first_of("{}*") != npos)
          bad_pattern(pattern, "a parameter must be a whole segment \"{name}\"");
        r.segments.push_back({pos, seg.size(), false});
        ++r.literal_segments;
      }
      pos = end + 1;
    }
    if (r.segments.size() - r.literal_segments > RouteParams::kCapacity)
      bad_pattern(pattern, "too many parameters");
  } else if (pattern.find_first_of("}*") != npos) {
    bad_pattern(pattern, "'*' only ends a prefix pattern \"/dir/*\"");
  }
  if (ignore_case && r.kind != Kind::Exact) bad_pattern(pattern, "only exact patterns can ignore case");

  for (const Route& other : routes_) {
    const bool same = other.ignore_case || ignore_case ? iequals(other.pattern, r.pattern) : other.pattern == r.pattern;
    if (other.method == method && other.kind == r.kind && same) {
      bad_pattern(pattern, "already registered for this method");
    }
  }
  routes_.push_back(std::move(r));
  return routes_.size() - 1;
}

bool RouteTable::matches(const Route& r, std::string_view path, RouteParams* params) const {
  if (params != nullptr) params->clear();
  switch (r.kind) {
    case Kind::Exact:
      return r.ignore_case ? iequals(path, r.pattern) : path == r.pattern;
    case Kind::Prefix:
      if (!path.starts_with(r.pattern)) return false;
      if (params != nullptr) params->push_back({"*", path.substr(r.pattern.size())});
      return true;
    case Kind::Param:
      break;
  }
  // Walks path and pattern segments in step with plain loops: segments are a few bytes,
  // shorter than what a memchr or memcmp call costs to set up.
  const char* p = path.data();
  const char* const end = p + path.size();
  if (p == end || *p != '/') return false;
  ++p;
  bool first = true;
  for (const Segment& s : r.segments) {
    if (!first) {
      if (p == end || *p != '/') return false;
      ++p;
    }
    first = false;
    const char* seg = p;
    if (s.param) {
      while (p != end && *p != '/') ++p;
      if (p == seg) return false;
      if (params != nullptr) {
        params->push_back(
            {{r.pattern.data() + s.off, s.len}, {seg, static_cast<std::size_t>(p - seg)}});
      }
    } else {
      const char* text = r.pattern.data() + s.off;
      if (static_cast<std::size_t>(end - p) < s.len) return false;
      for (std::size_t k = 0; k < s.len; ++k, ++p) {
        if (*p != text[k]) return false;
      }
      if (p != end && *p != '/') return false;
    }
  }
  return p == end;
}

// Whether r takes precedence over b, both matching: Kind is ordered Exact < Param <
// Prefix; then more literal segments, or a longer prefix.
bool RouteTable::outranks(const Route& r, const Route& b) noexcept {
  if (r.kind != b.kind) return r.kind < b.kind;
  if (r.kind == Kind::Param) return r.literal_segments > b.literal_segments;
  if (r.kind == Kind::Prefix) return r.pattern.size() > b.pattern.size();
  return false;
}

std::size_t RouteTable::best(Method method, std::string_view path, RouteParams& params) const {
  // Linear: a server has tens of routes, and a scan of short compares beats a tree there.
  // A route that could not outrank the best so far is not even matched.
  std::size_t best = npos;
  RouteParams candidate;
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    const Route& r = routes_[i];
    if (r.method != method) continue;
    if (best != npos && !outranks(r, routes_[best])) continue;
    if (!matches(r, path, &candidate)) continue;
    best = i;
    params = candidate;
  }
  return best;
}

RouteTable::Match RouteTable::match(Method method, std::string_view path) const {
  Match m;
  std::size_t i = best(method, path, m.params);
  if (i == npos && method == Method::Head) i = best(Method::Get, path, m.params);
  if (i != npos) {
    m.kind = MatchKind::Found;
    m.index = i;
    return m;
  }

  // No route for this method: 405 if the path exists for another one (RFC 9110 15.5.6).
  unsigned methods = 0;
  for (const Route& r : routes_) {
    if (matches(r, path, nullptr)) methods |= bit(r.method);
  }
  if (methods == 0) return m;
  if (methods & bit(Method::Get)) methods |= bit(Method::Head);
  m.kind = MatchKind::MethodNotAllowed;
  for (Method allowed : kAllowOrder) {
    if (!(methods & bit(allowed))) continue;
    if (!m.allow.empty()) m.allow.append(", ");
    m.allow.append(method_text(allowed));
  }
  return m;
}

}  // namespace wirehub::http
