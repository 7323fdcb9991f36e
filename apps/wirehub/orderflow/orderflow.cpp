#include "orderflow/orderflow.hpp"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <vector>

#include "backplane/redis_backplane.hpp"
#include "orderflow/order_json.hpp"

namespace wirehub::orderflow {

namespace {

constexpr std::string_view kJson = "application/json";
// History is handed to a connection's loop in posts of at most this many events.
constexpr std::size_t kReplayChunk = 256;
// How long a resume from a point this node's replica has not reached waits for it: a node
// that is behind catches up within a tail batch or two; a point it does not reach in this
// time is likely no seq of the log at all, and waiting for it would keep the resume forever.
constexpr std::chrono::seconds kResumeWaitLimit{10};

void json_answer(HttpResponse& res, int status, std::string body) {
  res.status = status;
  res.content_type = kJson;
  res.body = std::move(body);
  res.body += '\n';
}

HttpResponse json_response(int status, std::string body) {
  HttpResponse res;
  json_answer(res, status, std::move(body));
  return res;
}

// Constant-time comparison of a presented key with the configured one.
bool key_matches(std::string_view presented, const std::string& key) {
  return presented.size() == key.size() && CRYPTO_memcmp(presented.data(), key.data(), key.size()) == 0;
}

// One post's worth of resume history: (seq, event JSON), oldest first.
using HistoryChunk = std::vector<std::pair<std::int64_t, std::string>>;

// The events of the stored orders after `after`, oldest first, read page by page and cut
// into the chunks that are posted to the connection's loop; nullopt when there are more
// than max_events.
std::optional<std::vector<HistoryChunk>> read_history(store::OrderStore& store, std::int64_t after,
                                                      std::size_t max_events) {
  std::vector<HistoryChunk> chunks;
  std::size_t count = 0;
  constexpr std::size_t kPage = 1000;
  for (;;) {
    std::vector<store::StoredOrder> page = store.after(after, kPage);
    for (const store::StoredOrder& o : page) {
      if (count++ == max_events) return std::nullopt;
      if (chunks.empty() || chunks.back().size() == kReplayChunk) chunks.emplace_back().reserve(kReplayChunk);
      chunks.back().emplace_back(o.seq, order_created_event(o));
    }
    if (page.size() < kPage) return chunks;
    after = page.back().seq;
  }
}

std::string too_far_back(std::size_t max_events) {
  return feed_error_json("resume point is more than " + std::to_string(max_events) +
                         " events back; page through GET /api/orders and resume from a later seq");
}

// A query parameter that must be a number in [min, max] (values above max are capped to
// it); nullopt with the 400 answered in res otherwise.
std::optional<std::size_t> count_param(const HttpRequest& req, std::string_view name, std::size_t dflt,
                                       std::size_t max, HttpResponse& res) {
  auto text = req.query_param(name);
  if (!text) return dflt;
  auto v = parse_seq(*text);
  if (!v || *v < 1) {
    json_answer(res, 400, error_json(std::string(name) + " must be a whole number >= 1", name));
    return std::nullopt;
  }
  return std::min<std::size_t>(static_cast<std::size_t>(*v), max);
}

}  // namespace

OrderFlow::OrderFlow(OrderFlowOptions options) : options_(std::move(options)) {
  if (options_.post_jwt) post_jwt_.emplace(*options_.post_jwt);
  std::error_code ec;
  std::filesystem::create_directories(options_.data_dir, ec);
  if (ec) throw std::runtime_error("cannot create data directory " + options_.data_dir + ": " + ec.message());
  const std::string path = (std::filesystem::path(options_.data_dir) / "orders.db").string();
  auto store = store::OrderStore::open(path);
  spdlog::info("order store {} opened, last seq {}", path, store->last_seq());
  if (options_.redis_url.empty()) {
    service_ = std::make_unique<OrderService>(std::move(store), [this](const store::StoredOrder& o) { publish(o); });
    return;
  }
  backplane::RedisUrl url = backplane::parse_redis_url(options_.redis_url);
  if (!url.error.empty()) throw std::invalid_argument("orderflow: " + url.error);
  OrderLogOptions log;
  log.endpoint.host = url.options.host;
  log.endpoint.port = url.options.port;
  log.endpoint.user = url.options.user;
  log.endpoint.password = url.options.password;
  log.endpoint.db = url.options.db;
  log.key_prefix = options_.log_key_prefix;
  log.limits.max_len = options_.log_max_len;
  log.limits.dedupe_ttl_s = options_.log_dedupe_ttl_s;
  log.max_age_ms = std::uint64_t{options_.log_max_age_s} * 1000;
  // The replica's position and the orders still waiting for the log (a restart sends them).
  initial_seq_ = store->last_seq();
  initial_outbox_ = store->outbox(SIZE_MAX);
  outbox_size_.store(initial_outbox_.size());
  spdlog::info("order log redis {}:{} key {}log; replica at seq {}, {} order(s) in the outbox", log.endpoint.host,
               log.endpoint.port, log.key_prefix, initial_seq_, initial_outbox_.size());
  service_ = std::make_unique<OrderService>(std::move(store), [this](const store::StoredOrder& o) { publish(o); },
                                            OrderService::Appends::Outbox);
  log_ = std::make_unique<OrderLog>(
      std::move(log),
      OrderLog::Callbacks{
          .on_entries =
              [this](std::vector<store::StoredOrder> entries) {
                service_->run([this, entries = std::move(entries)](store::OrderStore& replica) {
                  replicate(replica, entries);
                });
              },
          .on_stalled = [this] { service_->run([this](store::OrderStore&) { answer_pending(); }); },
      });
}

OrderFlow::~OrderFlow() {
  if (log_) log_->stop();
}

void OrderFlow::replicate(store::OrderStore& store, const std::vector<store::StoredOrder>& entries) {
  std::vector<store::SeqGap> gaps;
  try {
    gaps = store.replicate(entries);
  } catch (const std::exception& e) {
    spdlog::error("storing {} order(s) from the order log failed: {}", entries.size(), e.what());
    log_->stored(store.last_seq(), false);
    return;
  }
  for (const store::SeqGap& g : gaps) {
    gaps_.fetch_add(1, std::memory_order_relaxed);
    gap_seqs_.fetch_add(static_cast<std::uint64_t>(g.last - g.first + 1), std::memory_order_relaxed);
    spdlog::warn("order log: seqs {}..{} were trimmed from the log (or were duplicates) before this node read "
                 "them; feed clients resuming before {} get an error",
                 g.first, g.last, g.last + 1);
  }
  outbox_size_.store(store.outbox_size(), std::memory_order_relaxed);
  std::size_t next_gap = 0;
  for (const store::StoredOrder& o : entries) {
    while (next_gap < gaps.size() && gaps[next_gap].last < o.seq) ++next_gap;
    if (next_gap < gaps.size() && gaps[next_gap].first <= o.seq) continue;  // a duplicate: not stored
    try {
      publish(o);
    } catch (const std::exception& e) {
      spdlog::error("publishing order {} failed: {}", o.seq, e.what());
    }
    auto it = waiting_.find(o.order_id);
    if (it == waiting_.end()) continue;
    HttpResponse res = json_response(201, order_json(o));
    res.headers.emplace_back("Location", "/api/orders/" + o.order_id);
    it->second.responder->respond(std::move(res));
    waiting_.erase(it);
  }
  run_caught_up(store);
  log_->stored(store.last_seq(), true);
}

void OrderFlow::answer_pending() {
  for (auto& [id, w] : waiting_) {
    HttpResponse res = json_response(202, pending_order_json(w.order));
    res.headers.emplace_back("Location", "/api/orders/" + id);
    w.responder->respond(std::move(res));
  }
  waiting_.clear();
}

std::optional<std::string> OrderFlow::gap_error(store::OrderStore& store, std::int64_t after) const {
  if (!log_) return std::nullopt;
  auto gap = store.gap_after(after);
  if (!gap) return std::nullopt;
  return "resume point " + std::to_string(after) + " is before seqs " + std::to_string(gap->first) +
                         ".." + std::to_string(gap->last) +
                         ", which the order log dropped before this node read them; page through GET "
                         "/api/orders and resume from seq " +
                         std::to_string(gap->last) + " or later";
}

void OrderFlow::resume_when_caught_up(store::OrderStore& store, std::int64_t after,
                                      std::function<void(store::OrderStore&)> resume,
                                      std::function<void(const std::string& error)> refuse) {
  if (!log_ || after <= store.last_seq()) {
    resume(store);
    return;
  }
  ahead_.push_back({after, std::chrono::steady_clock::now(), std::move(resume), std::move(refuse)});
  run_caught_up(store);
}

void OrderFlow::run_caught_up(store::OrderStore& store) {
  const std::int64_t last = store.last_seq();
  const auto expired = std::chrono::steady_clock::now() - kResumeWaitLimit;
  std::deque<Ahead> still;
  for (Ahead& a : ahead_) {
    if (a.after <= last) {
      a.resume(store);
    } else if (a.since < expired) {
      a.refuse("resume point " + std::to_string(a.after) + " is after the last order this node holds (seq " +
               std::to_string(last) + "); resume from seq " + std::to_string(last) + " or earlier");
    } else {
      still.push_back(std::move(a));
    }
  }
  ahead_ = std::move(still);
}

void OrderFlow::publish(const store::StoredOrder& o) {
  const std::string event = order_created_event(o);
  if (feed_) feed_->publish(kOrdersTopic, event);
  if (sse_) {
    const std::string id = std::to_string(o.seq);
    sse_->publish(kOrdersTopic, SseEvent{.data = event, .id = id});
  }
  if (hub_) hub_->clients().group(std::string(kOrdersTopic)).send("orderCreated", {Json::parse(event)});
}

void OrderFlow::mount_hub(Server& server) {
  // Like the feeds, the hub's "orders" group is served by each node from its own store
  // (ADR 0011), never relayed.
  HubOptions hub_options = options_.hub;
  hub_options.across_nodes = false;
  Hub& hub = server.hub("/hubs/orders", std::move(hub_options));
  hub_ = &hub;
  auto check_topic = [](const std::string& topic) {
    if (topic != kOrdersTopic)
      throw HubException("unknown topic \"" + topic.substr(0, 64) + "\" (the feed has \"orders\")");
  };
  // Joins the group from the store thread, between two publishes, and answers the last
  // seq stored before it: every later order reaches the client live, and GetRecent(seq)
  // fills in before it, with no gap (events seen twice carry the same seq).
  hub.method("Subscribe", [this, check_topic](HubCaller& c, std::string topic, HubReply reply) {
    check_topic(topic);
    service_->run([this, reply, id = c.connection_id(), topic](store::OrderStore& store) {
      const std::int64_t last = store.last_seq();
      hub_->add_to_group(id, topic);
      reply.ok(last);
    });
  });
  hub.method("Unsubscribe", [check_topic](HubCaller& c, std::string topic) {
    check_topic(topic);
    c.hub().remove_from_group(c.connection_id(), topic);
  });
  // The events after afterSeq, oldest first, at most max_page of them: a client pages
  // while it gets full pages.
  hub.method("GetRecent", [this](std::int64_t after_seq, HubReply reply) {
    if (after_seq < 0) throw HubException("afterSeq must be >= 0");
    service_->run([this, reply, after_seq, page = options_.max_page](store::OrderStore& store) {
      if (auto error = gap_error(store, after_seq)) {
        reply.fail(HubException(*error));
        return;
      }
      Json events = Json::array();
      for (const store::StoredOrder& o : store.after(after_seq, page)) events.push_back(Json::parse(order_created_event(o)));
      reply.ok(std::move(events));
    });
  });
}

std::optional<HttpResponse> OrderFlow::refuse_post(const HttpRequest& req) const {
  if (options_.api_key.empty() && !post_jwt_) return std::nullopt;
  if (!options_.api_key.empty()) {
    std::optional<std::string_view> key = req.header("X-API-Key");
    if (!key) {
      auto auth = req.header("Authorization");
      if (auth && auth->size() > 7 && (auth->substr(0, 7) == "Bearer " || auth->substr(0, 7) == "bearer "))
        key = auth->substr(7);
    }
    if (key && key_matches(*key, options_.api_key)) return std::nullopt;
  }
  HttpResponse res;
  if (post_jwt_) {
    BearerAuth::Verdict v = post_jwt_->check(req);
    if (v.status == 0) return std::nullopt;
    // With an API key configured too, a request that tried neither is told about the token.
    json_answer(res, v.status, error_json(v.reason, ""));
    res.headers.emplace_back("WWW-Authenticate", std::move(v.challenge));
    return res;
  }
  json_answer(res, 401, error_json("a valid API key is required", ""));
  res.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"wirehub\"");
  return res;
}

void OrderFlow::mount(Server& server) {
  mount_hub(server);
  RouteOptions post_options;
  post_options.max_body_bytes = options_.max_body_bytes;
  server.route_async(
      "POST", "/api/orders",
      [this](const HttpRequest& req, HttpResponder responder) {
        if (auto refusal = refuse_post(req)) return responder.respond(std::move(*refusal));
        auto type = req.header("Content-Type");
        if (!type || !is_json_media_type(*type)) {
          return responder.respond(
              json_response(415, error_json("Content-Type must be application/json", "")));
        }
        auto parsed = parse_new_order(req.body);
        if (auto* e = std::get_if<FieldError>(&parsed)) {
          return responder.respond(json_response(400, error_json(e->message, e->field)));
        }
        if (service_->backlog() >= options_.max_backlog) {
          HttpResponse res = json_response(503, error_json("too many orders waiting to be stored; retry", ""));
          res.headers.emplace_back("Retry-After", "1");
          return responder.respond(std::move(res));
        }
        // std::function needs a copyable callable; the responder is move-only.
        auto shared = std::make_shared<HttpResponder>(std::move(responder));
        if (log_) return post_to_log(std::move(std::get<store::NewOrder>(parsed)), std::move(shared));
        service_->append(std::move(std::get<store::NewOrder>(parsed)), [shared](OrderService::AppendResult r) {
          if (auto* o = std::get_if<store::StoredOrder>(&r)) {
            HttpResponse res = json_response(201, order_json(*o));
            res.headers.emplace_back("Location", "/api/orders/" + o->order_id);
            shared->respond(std::move(res));
          } else {
            HttpResponse res = json_response(503, error_json("the order could not be stored", ""));
            res.headers.emplace_back("Retry-After", "1");
            shared->respond(std::move(res));
          }
        });
      },
      post_options);

  server.route_async("GET", "/api/orders", [this](const HttpRequest& req, HttpResponder responder) {
    HttpResponse res;
    auto after_text = req.query_param("after");
    auto tail_text = req.query_param("tail");
    if (after_text && tail_text) {
      json_answer(res, 400, error_json("after and tail cannot be combined", "tail"));
      return responder.respond(std::move(res));
    }
    std::int64_t after = 0;
    if (after_text) {
      auto v = parse_seq(*after_text);
      if (!v) {
        json_answer(res, 400, error_json("after must be a whole number >= 0", "after"));
        return responder.respond(std::move(res));
      }
      after = *v;
    }
    auto limit = count_param(req, "limit", options_.default_page, options_.max_page, res);
    if (!limit) return responder.respond(std::move(res));
    std::optional<std::size_t> tail;
    if (tail_text) {
      tail = count_param(req, "tail", options_.default_page, options_.max_page, res);
      if (!tail) return responder.respond(std::move(res));
    }
    auto shared = std::make_shared<HttpResponder>(std::move(responder));
    service_->run([shared, after, limit = *limit, tail](store::OrderStore& store) {
      const std::int64_t last = store.last_seq();
      auto orders = tail ? store.latest(*tail) : store.after(after, limit);
      shared->respond(json_response(200, order_list_json(orders, last)));
    });
  });

  server.route_async("GET", "/api/orders/{id}", [this](const HttpRequest& req, HttpResponder responder) {
    auto shared = std::make_shared<HttpResponder>(std::move(responder));
    service_->run([this, shared, id = std::string(req.param("id").value_or(""))](store::OrderStore& store) {
      auto o = store.get(id);
      if (o) return shared->respond(json_response(200, order_json(*o)));
      // Accepted here and not in the log yet: say so, rather than "not found".
      if (log_) {
        if (auto pending = store.outbox_get(id)) return shared->respond(json_response(200, pending_order_json(*pending)));
      }
      shared->respond(json_response(404, error_json("order not found", "orderId")));
    });
  });

  // Ready while every event loop runs its timers and the store thread answers: a stalled
  // loop, a wedged store (past the handler timeout: 503) or a backlog past the limit takes
  // the instance out of rotation.
  server.route_async("GET", "/readyz", [this, &server](const HttpRequest&, HttpResponder responder) {
    const char* problem = !server.loops_responsive()                  ? "event loop stalled\n"
                          : service_->backlog() >= options_.max_backlog ? "order store backlog\n"
                                                                        : nullptr;
    if (problem) {
      HttpResponse res;
      res.status = 503;
      res.body = problem;
      return responder.respond(std::move(res));
    }
    auto shared = std::make_shared<HttpResponder>(std::move(responder));
    // The backplane the same way (Server::backplane_status is thread-safe).
    const BackplaneStatus bp = server.backplane_status();
    std::string backplane_line;
    if (!bp.kind.empty()) {
      backplane_line = "backplane: " + bp.kind + (bp.up ? " up" : " down (messages for other nodes are buffered)") +
                       ", buffered " + std::to_string(bp.buffered) + ", refused " + std::to_string(bp.refused) + "\n";
    }
    service_->run([this, shared, backplane_line = std::move(backplane_line)](store::OrderStore& store) {
      store.last_seq();  // a read: the database answers
      HttpResponse res;
      res.body = "ready\n" + backplane_line;
      // The shared log's state is reported, not required: while Redis is away every node
      // still serves its replica and takes orders into its outbox, and taking every node
      // out of rotation at once would turn a Redis outage into a full one (ADR 0011).
      if (log_) {
        const OrderLog::Stats st = log_->stats();
        res.body += "order log: " + std::string(st.up ? "up" : "down (orders wait in the outbox)") +
                    ", replica at seq " + std::to_string(st.replica) + ", lag " +
                    std::to_string(st.head - st.replica) + ", outbox " +
                    std::to_string(outbox_size_.load(std::memory_order_relaxed)) + "/" +
                    std::to_string(options_.max_outbox) + "\n";
      }
      shared->respond(std::move(res));
    });
  });

  // Each node publishes the orders of its own store to its own feed clients; the feeds do
  // not cross nodes through a backplane (ADR 0011: with Redis, every node's store follows
  // one shared log instead).
  WebSocketOptions feed_options = options_.feed_websocket;
  feed_options.across_nodes = false;
  SseOptions sse_options = options_.sse;
  sse_options.across_nodes = false;
  feed_ = &server.websocket(
      "/ws/orders/feed",
      {.on_message = [this](WebSocket& ws, std::string_view m, bool binary) { on_feed_message(ws, m, binary); }},
      std::move(feed_options));

  sse_ = &server.sse("/sse/orders",
                     {.on_open = [this](SseStream& s, const HttpRequest& req) { on_sse_open(s, req); }},
                     std::move(sse_options));
  // Last: the log's batches are published to the endpoints above.
  if (log_) log_->start(initial_seq_, std::move(initial_outbox_));
}

void OrderFlow::post_to_log(store::NewOrder order, std::shared_ptr<HttpResponder> responder) {
  if (outbox_size_.load(std::memory_order_relaxed) >= options_.max_outbox) {
    HttpResponse res = json_response(
        503, error_json("the order log is unreachable and this node's outbox is full (" +
                            std::to_string(options_.max_outbox) + " orders wait); retry later",
                        ""));
    res.headers.emplace_back("Retry-After", "1");
    return responder->respond(std::move(res));
  }
  // Durable in the outbox first: then the order survives a lost connection or a restart
  // of this node, and is sent to the log in the order it was accepted.
  service_->append(std::move(order), [this, responder](OrderService::AppendResult r) {
    auto* o = std::get_if<store::StoredOrder>(&r);
    if (o == nullptr) {
      HttpResponse res = json_response(503, error_json("the order could not be stored", ""));
      res.headers.emplace_back("Retry-After", "1");
      return responder->respond(std::move(res));
    }
    outbox_size_.fetch_add(1, std::memory_order_relaxed);
    // Answered 201 by replicate() once the replica holds it, or 202 by answer_pending().
    waiting_.emplace(o->order_id, Waiting{responder, *o});
    log_->submit(std::move(*o));
  });
}

// A feed connection's user_data holds a counter, not a pointer: the number of commands
// it has sent. A resume answered from the store thread carries the count it was asked
// under and is dropped if a newer command came in between.
void OrderFlow::on_feed_message(WebSocket& ws, std::string_view text, bool binary) {
  if (binary) {
    ws.send(feed_error_json("binary messages are not understood; send JSON text"));
    return;
  }
  auto parsed = parse_feed_command(text);
  if (auto* e = std::get_if<std::string>(&parsed)) {
    ws.send(feed_error_json(*e));
    return;
  }
  const FeedCommand& cmd = std::get<FeedCommand>(parsed);
  if (cmd.topic != kOrdersTopic) {
    ws.send(feed_error_json("unknown topic \"" + cmd.topic.substr(0, 64) + "\" (the feed has \"orders\")"));
    return;
  }
  const auto generation = reinterpret_cast<std::uintptr_t>(ws.user_data) + 1;
  ws.user_data = reinterpret_cast<void*>(generation);
  // Live events stop at once: whatever the command, what the connection gets next is
  // decided by it.
  ws.unsubscribe(kOrdersTopic);
  switch (cmd.kind) {
    case FeedCommand::Kind::Unsubscribe:
      ws.send(unsubscribed_json(kOrdersTopic));
      return;
    case FeedCommand::Kind::Subscribe: {
      // Subscribed from the store thread, between two publishes: the seq it reports is
      // exactly the last one the connection will not get.
      ConnectionId id = ws.id();
      service_->run([this, id, generation](store::OrderStore& store) {
        const std::int64_t last = store.last_seq();
        feed_->post_to(id, [generation, last](WebSocket& w) {
          if (reinterpret_cast<std::uintptr_t>(w.user_data) != generation) return;
          w.subscribe(kOrdersTopic);
          w.send(subscribed_json(kOrdersTopic, last));
        });
      });
      return;
    }
    case FeedCommand::Kind::Resume:
      resume_websocket(ws.id(), generation, cmd.after);
      return;
  }
}

void OrderFlow::resume_websocket(ConnectionId id, std::uintptr_t generation, std::int64_t after) {
  auto current = [generation](const WebSocket& w) {
    return reinterpret_cast<std::uintptr_t>(w.user_data) == generation;
  };
  auto refuse = [this, id, current](const std::string& error) {
    feed_->post_to(id, [current, error = feed_error_json(error)](WebSocket& w) {
      if (current(w)) w.send(error);
    });
  };
  auto resume = [this, id, after, current, refuse](store::OrderStore& store) {
    if (auto error = gap_error(store, after)) {
      refuse(*error);
      return;
    }
    auto history = read_history(store, after, options_.max_replay);
    if (!history) {
      feed_->post_to(id, [current, error = too_far_back(options_.max_replay)](WebSocket& w) {
        if (current(w)) w.send(error);
      });
      return;
    }
    const std::int64_t last = history->empty() ? after : history->back().back().first;
    for (HistoryChunk& chunk : *history) {
      feed_->post_to(id, [current, chunk = std::move(chunk)](WebSocket& w) {
        if (!current(w)) return;
        for (const auto& [seq, event] : chunk) w.send(event);
      });
    }
    feed_->post_to(id, [current, last](WebSocket& w) {
      if (!current(w)) return;
      w.subscribe(kOrdersTopic);
      w.send(subscribed_json(kOrdersTopic, last));
    });
  };
  service_->run([this, after, resume = std::move(resume), refuse = std::move(refuse)](store::OrderStore& store) {
    resume_when_caught_up(store, after, resume, refuse);
  });
}

void OrderFlow::on_sse_open(SseStream& stream, const HttpRequest& req) {
  // The browser's own reconnection sends Last-Event-ID; a page that reconnects itself
  // (or a first connection that wants history) says ?after=.
  std::optional<std::string> from;
  if (auto h = req.header("Last-Event-ID")) {
    from.emplace(*h);
  } else if (auto q = req.query_param("after")) {
    from = std::move(q);
  }
  if (!from) {
    stream.subscribe(kOrdersTopic);  // live from now on
    return;
  }
  auto after = parse_seq(*from);
  if (!after) {
    stream.send(SseEvent{.data = feed_error_json("the resume point must be a seq (a whole number >= 0)"),
                         .event = "error"});
    stream.close();
    return;
  }
  resume_sse(stream.id(), *after);
}

void OrderFlow::resume_sse(ConnectionId id, std::int64_t after) {
  auto refuse = [this, id](const std::string& error) {
    sse_->post_to(id, [error = feed_error_json(error)](SseStream& s) {
      s.send(SseEvent{.data = error, .event = "error"});
      s.close();
    });
  };
  auto resume = [this, id, after, refuse](store::OrderStore& store) {
    auto gap = gap_error(store, after);
    if (gap) {
      refuse(*gap);
      return;
    }
    auto history = read_history(store, after, options_.max_replay);
    if (!history) {
      sse_->post_to(id, [error = too_far_back(options_.max_replay)](SseStream& s) {
        s.send(SseEvent{.data = error, .event = "error"});
        s.close();
      });
      return;
    }
    for (HistoryChunk& chunk : *history) {
      sse_->post_to(id, [chunk = std::move(chunk)](SseStream& s) {
        for (const auto& [seq, event] : chunk) {
          const std::string sid = std::to_string(seq);
          s.send(SseEvent{.data = event, .id = sid});
        }
      });
    }
    sse_->post_to(id, [](SseStream& s) { s.subscribe(kOrdersTopic); });
  };
  service_->run([this, after, resume = std::move(resume), refuse = std::move(refuse)](store::OrderStore& store) {
    resume_when_caught_up(store, after, resume, refuse);
  });
}

void OrderFlow::write_metrics(std::string& out) const {
  MetricsWriter w(out);
  w.family("wirehub_orders_created_total", MetricType::Counter, "Orders stored (and published) since start.");
  w.sample("wirehub_orders_created_total", {}, service_->orders_created());
  w.family("wirehub_order_store_failures_total", MetricType::Counter,
           "Orders the store could not commit (answered 503).");
  w.sample("wirehub_order_store_failures_total", {}, service_->append_failures());
  w.family("wirehub_order_store_backlog", MetricType::Gauge, "Jobs waiting for the store thread.");
  w.sample("wirehub_order_store_backlog", {}, service_->backlog());
  if (!log_) return;
  const OrderLog::Stats st = log_->stats();
  w.family("wirehub_orderflow_log_up", MetricType::Gauge, "1 while this node appends to and reads the shared order log.");
  w.sample("wirehub_orderflow_log_up", {}, st.up ? 1 : 0);
  w.family("wirehub_orderflow_log_seq", MetricType::Gauge, "The last seq this node's replica holds.");
  w.sample("wirehub_orderflow_log_seq", {}, static_cast<std::uint64_t>(st.replica));
  w.family("wirehub_orderflow_log_lag", MetricType::Gauge,
           "Seqs between the newest this node has seen in the log and its replica.");
  w.sample("wirehub_orderflow_log_lag", {}, static_cast<std::uint64_t>(st.head - st.replica));
  w.family("wirehub_orderflow_log_outbox", MetricType::Gauge, "Orders accepted here and not yet in the replica.");
  w.sample("wirehub_orderflow_log_outbox", {}, outbox_size_.load(std::memory_order_relaxed));
  w.family("wirehub_orderflow_log_unsent", MetricType::Gauge, "Orders accepted here the log has not given a seq yet.");
  w.sample("wirehub_orderflow_log_unsent", {}, st.unsent);
  w.family("wirehub_orderflow_log_gaps_total", MetricType::Counter,
           "Ranges of seqs trimmed from the log before this node read them.");
  w.sample("wirehub_orderflow_log_gaps_total", {}, gaps_.load(std::memory_order_relaxed));
  w.family("wirehub_orderflow_log_gap_seqs_total", MetricType::Counter, "Seqs in those ranges.");
  w.sample("wirehub_orderflow_log_gap_seqs_total", {}, gap_seqs_.load(std::memory_order_relaxed));
  w.family("wirehub_orderflow_log_reconnects_total", MetricType::Counter, "Connections to the log re-established.");
  w.sample("wirehub_orderflow_log_reconnects_total", {}, st.reconnects);
}

}  // namespace wirehub::orderflow
