// RequestHead lookups, query_param, method names and the ParseError status table.

#include "http/request.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "http/parse_error.hpp"

namespace wirehub::http {
namespace {

RequestHead head_with(std::vector<Header> headers) {
  RequestHead h;
  h.headers = std::move(headers);
  return h;
}

TEST(RequestHead, HeaderLookupIsCaseInsensitiveAndReturnsFirst) {
  const RequestHead h =
      head_with({{"Host", "a"}, {"X-Token", "one"}, {"x-token", "two"}, {"Empty", ""}});
  EXPECT_EQ(h.header("host"), "a");
  EXPECT_EQ(h.header("X-TOKEN"), "one");
  EXPECT_EQ(h.header("empty"), "");
  EXPECT_EQ(h.header("missing"), std::nullopt);
  EXPECT_EQ(h.header("X-Toke"), std::nullopt);
}

TEST(RequestHead, Rfc9110_5_6_1_HasTokenSearchesEveryListInstance) {
  const RequestHead h = head_with({{"Connection", "keep-alive, Upgrade"},
                                   {"Upgrade", "websocket"},
                                   {"Accept", "a"},
                                   {"accept", " ,b ,\tC\t,"},
                                   {"X-Sub", "upgrade-ish"}});
  EXPECT_TRUE(h.has_token("connection", "upgrade"));
  EXPECT_TRUE(h.has_token("Connection", "KEEP-ALIVE"));
  EXPECT_FALSE(h.has_token("connection", "close"));
  EXPECT_TRUE(h.has_token("accept", "c"));
  EXPECT_TRUE(h.has_token("accept", "a"));
  EXPECT_FALSE(h.has_token("x-sub", "upgrade"));
  EXPECT_FALSE(h.has_token("missing", "x"));
}

struct QueryCase {
  const char* name;
  std::string_view query, key;
  std::optional<std::string> value;
};

const QueryCase kQueryCases[] = {
    {"Plain", "a=1&access_token=abc&b=2", "access_token", "abc"},
    {"First", "a=1", "a", "1"},
    {"Last", "a=1&b=2", "b", "2"},
    {"Absent", "a=1&b=2", "c", std::nullopt},
    {"EmptyQuery", "", "a", std::nullopt},
    {"KeyIsNotAPrefixMatch", "ab=1&a2=2", "a", std::nullopt},
    {"BareKeyIsEmpty", "flag&x=1", "flag", ""},
    {"EmptyValue", "a=&b=1", "a", ""},
    {"FirstOccurrenceWins", "a=1&a=2", "a", "1"},
    {"PlusIsSpace", "q=hello+world", "q", "hello world"},
    {"PercentDecoded", "q=a%20b%2Bc%2fd", "q", "a b+c/d"},
    {"PercentDecodedUtf8", "q=caf%C3%A9", "q", "caf\xc3\xa9"},
    {"InvalidPercentKept", "q=100%&r=%zz%4", "q", "100%"},
    {"InvalidPercentKeptMidValue", "r=%zz%4", "r", "%zz%4"},
    {"ValueMayContainEquals", "t=a=b", "t", "a=b"},
    {"EncodedKey", "access%5Ftoken=x", "access_token", "x"},
    {"EmptyPairsSkipped", "&&a=1&", "a", "1"},
};

class QueryParam : public testing::TestWithParam<QueryCase> {};

TEST_P(QueryParam, FindsAndDecodes) {
  EXPECT_EQ(query_param(GetParam().query, GetParam().key), GetParam().value);
}

INSTANTIATE_TEST_SUITE_P(Request, QueryParam, testing::ValuesIn(kQueryCases),
                         [](const testing::TestParamInfo<QueryCase>& param_info) {
                           return std::string(param_info.param.name);
                         });

TEST(Method, Rfc9110_9_1_TextRoundTripsAndIsCaseSensitive) {
  for (Method m : {Method::Get, Method::Head, Method::Post, Method::Put, Method::Delete,
                   Method::Options, Method::Patch}) {
    EXPECT_EQ(method_from_text(method_text(m)), m);
  }
  EXPECT_EQ(method_from_text("get"), Method::Other);
  EXPECT_EQ(method_from_text("CONNECT"), Method::Other);
  EXPECT_EQ(method_from_text(""), Method::Other);
  EXPECT_EQ(method_text(Method::Other), "");
}

TEST(ParseError, OneTableMapsEachErrorToItsStatus) {
  EXPECT_EQ(http_status(ParseError::BadRequest), 400);
  EXPECT_EQ(http_status(ParseError::UriTooLong), 414);
  EXPECT_EQ(http_status(ParseError::HeadersTooLarge), 431);
  EXPECT_EQ(http_status(ParseError::BodyTooLarge), 413);
  EXPECT_EQ(http_status(ParseError::VersionNotSupported), 505);
  EXPECT_EQ(http_status(ParseError::NotImplemented), 501);
  for (ParseError e :
       {ParseError::BadRequest, ParseError::UriTooLong, ParseError::HeadersTooLarge,
        ParseError::BodyTooLarge, ParseError::VersionNotSupported, ParseError::NotImplemented}) {
    EXPECT_FALSE(describe(e).empty());
  }
}

}  // namespace
}  // namespace wirehub::http
