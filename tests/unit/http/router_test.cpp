// Router: pattern kinds, precedence, 404, 405 with Allow, HEAD falling back to GET.

#include "http/router.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace wirehub::http {
namespace {

using R = Router<std::string>;

R make_router() {
  R r;
  r.add(Method::Get, "/", "root");
  r.add(Method::Get, "/ws/echo", "echo");
  r.add(Method::Get, "/api/orders", "list");
  r.add(Method::Post, "/api/orders", "create");
  r.add(Method::Get, "/api/orders/{id}", "get-order");
  r.add(Method::Get, "/api/orders/latest", "latest");
  r.add(Method::Get, "/api/{kind}/{id}/items/{n}", "items");
  r.add(Method::Get, "/api/orders/{id}/items/{n}", "order-items");
  r.add(Method::Get, "/static/*", "static");
  r.add(Method::Get, "/static/img/*", "images");
  r.add(Method::Delete, "/static/*", "purge");
  r.add(Method::Head, "/health", "health-head");
  r.add(Method::Get, "/health", "health-get");
  r.add(Method::Other, "/other", "other");
  return r;
}

struct RouteCase {
  const char* name;
  Method method;
  std::string_view path;
  MatchKind kind;
  std::string handler;  // for Found
  std::string params;   // "name=value;..." for Found, Allow for MethodNotAllowed
};

const RouteCase kCases[] = {
    {"ExactRoot", Method::Get, "/", MatchKind::Found, "root", ""},
    {"Exact", Method::Get, "/ws/echo", MatchKind::Found, "echo", ""},
    {"ExactIsNotPrefix", Method::Get, "/ws/echo/x", MatchKind::NotFound, "", ""},
    {"TrailingSlashIsDifferent", Method::Get, "/ws/echo/", MatchKind::NotFound, "", ""},
    {"PathsAreCaseSensitive", Method::Get, "/WS/echo", MatchKind::NotFound, "", ""},
    {"ExactByMethod", Method::Post, "/api/orders", MatchKind::Found, "create", ""},
    {"Param", Method::Get, "/api/orders/42", MatchKind::Found, "get-order", "id=42;"},
    {"ExactBeatsParam", Method::Get, "/api/orders/latest", MatchKind::Found, "latest", ""},
    {"ParamNeedsNonEmptySegment", Method::Get, "/api/orders/", MatchKind::NotFound, "", ""},
    {"ParamIsOneSegment", Method::Get, "/api/orders/1/2", MatchKind::NotFound, "", ""},
    {"LiteralSegmentMustMatchWhole", Method::Get, "/api/ordersX/1", MatchKind::NotFound, "", ""},
    {"LiteralSegmentMustNotBeShort", Method::Get, "/api/order/1", MatchKind::NotFound, "", ""},
    {"EmptySegmentIsNotAParam", Method::Get, "/api//7/items/3", MatchKind::NotFound, "", ""},
    {"MoreLiteralSegmentsWin", Method::Get, "/api/orders/7/items/3", MatchKind::Found,
     "order-items", "id=7;n=3;"},
    {"SeveralParams", Method::Get, "/api/users/7/items/3", MatchKind::Found, "items",
     "kind=users;id=7;n=3;"},
    {"Prefix", Method::Get, "/static/app.js", MatchKind::Found, "static", "*=app.js;"},
    {"PrefixMatchesItsDirectory", Method::Get, "/static/", MatchKind::Found, "static", "*=;"},
    {"PrefixDoesNotMatchWithoutSlash", Method::Get, "/static", MatchKind::NotFound, "", ""},
    {"LongestPrefixWins", Method::Get, "/static/img/a/b.png", MatchKind::Found, "images",
     "*=a/b.png;"},
    {"PrefixByMethod", Method::Delete, "/static/img/x", MatchKind::Found, "purge", "*=img/x;"},
    {"NotFound", Method::Get, "/nope", MatchKind::NotFound, "", ""},
    {"Rfc9110_15_5_6_MethodNotAllowedListsAllow", Method::Put, "/api/orders",
     MatchKind::MethodNotAllowed, "", "GET, HEAD, POST"},
    {"MethodNotAllowedOnParamRoute", Method::Delete, "/api/orders/9", MatchKind::MethodNotAllowed,
     "", "GET, HEAD"},
    {"MethodNotAllowedUnionsMatchingRoutes", Method::Post, "/static/x", MatchKind::MethodNotAllowed,
     "", "GET, HEAD, DELETE"},
    {"Rfc9110_9_3_2_HeadFallsBackToGet", Method::Head, "/api/orders/5", MatchKind::Found,
     "get-order", "id=5;"},
    {"HeadRouteBeatsGetRoute", Method::Head, "/health", MatchKind::Found, "health-head", ""},
    {"HeadFallsBackToGetPrefix", Method::Head, "/static/a", MatchKind::Found, "static", "*=a;"},
    {"OtherMatchesOtherRoutes", Method::Other, "/other", MatchKind::Found, "other", ""},
    {"OtherDoesNotMatchGetRoutes", Method::Other, "/ws/echo", MatchKind::MethodNotAllowed, "",
     "GET, HEAD"},
};

class RouterMatch : public testing::TestWithParam<RouteCase> {};

TEST_P(RouterMatch, Matches) {
  static const R router = make_router();
  const RouteCase& c = GetParam();
  const R::Match m = router.match(c.method, c.path);
  ASSERT_EQ(m.kind, c.kind);
  if (c.kind == MatchKind::Found) {
    ASSERT_NE(m.handler, nullptr);
    EXPECT_EQ(*m.handler, c.handler);
    std::string params;
    for (const R::Param& p : m.params)
      params += std::string(p.name) + "=" + std::string(p.value) + ";";
    EXPECT_EQ(params, c.params);
    EXPECT_TRUE(m.allow.empty());
  } else {
    EXPECT_EQ(m.handler, nullptr);
    EXPECT_TRUE(m.params.empty());
    EXPECT_EQ(m.allow, c.params);
  }
}

INSTANTIATE_TEST_SUITE_P(Router, RouterMatch, testing::ValuesIn(kCases),
                         [](const testing::TestParamInfo<RouteCase>& param_info) {
                           return std::string(param_info.param.name);
                         });

TEST(Router, ParamLookupByNameViewsThePath) {
  const R router = make_router();
  const std::string path = "/api/orders/abc-1";
  const R::Match m = router.match(Method::Get, path);
  ASSERT_EQ(m.kind, R::Kind::Found);
  ASSERT_TRUE(m.param("id").has_value());
  EXPECT_EQ(*m.param("id"), "abc-1");
  EXPECT_EQ(m.param("id")->data(), path.data() + 12);
  EXPECT_EQ(m.param("nope"), std::nullopt);
}

TEST(Router, EqualRankGoesToTheFirstAdded) {
  R r;
  r.add(Method::Get, "/a/{x}", "first");
  r.add(Method::Get, "/a/{y}", "second");
  EXPECT_EQ(*r.match(Method::Get, "/a/1").handler, "first");
}

TEST(Router, BadPatternsAreRejectedAtAdd) {
  R r;
  EXPECT_THROW(r.add(Method::Get, "", "x"), std::invalid_argument);
  EXPECT_THROW(r.add(Method::Get, "no-slash", "x"), std::invalid_argument);
  EXPECT_THROW(r.add(Method::Get, "/a*", "x"), std::invalid_argument);
  EXPECT_THROW(r.add(Method::Get, "/a/*/b", "x"), std::invalid_argument);
  EXPECT_THROW(r.add(Method::Get, "/a/{}", "x"), std::invalid_argument);
  EXPECT_THROW(r.add(Method::Get, "/a/{id", "x"), std::invalid_argument);
  EXPECT_THROW(r.add(Method::Get, "/a/x{id}", "x"), std::invalid_argument);
  EXPECT_THROW(r.add(Method::Get, "/a/{id}/*", "x"), std::invalid_argument);
  EXPECT_THROW(r.add(Method::Get, "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}", "x"),
               std::invalid_argument);
  EXPECT_EQ(r.size(), 0u);
  r.add(Method::Get, "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}", "eight");
  r.add(Method::Get, "/dup", "x");
  EXPECT_THROW(r.add(Method::Get, "/dup", "y"), std::invalid_argument);
  r.add(Method::Post, "/dup", "y");
  EXPECT_EQ(r.size(), 3u);
  EXPECT_EQ(*r.match(Method::Post, "/dup").handler, "y");
}

TEST(Router, EmptyRouterFindsNothing) {
  const R r;
  const R::Match m = r.match(Method::Get, "/");
  EXPECT_EQ(m.kind, MatchKind::NotFound);
  EXPECT_EQ(m.handler, nullptr);
}

TEST(Router, IgnoreCaseRoutesFoldAsciiCaseOnlyForThemselves) {
  R r;
  r.add(Method::Get, "/testhub", "hub", /*ignore_case=*/true);
  r.add(Method::Post, "/testhub/negotiate", "negotiate", true);
  r.add(Method::Get, "/Exact", "exact");
  for (std::string_view path : {"/testhub", "/testHub", "/TESTHUB"}) {
    auto m = r.match(Method::Get, path);
    ASSERT_EQ(m.kind, MatchKind::Found) << path;
    EXPECT_EQ(*m.handler, "hub");
  }
  EXPECT_EQ(r.match(Method::Post, "/testHub/Negotiate").kind, MatchKind::Found);
  EXPECT_EQ(r.match(Method::Get, "/testHub/negotiate").kind, MatchKind::MethodNotAllowed);
  EXPECT_EQ(r.match(Method::Get, "/testhubx").kind, MatchKind::NotFound);
  EXPECT_EQ(r.match(Method::Get, "/exact").kind, MatchKind::NotFound);  // not folded
  // A case-folded duplicate is still a duplicate; only exact patterns may ignore case.
  EXPECT_THROW(r.add(Method::Get, "/TestHub", "again"), std::invalid_argument);
  EXPECT_THROW(r.add(Method::Get, "/files/*", "prefix", true), std::invalid_argument);
  EXPECT_THROW(r.add(Method::Get, "/a/{id}", "param", true), std::invalid_argument);
}

}  // namespace
}  // namespace wirehub::http
