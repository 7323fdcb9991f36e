#include "sse/event_writer.hpp"

namespace wirehub::sse {

namespace {

// Appends "<name>: <value>\n" with the characters in `drop` left out of value.
void append_field(std::string& out, std::string_view name, std::string_view value, std::string_view drop) {
  out.append(name);
  out.append(": ");
  while (!value.empty()) {
    const std::size_t cut = value.find_first_of(drop);
    out.append(value.substr(0, cut));
    if (cut == std::string_view::npos) break;
    value.remove_prefix(cut + 1);
  }
  out.push_back('\n');
}

}  // namespace

void append_event(std::string& out, std::string_view data, std::string_view id, std::string_view event) {
  using namespace std::string_view_literals;
  if (!id.empty()) append_field(out, "id", id, "\r\n\0"sv);
  if (!event.empty()) append_field(out, "event", event, "\r\n");
  // One data: line per line; an empty data (or a trailing line break) still gets its
  // line, so the client sees exactly the data given.
  for (;;) {
    const std::size_t br = data.find_first_of("\r\n");
    out.append("data: ");
    out.append(data.substr(0, br));
    out.push_back('\n');
    if (br == std::string_view::npos) break;
    const std::size_t len = data.compare(br, 2, "\r\n") == 0 ? 2 : 1;
    data.remove_prefix(br + len);
  }
  out.push_back('\n');
}

void append_retry(std::string& out, std::uint32_t ms) {
  out.append("retry: ");
  out.append(std::to_string(ms));
  out.append("\n\n");
}

}  // namespace wirehub::sse
