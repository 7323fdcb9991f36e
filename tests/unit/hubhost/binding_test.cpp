// The binding templates of wirehub/hub.hpp read common parameter types straight from the
// wire; whatever the argument, the value bound (or the refusal) must be what nlohmann's
// get<P>() gives on the argument as a Json, which is what the hub bound before.
#include <gtest/gtest.h>

#include <bit>
#include <cstdlib>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "hub/messages.hpp"
#include "hubhost/wire_arguments.hpp"
#include "wirehub/hub.hpp"

namespace wirehub {
namespace {

using hub::HubProtocol;

// The methods under test never look at their caller.
class NoCaller final : public HubCaller {
 public:
  const std::string& connection_id() const noexcept override { return none_; }
  const std::string& user() const noexcept override { return none_; }
  const Principal* principal() const noexcept override { return nullptr; }
  std::string_view transport() const noexcept override { return {}; }
  std::string_view protocol() const noexcept override { return {}; }
  std::optional<std::string> header(std::string_view) const override { return std::nullopt; }
  std::optional<std::string> query(std::string_view) const override { return std::nullopt; }
  std::optional<std::string> cookie(std::string_view) const override { return std::nullopt; }
  void close(std::string_view, bool) override {}
  Hub& hub() noexcept override { std::abort(); }

 private:
  std::string none_;
};

std::string mp(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

// Invocations with one argument each, in both protocols, parsed as the hub parses them.
std::vector<hub::Message> corpus() {
  const char* values[] = {R"("s")", R"("\u00e9\n\"")", R"("")", R"("1")", "0", "-0", "42", "-7", "127", "128", "255",
                          "256", "-1", "-129", "65536", "4294967296", "18446744073709551615",
                          "-9223372036854775808", "9223372036854775808", "18446744073709551616", "1.5", "-2.5",
                          "1e2", "-0.0", "0.1", "3.4028235e38", "1e39", "true", "false", "null", "[1,2]", "[]",
                          R"({"a":1})", R"(["x"])"};
  std::vector<std::string> messagepack_arguments;
  for (const char* v : values) {
    std::string bytes = "\x91";
    Json::to_msgpack(Json::parse(v), nlohmann::detail::output_adapter<char>(bytes));
    messagepack_arguments.push_back(bytes);
  }
  // The forms to_msgpack never picks: signed fields holding small or positive numbers,
  // wide unsigned fields holding small ones, float 32.
  for (const std::string& extra : {mp({0x91, 0xd0, 0x05}), mp({0x91, 0xd1, 0xff, 0xfe}), mp({0x91, 0xd2, 0, 0, 1, 0}),
                                   mp({0x91, 0xd3, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}),
                                   mp({0x91, 0xcd, 0x00, 0x01}), mp({0x91, 0xcf, 0, 0, 0, 0, 0, 0, 0, 9}),
                                   mp({0x91, 0xca, 0x3f, 0xc0, 0, 0}), mp({0x91, 0xc4, 0x01, 0x41})}) {
    messagepack_arguments.push_back(extra);
  }
  std::vector<hub::Message> out;
  for (const char* v : values) {
    hub::ParseResult r = hub::parse_json_message(std::string(R"({"type":1,"target":"T","arguments":[)") + v + "]}");
    EXPECT_EQ(r.status, hub::ParseResult::Status::Ok) << v;
    out.push_back(std::move(r.message));
  }
  for (const std::string& a : messagepack_arguments) {
    hub::ParseResult r = hub::parse_messagepack_message(mp({0x95, 0x01, 0x80, 0xc0, 0xa1, 'T'}) + a);
    EXPECT_EQ(r.status, hub::ParseResult::Status::Ok) << r.error;
    out.push_back(std::move(r.message));
  }
  for (const hub::Message& m : out) EXPECT_TRUE(m.arguments.on_wire());
  return out;
}

template <class P>
bool same(const P& a, const P& b) {
  if constexpr (std::is_same_v<P, double>) {
    return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b);
  } else if constexpr (std::is_same_v<P, float>) {
    return std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b);
  } else {
    return a == b;
  }
}

template <class P>
void expect_bound_as_nlohmann_binds(const char* type) {
  int bound = 0, refused = 0;
  for (const hub::Message& m : corpus()) {
    const hubhost::WireArguments args(m.arguments);
    const Json value = m.arguments.value(0);
    std::optional<P> expected;
    try {
      expected = value.get<P>();
    } catch (const nlohmann::json::exception&) {
    }
    try {
      const P got = hub_detail::bind_argument<P>(args, 0);
      ASSERT_TRUE(expected.has_value()) << type << " bound from " << value.dump();
      EXPECT_TRUE(same(got, *expected)) << type << " from " << value.dump();
      ++bound;
    } catch (const hub_detail::ArgumentError& e) {
      EXPECT_FALSE(expected.has_value()) << type << " refused " << value.dump();
      EXPECT_STREQ(e.what(), "argument 1 does not convert");
      ++refused;
    }
  }
  EXPECT_GT(bound, 0) << type;
}

TEST(HubBinding, EveryCommonTypeBindsAsNlohmannConverts) {
  expect_bound_as_nlohmann_binds<std::string>("string");
  expect_bound_as_nlohmann_binds<bool>("bool");
  expect_bound_as_nlohmann_binds<int>("int");
  expect_bound_as_nlohmann_binds<unsigned>("unsigned");
  expect_bound_as_nlohmann_binds<std::int64_t>("int64_t");
  expect_bound_as_nlohmann_binds<std::uint64_t>("uint64_t");
  expect_bound_as_nlohmann_binds<std::int8_t>("int8_t");
  expect_bound_as_nlohmann_binds<std::uint16_t>("uint16_t");
  expect_bound_as_nlohmann_binds<long long>("long long");
  expect_bound_as_nlohmann_binds<char>("char");
  expect_bound_as_nlohmann_binds<double>("double");
  expect_bound_as_nlohmann_binds<float>("float");
}

TEST(HubBinding, OtherTypesGoThroughNlohmann) {
  expect_bound_as_nlohmann_binds<Json>("Json");
  expect_bound_as_nlohmann_binds<std::vector<int>>("vector<int>");
  expect_bound_as_nlohmann_binds<std::map<std::string, int>>("map<string, int>");
  expect_bound_as_nlohmann_binds<std::vector<std::uint8_t>>("vector<uint8_t>");
}

// A method's result: a std::string is kept apart for the writer, anything else becomes
// its Json; arguments bind in order around HubCaller-less signatures.
TEST(HubBinding, ResultsOfSynchronousMethods) {
  hub::ParseResult r = hub::parse_json_message(R"({"type":1,"target":"T","arguments":["ab",3,true]})");
  ASSERT_EQ(r.status, hub::ParseResult::Status::Ok);
  const hubhost::WireArguments args(r.message.arguments);
  std::vector<HubUpload> uploads;
  NoCaller caller;
  auto run = [&](auto fn) {
    using Sig = hub_detail::Signature<decltype(fn)>;
    hub_detail::Call call{caller, args, uploads, nullptr, nullptr};
    hub_detail::invoke_bound(fn, call, static_cast<typename Sig::Args*>(nullptr));
    return call.result;
  };
  const auto text = run([](std::string s, int n, bool b) { return b ? s + std::to_string(n) : s; });
  EXPECT_TRUE(text.is_string);
  EXPECT_EQ(text.string, "ab3");
  EXPECT_TRUE(text.value.is_null());
  const auto number = run([](const std::string& s, std::int64_t n, bool) { return static_cast<std::int64_t>(s.size()) * n; });
  EXPECT_FALSE(number.is_string);
  EXPECT_EQ(number.value, 6);
  const auto nothing = run([](std::string, int, bool) {});
  EXPECT_FALSE(nothing.is_string);
  EXPECT_TRUE(nothing.value.is_null());
  const auto view = run([](std::string, int, bool) { return std::string_view("sv"); });
  EXPECT_FALSE(view.is_string);
  EXPECT_EQ(view.value, "sv");
  EXPECT_THROW(run([](int, int, bool) { return 0; }), hub_detail::ArgumentError);
}

}  // namespace
}  // namespace wirehub
