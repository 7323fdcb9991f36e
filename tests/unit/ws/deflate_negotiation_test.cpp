// permessage-deflate negotiation, RFC 7692 7.1: which offer is accepted and the exact
// Sec-WebSocket-Extensions answer, parameter by parameter.

#include "ws/deflate_negotiation.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace wirehub::ws {
namespace {

// The answer to the given field lines, or "declined".
std::string answer(std::vector<std::string_view> lines, DeflatePolicy policy = {}) {
  auto n = negotiate_deflate(lines, policy);
  return n ? n->response : "declined";
}

struct Row {
  const char* offer;
  const char* response;
};

class NegotiationTable : public ::testing::TestWithParam<Row> {};

TEST_P(NegotiationTable, RFC7692_7_1_AnswersExactly) {
  EXPECT_EQ(answer({GetParam().offer}), GetParam().response) << "offer: " << GetParam().offer;
}

INSTANTIATE_TEST_SUITE_P(
    DefaultPolicy, NegotiationTable,
    ::testing::Values(
        Row{"permessage-deflate", "permessage-deflate"},
        // What browsers send.
        Row{"permessage-deflate; client_max_window_bits", "permessage-deflate"},
        Row{"permessage-deflate; server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover"},
        Row{"permessage-deflate; client_no_context_takeover",
            "permessage-deflate; client_no_context_takeover"},
        Row{"permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
        // 7.1.2.1: server_max_window_bits offered is always answered, same or smaller.
        Row{"permessage-deflate; server_max_window_bits=10",
            "permessage-deflate; server_max_window_bits=10"},
        Row{"permessage-deflate; server_max_window_bits=8",
            "permessage-deflate; server_max_window_bits=8"},
        Row{"permessage-deflate; server_max_window_bits=15",
            "permessage-deflate; server_max_window_bits=15"},
        // 7.1.2.2: a value for client_max_window_bits is echoed (it binds the client anyway).
        Row{"permessage-deflate; client_max_window_bits=9",
            "permessage-deflate; client_max_window_bits=9"},
        Row{"permessage-deflate; client_max_window_bits=15",
            "permessage-deflate; client_max_window_bits=15"},
        // Quoted values are unescaped, then must be tokens (RFC 6455 9.1).
        Row{"permessage-deflate; server_max_window_bits=\"12\"",
            "permessage-deflate; server_max_window_bits=12"},
        Row{"permessage-deflate; client_max_window_bits=\"1\\1\"",
            "permessage-deflate; client_max_window_bits=11"},
        // Whitespace and case.
        Row{"  PerMessage-Deflate ;Server_No_Context_Takeover\t; client_max_window_bits = 10  ",
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=10"},
        // Declined: invalid or missing values, values where none is allowed.
        Row{"permessage-deflate; server_max_window_bits", "declined"},
        Row{"permessage-deflate; server_max_window_bits=7", "declined"},
        Row{"permessage-deflate; server_max_window_bits=16", "declined"},
        Row{"permessage-deflate; server_max_window_bits=010", "declined"},
        Row{"permessage-deflate; server_max_window_bits=09", "declined"},
        Row{"permessage-deflate; server_max_window_bits=+9", "declined"},
        Row{"permessage-deflate; server_max_window_bits=\"\"", "declined"},
        Row{"permessage-deflate; client_max_window_bits=0", "declined"},
        Row{"permessage-deflate; client_max_window_bits=abc", "declined"},
        Row{"permessage-deflate; server_no_context_takeover=1", "declined"},
        Row{"permessage-deflate; client_no_context_takeover=\"x\"", "declined"},
        // Declined: duplicates and unknown parameters.
        Row{"permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "declined"},
        Row{"permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            "declined"},
        Row{"permessage-deflate; server_max_window_bits=10; server_max_window_bits=10", "declined"},
        Row{"permessage-deflate; client_max_window_bits; client_max_window_bits=10", "declined"},
        Row{"permessage-deflate; x_unknown", "declined"},
        Row{"permessage-deflate; mux", "declined"},
        // Other extensions are skipped.
        Row{"x-webkit-deflate-frame", "declined"},
        Row{"deflate-frame, permessage-deflate; client_max_window_bits", "permessage-deflate"},
        // Several offers: the first acceptable one wins.
        Row{"permessage-deflate; server_max_window_bits=7, permessage-deflate; "
            "server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover"},
        Row{"permessage-deflate; server_max_window_bits=10; client_max_window_bits, "
            "permessage-deflate",
            "permessage-deflate; server_max_window_bits=10"},
        Row{"permessage-deflate; foo=\"a,b\", permessage-deflate; client_no_context_takeover",
            "permessage-deflate; client_no_context_takeover"},
        // Broken syntax: the rest of the line is ignored, earlier offers still count.
        Row{"permessage-deflate; server_max_window_bits=\"10", "declined"},
        Row{"permessage-deflate; =10", "declined"}, Row{";permessage-deflate", "declined"},
        Row{"permessage-deflate; client_max_window_bits=1 0", "declined"}, Row{"", "declined"},
        Row{" , ,", "declined"}));

TEST(DeflateNegotiation, SeveralFieldLinesAreOneListInOrder) {
  EXPECT_EQ(
      answer({"foo", "permessage-deflate; x=1", "permessage-deflate; server_max_window_bits=11"}),
      "permessage-deflate; server_max_window_bits=11");
  // A broken line loses only its own remaining offers.
  EXPECT_EQ(answer({"permessage-deflate; a=\"", "permessage-deflate"}), "permessage-deflate");
  EXPECT_EQ(answer({}), "declined");
}

TEST(DeflateNegotiation, AgreementCarriesTheParameters) {
  std::vector<std::string_view> lines = {
      "permessage-deflate; server_no_context_takeover; server_max_window_bits=9; "
      "client_max_window_bits=12"};
  auto n = negotiate_deflate(lines, {});
  ASSERT_TRUE(n);
  EXPECT_TRUE(n->agreement.enabled);
  EXPECT_TRUE(n->agreement.server_no_context_takeover);
  EXPECT_FALSE(n->agreement.client_no_context_takeover);
  EXPECT_EQ(n->agreement.server_window_bits, 9);
  EXPECT_EQ(n->agreement.client_window_bits, 12);
}

TEST(DeflateNegotiation, PolicyAddsNoContextTakeoverBothWays) {
  DeflatePolicy shared;
  shared.server_no_context_takeover = shared.client_no_context_takeover = true;
  EXPECT_EQ(answer({"permessage-deflate; client_max_window_bits"}, shared),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
  auto n = negotiate_deflate(std::vector<std::string_view>{"permessage-deflate"}, shared);
  ASSERT_TRUE(n);
  EXPECT_TRUE(n->agreement.server_no_context_takeover);
  EXPECT_TRUE(n->agreement.client_no_context_takeover);
}

TEST(DeflateNegotiation, PolicyWindowsAreAnsweredOnlyWhereAllowed) {
  DeflatePolicy small;
  small.server_max_window_bits = 10;
  small.client_max_window_bits = 11;
  // Our own window may always be announced; the client's only if it offered the parameter.
  EXPECT_EQ(answer({"permessage-deflate"}, small), "permessage-deflate; server_max_window_bits=10");
  EXPECT_EQ(answer({"permessage-deflate; client_max_window_bits"}, small),
            "permessage-deflate; server_max_window_bits=10; client_max_window_bits=11");
  // Never above what the client offered.
  EXPECT_EQ(
      answer({"permessage-deflate; server_max_window_bits=9; client_max_window_bits=8"}, small),
      "permessage-deflate; server_max_window_bits=9; client_max_window_bits=8");
  EXPECT_EQ(
      answer({"permessage-deflate; server_max_window_bits=12; client_max_window_bits=13"}, small),
      "permessage-deflate; server_max_window_bits=10; client_max_window_bits=11");
  auto n = negotiate_deflate(std::vector<std::string_view>{"permessage-deflate"}, small);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->agreement.client_window_bits, 15) << "a client that was not limited may use 15";
}

}  // namespace
}  // namespace wirehub::ws
