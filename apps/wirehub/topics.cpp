#include "topics.hpp"

#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include "wirehub/sse.hpp"

namespace wirehub::app {

namespace {

using json = nlohmann::json;

constexpr std::size_t kMaxTopic = 128;

bool valid_topic(std::string_view t) {
  if (t.empty() || t.size() > kMaxTopic) return false;
  for (char c : t) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

void send_error(WebSocket& ws, std::string_view message) {
  ws.send(json{{"type", "error"}, {"message", message}}.dump());
}

struct Endpoints {
  WebSocketEndpoint* ws = nullptr;
  SseEndpoint* sse = nullptr;
  void publish(std::string_view topic, std::string_view data) const {
    ws->publish(topic, data);
    sse->publish(topic, {.data = data});
  }
};

void on_command(const Endpoints& eps, WebSocket& ws, std::string_view text) {
  const json cmd = json::parse(text, nullptr, false);
  if (!cmd.is_object() || !cmd.contains("type") || !cmd["type"].is_string()) {
    send_error(ws, "expected a JSON object with a string \"type\"");
    return;
  }
  const std::string type = cmd["type"].get<std::string>();
  if (type != "subscribe" && type != "unsubscribe" && type != "publish") {
    send_error(ws, "unknown type \"" + type + "\": subscribe, unsubscribe or publish");
    return;
  }
  const auto topic_it = cmd.find("topic");
  if (topic_it == cmd.end() || !topic_it->is_string() || !valid_topic(topic_it->get_ref<const std::string&>())) {
    send_error(ws, "\"topic\" must be 1-128 characters of A-Z a-z 0-9 . _ : -");
    return;
  }
  const std::string& topic = topic_it->get_ref<const std::string&>();
  if (type == "subscribe") {
    const auto position = cmd.find("position");
    if (position != cmd.end() && !position->is_string()) {
      send_error(ws, "\"position\" must be a string");
      return;
    }
    const bool done = position == cmd.end() ? ws.subscribe(topic)
                                            : ws.subscribe(topic, position->get_ref<const std::string&>());
    if (!done) send_error(ws, "already subscribed to \"" + topic + "\"");
  } else if (type == "unsubscribe") {
    if (!ws.unsubscribe(topic)) send_error(ws, "not subscribed to \"" + topic + "\"");
  } else {
    const auto data = cmd.find("data");
    if (data == cmd.end() || !data->is_string()) {
      send_error(ws, "\"data\" must be a string");
      return;
    }
    eps.publish(topic, data->get_ref<const std::string&>());
  }
}

}  // namespace

void mount_topic_endpoints(Server& server, const WebSocketOptions& websocket, const SseOptions& sse,
                           const TopicHistoryOptions& history) {
  // The handlers need the endpoints, which exist only once registered: they read them from
  // a cell filled right after.
  auto eps = std::make_shared<Endpoints>();
  WebSocketOptions ws_options = websocket;
  ws_options.history = history;
  eps->ws = &server.websocket("/ws/topics",
                              {.on_message =
                                   [eps](WebSocket& ws, std::string_view m, bool binary) {
                                     if (binary) {
                                       send_error(ws, "commands are JSON text messages");
                                       return;
                                     }
                                     on_command(*eps, ws, m);
                                   }},
                              std::move(ws_options));
  SseOptions sse_options = sse;
  sse_options.history = history;
  eps->sse = &server.sse(
      "/sse/topics",
      {.on_open =
           [](SseStream& s, const HttpRequest& req) {
             const std::optional<std::string> topic = req.query_param("topic");
             if (!topic || !valid_topic(*topic)) {
               // The 200 head is out already: say why in an event, then end.
               s.send({.data = "the query needs topic=T, T being 1-128 characters of A-Z a-z 0-9 . _ : -",
                       .event = "error"});
               s.close();
               return;
             }
             std::string position;
             if (const auto last = req.header("Last-Event-ID")) {
               position = *last;
             } else if (auto p = req.query_param("position")) {
               position = std::move(*p);
             }
             s.subscribe(*topic, position);
           }},
      std::move(sse_options));
  server.route("POST", "/api/topics/{topic}", [eps](const HttpRequest& req, HttpResponse& res) {
    const std::string_view topic = req.param("topic").value_or("");
    if (!valid_topic(topic)) {
      res.status = 400;
      res.body = "the topic must be 1-128 characters of A-Z a-z 0-9 . _ : -\n";
      return;
    }
    try {
      (void)json(req.body).dump();  // throws for bytes that are not UTF-8
    } catch (const json::type_error&) {
      res.status = 400;
      res.body = "the body must be UTF-8 text\n";
      return;
    }
    eps->publish(topic, req.body);
    res.status = 202;
    res.content_type = "application/json";
    res.body = json{{"topic", topic}}.dump();
  });
}

}  // namespace wirehub::app
