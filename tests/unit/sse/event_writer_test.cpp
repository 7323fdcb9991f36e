// The text/event-stream writer (HTML Living Standard, "Server-sent events"): exact bytes
// for a table of events, and every output read back by a client-side parser written from
// the spec's "Interpreting an event stream" algorithm, which must see the data, id and
// type that went in.

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "sse/event_writer.hpp"

namespace wirehub::sse {
namespace {

using namespace std::string_literals;

struct Case {
  std::string data, id, event, bytes;
};

const std::vector<Case>& cases() {
  static const std::vector<Case> c = {
      {"hello", "", "", "data: hello\n\n"},
      {"", "", "", "data: \n\n"},  // empty data is still an event
      {"a\nb", "", "", "data: a\ndata: b\n\n"},
      {"a\r\nb", "", "", "data: a\ndata: b\n\n"},
      {"a\rb", "", "", "data: a\ndata: b\n\n"},
      {"a\n", "", "", "data: a\ndata: \n\n"},  // a trailing line break survives
      {"\r\n\r\n", "", "", "data: \ndata: \ndata: \n\n"},
      {"a\r\r\nb", "", "", "data: a\ndata: \ndata: b\n\n"},  // CR, then CR LF: two breaks
      {"a\n\rb", "", "", "data: a\ndata: \ndata: b\n\n"},    // LF, then CR: two breaks
      {" lead", "", "", "data:  lead\n\n"},                  // the one space after ':' is ours
      {"x", "42", "order", "id: 42\nevent: order\ndata: x\n\n"},
      {"x", "4\n2", "", "id: 42\ndata: x\n\n"},
      {"x", "a\r\nb\0c"s, "", "id: abc\ndata: x\n\n"},  // NUL would make clients drop the id
      {"x", "", "x\ry\nz", "event: xyz\ndata: x\n\n"},
      {"x", "\n", "", "id: \ndata: x\n\n"},  // an id of only breaks becomes empty, not a new field
      {"{\"seq\":1}", "1", "", "id: 1\ndata: {\"seq\":1}\n\n"},
  };
  return c;
}

TEST(SseEventWriter, WritesTheExactBytesOfEachEvent) {
  for (const Case& c : cases()) {
    std::string out;
    append_event(out, c.data, c.id, c.event);
    EXPECT_EQ(out, c.bytes) << "data=" << ::testing::PrintToString(c.data);
  }
}

TEST(SseEventWriter, RetryLineAndHeartbeat) {
  std::string out;
  append_retry(out, 3000);
  EXPECT_EQ(out, "retry: 3000\n\n");
  EXPECT_EQ(kHeartbeat, ": \n");
}

// A client per the spec: lines end at CR LF, LF or CR; "field: value" with one leading
// space removed; data lines joined with LF; a blank line dispatches.
struct Parsed {
  std::string data, id, event;
};
std::vector<Parsed> parse_stream(std::string_view in, std::string* last_id) {
  std::vector<Parsed> out;
  std::string data, event;
  bool have_data = false;
  while (!in.empty()) {
    std::size_t br = in.find_first_of("\r\n");
    if (br == std::string_view::npos) break;  // an unterminated line is not processed
    std::string_view line = in.substr(0, br);
    in.remove_prefix(br + (in.compare(br, 2, "\r\n") == 0 ? 2 : 1));
    if (line.empty()) {
      if (have_data) {
        if (!data.empty() && data.back() == '\n') data.pop_back();
        out.push_back({data, *last_id, event});
      }
      data.clear();
      event.clear();
      have_data = false;
      continue;
    }
    if (line[0] == ':') continue;
    std::size_t colon = line.find(':');
    std::string_view field = line.substr(0, colon), value;
    if (colon != std::string_view::npos) {
      value = line.substr(colon + 1);
      if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
    }
    if (field == "data") {
      data.append(value);
      data.push_back('\n');
      have_data = true;
    } else if (field == "event") {
      event = value;
    } else if (field == "id" && value.find('\0') == std::string_view::npos) {
      *last_id = value;
    }
  }
  return out;
}

// The data a client sees: every line break normalised to LF.
std::string as_seen(std::string_view data) {
  std::string s;
  for (std::size_t i = 0; i < data.size(); ++i) {
    if (data[i] == '\r') {
      s.push_back('\n');
      if (i + 1 < data.size() && data[i + 1] == '\n') ++i;
    } else {
      s.push_back(data[i]);
    }
  }
  return s;
}

TEST(SseEventWriter, AClientReadsBackWhatWasWrittenForTheTable) {
  for (const Case& c : cases()) {
    std::string out, last_id;
    append_event(out, c.data, c.id, c.event);
    auto events = parse_stream(out, &last_id);
    ASSERT_EQ(events.size(), 1u) << out;
    EXPECT_EQ(events[0].data, as_seen(c.data));
  }
}

TEST(SseEventWriter, RandomEventsSurviveAClientParseOneAfterAnother) {
  std::mt19937 rng(7);
  const std::string alphabet = "ab \r\n:\0"s;
  auto random_text = [&](std::size_t max) {
    std::string s(rng() % (max + 1), ' ');
    for (char& ch : s) ch = alphabet[rng() % alphabet.size()];
    return s;
  };
  std::string stream;
  std::vector<Parsed> expected;
  for (int i = 0; i < 2000; ++i) {
    // Ids start with a digit, so none is empty once the line breaks are gone.
    std::string data = random_text(12), id = std::to_string(i) + random_text(6), event = random_text(6);
    append_event(stream, data, id, event);
    Parsed p;
    p.data = as_seen(data);
    for (char ch : id)
      if (ch != '\r' && ch != '\n' && ch != '\0') p.id.push_back(ch);
    for (char ch : event)
      if (ch != '\r' && ch != '\n') p.event.push_back(ch);
    expected.push_back(p);
  }
  std::string last_id;
  auto got = parse_stream(stream, &last_id);
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].data, expected[i].data) << i;
    EXPECT_EQ(got[i].id, expected[i].id) << i;
    EXPECT_EQ(got[i].event, expected[i].event) << i;
  }
}

}  // namespace
}  // namespace wirehub::sse
