#pragma once
// The binary's log output: spdlog's default logger on stderr, one line per record, as
// text for people or as JSON for log pipelines (--log-format json).

#include <string>
#include <string_view>

namespace wirehub::app {

// Sets the level ("trace" .. "off") and the format ("text" or "json") of every log line.
// False for an unknown level or format.
bool configure_logging(std::string_view level, std::string_view format);

// The JSON string literal of s (quotes included), for the json format; exposed for tests.
std::string json_quote(std::string_view s);

}  // namespace wirehub::app
