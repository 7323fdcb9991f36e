// Steady state allocates nothing: parsing (pipelined, chunked, many headers), routing a
// found path and writing a response into a string with room. Counted by replacing the
// global operator new for this test binary.

// AddressSanitizer replaces the allocator itself; the count is taken in the plain builds.
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <string_view>

#include "http/request_parser.hpp"
#include "http/response.hpp"
#include "http/router.hpp"

namespace {
std::atomic<std::size_t> g_allocations{0};
}  // namespace

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace wirehub::http {
namespace {

using Event = RequestParser::Event;

constexpr std::string_view kPipelined =
    "GET /api/orders/42?x=1 HTTP/1.1\r\nHost: h\r\nUser-Agent: bench\r\nAccept: */*\r\n"
    "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: 7\r\nConnection: keep-alive\r\n\r\n"
    "POST /api/orders HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
    "POST /api/orders HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5;x\r\nhello\r\n0\r\nT: 1\r\n\r\n";

// Parses all of `in`, returning the number of completed messages.
int parse_all(RequestParser& p, std::string_view in) {
  int done = 0;
  while (true) {
    const auto r = p.parse(in);
    if (r.event == Event::NeedMore || r.event == Event::Error)
      return r.event == Event::Error ? -1 : done;
    if (r.event == Event::Done) ++done;
    in.remove_prefix(r.consumed);
  }
}

TEST(Allocation, SteadyStateParsingAllocatesNothing) {
  RequestParser p;
  ASSERT_EQ(parse_all(p, kPipelined), 3);  // warm-up grows the header storage once
  const std::size_t before = g_allocations.load();
  int done = 0;
  for (int i = 0; i < 100; ++i) done += parse_all(p, kPipelined);
  const std::size_t after = g_allocations.load();
  EXPECT_EQ(done, 300);
  EXPECT_EQ(after - before, 0u);
}

TEST(Allocation, RoutingAFoundPathAllocatesNothing) {
  Router<int> r;
  r.add(Method::Get, "/api/orders", 1);
  r.add(Method::Get, "/api/orders/{id}", 2);
  r.add(Method::Get, "/static/*", 3);
  const std::size_t before = g_allocations.load();
  int sum = 0;
  for (int i = 0; i < 100; ++i) {
    sum += *r.match(Method::Get, "/api/orders/42").handler;
    sum += *r.match(Method::Head, "/static/a/b").handler;
  }
  const std::size_t after = g_allocations.load();
  EXPECT_EQ(sum, 500);
  EXPECT_EQ(after - before, 0u);
}

TEST(Allocation, WritingIntoAStringWithRoomAllocatesNothing) {
  std::string out;
  out.reserve(64 * 1024);
  const Header extra[] = {{"X-Id", "1"}};
  const std::size_t before = g_allocations.load();
  for (int i = 0; i < 100; ++i)
    write_response(out, 200, "application/json", "{\"ok\":true}", extra);
  const std::size_t after = g_allocations.load();
  EXPECT_EQ(after - before, 0u);
}

}  // namespace
}  // namespace wirehub::http

#endif  // !__SANITIZE_ADDRESS__ && !__SANITIZE_THREAD__
