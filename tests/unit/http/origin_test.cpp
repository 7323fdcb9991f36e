// OriginPolicy: the allow-list of web origins for a WebSocket or SSE endpoint (RFC 6454 origins,
// RFC 6455 10.2). Exact origins, *.domain patterns, default ports, case, "null", a
// missing Origin, and entries that are refused when the list is read.

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "http/origin.hpp"

namespace wirehub::http {
namespace {

TEST(OriginPolicy, AnEmptyListAllowsEveryOrigin) {
  OriginPolicy p;
  EXPECT_TRUE(p.allows_any());
  EXPECT_TRUE(p.allows("https://evil.example"));
  EXPECT_TRUE(p.allows("null"));
  EXPECT_TRUE(p.allows(std::nullopt));
}

TEST(OriginPolicy, ExactOriginsMatchSchemeHostAndPort) {
  OriginPolicy p({"https://app.example.com", "http://localhost:8080"});
  EXPECT_FALSE(p.allows_any());
  EXPECT_TRUE(p.allows("https://app.example.com"));
  EXPECT_TRUE(p.allows("HTTPS://App.Example.COM"));       // scheme and host: any case
  EXPECT_TRUE(p.allows("https://app.example.com:443"));    // the default port, written
  EXPECT_TRUE(p.allows("http://localhost:8080"));
  EXPECT_FALSE(p.allows("http://app.example.com"));        // another scheme
  EXPECT_FALSE(p.allows("https://app.example.com:8443"));  // another port
  EXPECT_FALSE(p.allows("http://localhost"));              // port 80, not 8080
  EXPECT_FALSE(p.allows("https://example.com"));
  EXPECT_FALSE(p.allows("https://app.example.com.evil.test"));
  EXPECT_FALSE(p.allows("https://evilapp.example.com"));
}

TEST(OriginPolicy, WildcardsMatchSubdomainsAtAnyDepthButNotTheDomainItself) {
  OriginPolicy p({"https://*.example.com", "http://*.dev.test:3000"});
  EXPECT_TRUE(p.allows("https://a.example.com"));
  EXPECT_TRUE(p.allows("https://a.b.example.com"));
  EXPECT_FALSE(p.allows("https://example.com"));
  EXPECT_FALSE(p.allows("https://badexample.com"));       // not a label boundary
  EXPECT_FALSE(p.allows("https://example.com.evil.test"));
  EXPECT_FALSE(p.allows("http://a.example.com"));
  EXPECT_TRUE(p.allows("http://x.dev.test:3000"));
  EXPECT_FALSE(p.allows("http://x.dev.test"));
  // A wildcard in the request's Origin is not a pattern there: it matches nothing.
  OriginPolicy exact({"https://a.example.com"});
  EXPECT_FALSE(exact.allows("https://*.example.com"));
}

TEST(OriginPolicy, NullIsAllowedOnlyWhenListed) {
  EXPECT_FALSE(OriginPolicy({"https://a.example"}).allows("null"));
  OriginPolicy p({"null"});
  EXPECT_FALSE(p.allows_any());
  EXPECT_TRUE(p.allows("null"));
  EXPECT_FALSE(p.allows("https://a.example"));
}

TEST(OriginPolicy, AHandshakeWithoutOriginIsNotFromABrowserAndIsAllowed) {
  EXPECT_TRUE(OriginPolicy({"https://a.example"}).allows(std::nullopt));
}

TEST(OriginPolicy, MalformedOriginsInRequestsMatchNothing) {
  OriginPolicy p({"https://a.example", "http://[::1]:8080"});
  for (const char* bad : {"", "a.example", "https://", "https://a.example/", "https://a.example/path",
                          "https://a.example:", "https://a.example:0", "https://a.example:65536",
                          "https://a.example:44x3", "https://user@a.example", "https ://a.example",
                          "https://a.example extra"}) {
    EXPECT_FALSE(p.allows(std::string_view(bad))) << bad;
  }
  EXPECT_TRUE(p.allows("http://[::1]:8080"));
  EXPECT_FALSE(p.allows("http://[::1]"));
}

TEST(OriginPolicy, BadEntriesAreRefusedWhenTheListIsRead) {
  for (const char* bad : {"example.com", "*", "https://*", "https://*.", "https://a.*.example.com",
                          "https://*.[::1]", "https://a.example/", "ftp//a.example", "https://a.example:99999"}) {
    EXPECT_THROW(OriginPolicy({bad}), std::invalid_argument) << bad;
  }
  try {
    OriginPolicy({"https://ok.example", "nope"});
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("\"nope\""), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace wirehub::http
