#pragma once
// The JSON protocol's common message read without a nlohmann document: an Invocation or
// StreamInvocation is scanned once, its envelope taken apart by hand and its arguments kept
// as wire text (hub::Arguments). Used by parse_json_message before its general path.
//
// The reader only ever says "this is what the general path would produce" or "not mine":
// it takes a message only when it is sure that nlohmann's parser accepts the whole text
// (the same grammar, string, UTF-8 and number rules; nesting within kMaxDepth) and that
// the general path would read it into exactly the same Message. Everything else — other
// types, errors, duplicate or escaped property names, headers that are not an object of
// strings, numbers a double cannot hold, a byte order mark — is left to the general path,
// which alone produces error texts.

#include <string>
#include <string_view>

#include "hub/messages.hpp"

namespace wirehub::hub {

// true: text is an Invocation or StreamInvocation and m holds it. false: not taken; m is
// unspecified.
bool read_json_invocation(std::string_view text, Message& m);

// Appends the text a valid JSON string token stands for (body: the token without its
// quotes, as read_json_invocation validated it): escapes decoded, \u surrogate pairs
// joined into one UTF-8 sequence.
void decode_json_string(std::string_view body, std::string& out);

}  // namespace wirehub::hub
