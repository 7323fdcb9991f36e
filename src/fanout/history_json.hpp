#pragma once
// The JSON messages of topic history, as a WebSocket endpoint with history sends them
// and an SSE endpoint's reset event carries them (the format is part of the public API:
// wirehub/websocket.hpp, TopicHistoryOptions).
//
//   {"topic":"<t>","position":"<p>","seq":<n>,"data":"<text payload>"}
//   {"topic":"<t>","position":"<p>","seq":<n>,"data_base64":"<binary payload, base64>"}
//   {"topic":"<t>","reset":true,"position":"<p>","seq":<n>}
//
// Strings are JSON-escaped (quote, backslash and control characters); other bytes pass
// as they are, so a text payload must be UTF-8, as a WebSocket text message must be.

#include <string>
#include <string_view>

#include "fanout/topic_history.hpp"

namespace wirehub::fanout {

std::string numbered_message_json(std::string_view topic, HistoryPosition p, std::string_view payload, bool binary);
std::string reset_message_json(std::string_view topic, HistoryPosition p);

}  // namespace wirehub::fanout
