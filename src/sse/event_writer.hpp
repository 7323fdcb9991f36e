#pragma once
// The text/event-stream wire format (HTML Living Standard, "Server-sent events",
// "Interpreting an event stream"), server side: sans-I/O, strings in, bytes out.
//
// An event is its fields, one per line, then a blank line that dispatches it:
//   id: <id>\n  event: <type>\n  data: <line>\n (one per line of data)  \n
// A client splits lines on CR LF, LF and CR alike, so each of those in the data starts a
// new data: line (the client joins data lines with LF: a CR or CR LF in the data arrives
// as LF). A line break inside id or event would end the field early and let the rest be
// read as another field, so those are removed; NUL is removed from id too (a client
// ignores an id containing NUL, which would silently break resuming).

#include <cstdint>
#include <string>
#include <string_view>

namespace wirehub::sse {

// Appends one complete event (id and event lines only when not empty).
void append_event(std::string& out, std::string_view data, std::string_view id = {}, std::string_view event = {});
// Appends "retry: <ms>\n\n": the client's reconnection delay.
void append_retry(std::string& out, std::uint32_t ms);
// The heartbeat: a comment line, which clients ignore; it keeps proxies and the
// client's own idle detection from ending a quiet stream.
inline constexpr std::string_view kHeartbeat = ": \n";

}  // namespace wirehub::sse
