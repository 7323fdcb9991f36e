// write_response and friends: exact bytes for each case.

#include "http/response.hpp"

#include <gtest/gtest.h>

#include <string>

namespace wirehub::http {
namespace {

TEST(Response, Rfc9112_4_OkWithBody) {
  std::string out;
  write_response(out, 200, "text/plain", "hello");
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello");
}

TEST(Response, AppendsAfterExistingBytes) {
  std::string out = "previous";
  write_response(out, 404, "", "");
  EXPECT_EQ(out, "previousHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
}

TEST(Response, Rfc9112_9_6_ConnectionCloseWhenNotKeepingAlive) {
  std::string out;
  write_response(out, 400, "text/plain", "bad\n", {}, false);
  EXPECT_EQ(out,
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n"
            "Connection: close\r\n\r\nbad\n");
}

TEST(Response, ExtraHeadersInOrderAfterFixedOnes) {
  std::string out;
  const Header extra[] = {{"Allow", "GET, HEAD"}, {"X-Id", "7"}};
  write_response(out, 405, "", "", extra);
  EXPECT_EQ(out,
            "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nAllow: GET, HEAD\r\n"
            "X-Id: 7\r\n\r\n");
}

TEST(Response, Rfc9110_6_4_1_NoContentLengthOrBodyFor1xx204And304) {
  const Header upgrade[] = {{"Upgrade", "websocket"},
                            {"Connection", "Upgrade"},
                            {"Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="}};
  std::string out;
  write_response(out, 101, "", "", upgrade);
  EXPECT_EQ(out,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
  out.clear();
  write_response(out, 204, "", "ignored");
  EXPECT_EQ(out, "HTTP/1.1 204 No Content\r\n\r\n");
  out.clear();
  write_response(out, 304, "", "");
  EXPECT_EQ(out, "HTTP/1.1 304 Not Modified\r\n\r\n");
  out.clear();
  write_response(out, 100, "", "");
  EXPECT_EQ(out, "HTTP/1.1 100 Continue\r\n\r\n");
}

TEST(Response, Rfc9110_5_5_CrLfAndNulInValuesBecomeSpaces) {
  std::string out;
  const Header extra[] = {{"X-Echo", std::string_view("a\r\nSet-Cookie: x\0y", 18)}};
  write_response(out, 200, "text/plain\r\nX: y", "", extra);
  EXPECT_EQ(out,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain  X: y\r\nContent-Length: 0\r\n"
            "X-Echo: a  Set-Cookie: x y\r\n\r\n");
}

TEST(Response, HeadForHeadRequestsCarriesLengthWithoutBody) {
  std::string out;
  write_response_head(out, 200, "text/html", 1234);
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1234\r\n\r\n");
}

TEST(Response, UnknownStatusHasEmptyReasonAndInvalidIs500) {
  std::string out;
  write_response(out, 299, "", "");
  EXPECT_EQ(out, "HTTP/1.1 299 \r\nContent-Length: 0\r\n\r\n");
  out.clear();
  write_response(out, 42, "", "");
  EXPECT_EQ(out, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
}

TEST(Response, ErrorResponseUsesTheStatusTableAndCloses) {
  std::string out;
  write_error_response(out, ParseError::HeadersTooLarge);
  EXPECT_EQ(
      out,
      "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain; charset=utf-8\r\n"
      "Content-Length: 32\r\nConnection: close\r\n\r\nrequest header fields too large\n");
}

TEST(Response, ReasonPhrases) {
  EXPECT_EQ(reason_phrase(200), "OK");
  EXPECT_EQ(reason_phrase(413), "Content Too Large");
  EXPECT_EQ(reason_phrase(414), "URI Too Long");
  EXPECT_EQ(reason_phrase(505), "HTTP Version Not Supported");
  EXPECT_EQ(reason_phrase(799), "");
}

}  // namespace
}  // namespace wirehub::http
