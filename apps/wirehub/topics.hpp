#pragma once
// The topic endpoints every wirehub server mounts: the library's numbered, resumable
// topics (TopicHistoryOptions) over a raw WebSocket, SSE and a REST publish.
//
//   GET  /ws/topics   WebSocket; the client sends JSON text commands:
//                       {"type":"subscribe","topic":T}                  live from now
//                       {"type":"subscribe","topic":T,"position":P}     resume after P ("" or an
//                                                                       unknown P: a reset with the
//                                                                       current position first)
//                       {"type":"unsubscribe","topic":T}
//                       {"type":"publish","topic":T,"data":D}           D a string
//                     and gets the history envelopes (wirehub/websocket.hpp), or
//                       {"type":"error","message":...} for a command it cannot take.
//   GET  /sse/topics?topic=T[&position=P]
//                     event stream of T resumed after Last-Event-ID, else after P, else a
//                     reset event carrying the current position first (its id is where the
//                     browser's EventSource resumes after a reconnect).
//   POST /api/topics/{T}  the body (UTF-8 text) published to T on both endpoints: 202.
//
// A topic name is 1-128 characters of [A-Za-z0-9._:-]; another gets an error (400 over
// HTTP). With a backplane every node numbers and keeps a topic's messages through Redis,
// so a client resumes on any node.

#include "wirehub/server.hpp"

namespace wirehub::app {

void mount_topic_endpoints(Server& server, const WebSocketOptions& websocket, const SseOptions& sse,
                           const TopicHistoryOptions& history);

}  // namespace wirehub::app
