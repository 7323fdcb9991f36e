#include "server/server_metrics.hpp"

#include <array>

namespace wirehub::server_metrics {

namespace {

// Nanosecond bounds as the seconds Prometheus expects.
std::vector<double> seconds(std::span<const std::uint64_t> ns) {
  std::vector<double> s;
  s.reserve(ns.size());
  for (std::uint64_t b : ns) s.push_back(static_cast<double>(b) / 1e9);
  return s;
}

}  // namespace

EndpointMetrics websocket_metrics(const ws::Endpoint& ep) {
  EndpointMetrics m;
  m.transport = "websocket";
  m.endpoint = ep.path();
  for (std::size_t i = 0; i < ep.loop_count(); ++i) {
    const ws::Endpoint::LoopStats& st = ep.loop_stats(i);
    m.open += st.open.get();
    m.opened += st.opened.get();
    m.messages_in += st.messages_in.get();
    m.messages_out += st.messages_queued.get();
    m.bytes_in += st.bytes_in.get();
    m.bytes_out += st.bytes_out.get();
    m.dropped += st.dropped.get();
    m.slow_closed += st.slow_closed.get();
    m.protocol_errors += st.protocol_errors.get();
    st.delivery_ns.add_to(m.delivery_ns);
    m.delivery_bounds_ns = st.delivery_ns.upper_bounds();
  }
  return m;
}

EndpointMetrics hub_metrics(const Hub& hub) {
  const HubStats st = hub.stats();
  EndpointMetrics m;
  m.transport = "hub";
  m.endpoint = hub.path();
  m.open = st.open;
  m.opened = st.opened;
  m.messages_in = st.messages_in;
  m.messages_out = st.messages_out;
  m.bytes_in = st.bytes_in;
  m.bytes_out = st.bytes_out;
  m.protocol_errors = st.protocol_errors;
  return m;
}

EndpointMetrics sse_metrics(const sse::Endpoint& ep) {
  EndpointMetrics m;
  m.transport = "sse";
  m.endpoint = ep.path();
  for (std::size_t i = 0; i < ep.loop_count(); ++i) {
    const sse::Endpoint::LoopStats& st = ep.loop_stats(i);
    m.open += st.open.get();
    m.opened += st.opened.get();
    m.messages_out += st.events_queued.get();
    m.bytes_out += st.bytes_out.get();
    m.dropped += st.dropped.get();
    m.slow_closed += st.slow_closed.get();
    st.delivery_ns.add_to(m.delivery_ns);
    m.delivery_bounds_ns = st.delivery_ns.upper_bounds();
  }
  return m;
}

void write_metrics(MetricsWriter& w, const MetricsSources& src) {
  const ServerStats& st = src.server;
  w.family("wirehub_event_loops", MetricType::Gauge, "Event loops (one thread each).");
  w.sample("wirehub_event_loops", {}, src.loops);
  w.family("wirehub_event_loop_lag_seconds", MetricType::Histogram,
           "How late each loop ran a timer due every 100 ms (from its due time on the timer wheel's 8 ms grid; "
           "an idle loop shows up to about 1 ms).");
  for (std::size_t i = 0; i < src.lag.size(); ++i) {
    HistogramCounts c;
    src.lag[i]->lag_ns().add_to(c);
    const std::string loop = std::to_string(i);
    w.histogram("wirehub_event_loop_lag_seconds", {{"loop", loop}}, seconds(src.lag[i]->lag_ns().upper_bounds()),
                c.buckets, static_cast<double>(c.sum) / 1e9);
  }
  w.family("wirehub_accepted_connections_total", MetricType::Counter, "TCP connections accepted.");
  w.sample("wirehub_accepted_connections_total", {}, st.accepted);
  w.family("wirehub_accept_fd_exhausted_total", MetricType::Counter,
           "Accepts that failed for lack of file descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM).");
  w.sample("wirehub_accept_fd_exhausted_total", {}, st.accept_fd_exhausted);
  w.family("wirehub_http_requests_total", MetricType::Counter, "HTTP requests received (upgrades included).");
  w.sample("wirehub_http_requests_total", {}, st.http_requests);
  w.family("wirehub_http_errors_total", MetricType::Counter,
           "HTTP requests answered 4xx or 5xx by the parser or the router (not by handlers).");
  w.sample("wirehub_http_errors_total", {}, st.http_parse_errors);
  w.family("wirehub_http_timeouts_total", MetricType::Counter,
           "HTTP connections answered 408: a request head did not arrive in time.");
  w.sample("wirehub_http_timeouts_total", {}, st.http_timeouts);

  // Families labelled by transport and endpoint: one sample (or histogram) per row.
  auto labels = [](const EndpointMetrics& e) {
    return std::array<MetricLabel, 2>{{{"transport", e.transport}, {"endpoint", e.endpoint}}};
  };
  auto each = [&](const char* name, MetricType type, const char* help, auto value) {
    w.family(name, type, help);
    for (const EndpointMetrics& e : src.endpoints) {
      const auto l = labels(e);
      w.sample(name, std::span<const MetricLabel>(l), value(e));
    }
  };
  each("wirehub_connections", MetricType::Gauge, "Open connections.", [](auto& e) { return e.open; });
  each("wirehub_connections_opened_total", MetricType::Counter, "Connections opened.",
       [](auto& e) { return e.opened; });

  w.family("wirehub_handshakes_total", MetricType::Counter,
           "WebSocket opening handshakes and SSE stream requests by result: accepted, or refused as bad_request (400), "
           "unsupported_version (426), origin_refused (403), auth_refused (400/401/403 for the bearer token), "
           "loop_full (503).");
  for (const ws::Endpoint* ep : src.websockets) {
    std::uint64_t by[6] = {};
    for (std::size_t i = 0; i < ep->loop_count(); ++i) {
      const ws::Endpoint::LoopStats& s = ep->loop_stats(i);
      by[0] += s.handshakes_accepted.get();
      by[1] += s.handshakes_bad_request.get();
      by[2] += s.handshakes_unsupported_version.get();
      by[3] += s.origin_refused.get();
      by[4] += s.auth_refused.get();
      by[5] += s.handshakes_loop_full.get();
    }
    static constexpr std::string_view kResults[6] = {"accepted",       "bad_request",  "unsupported_version",
                                                     "origin_refused", "auth_refused", "loop_full"};
    for (int r = 0; r < 6; ++r) {
      w.sample("wirehub_handshakes_total", {{"endpoint", ep->path()}, {"result", kResults[r]}}, by[r]);
    }
  }
  // An SSE stream's "handshake" is its GET: accepted, or refused for its Origin.
  for (const sse::Endpoint* ep : src.sses) {
    std::uint64_t opened = 0, refused = 0;
    for (std::size_t i = 0; i < ep->loop_count(); ++i) {
      opened += ep->loop_stats(i).opened.get();
      refused += ep->loop_stats(i).origin_refused.get();
    }
    w.sample("wirehub_handshakes_total", {{"endpoint", ep->path()}, {"result", "accepted"}}, opened);
    w.sample("wirehub_handshakes_total", {{"endpoint", ep->path()}, {"result", "origin_refused"}}, refused);
  }

  w.family("wirehub_messages_total", MetricType::Counter,
           "Messages received (in) and queued to send (out; a slow-consumer policy may drop some later, see "
           "wirehub_dropped_messages_total).");
  for (const EndpointMetrics& e : src.endpoints) {
    w.sample("wirehub_messages_total", {{"transport", e.transport}, {"endpoint", e.endpoint}, {"direction", "in"}},
             e.messages_in);
    w.sample("wirehub_messages_total", {{"transport", e.transport}, {"endpoint", e.endpoint}, {"direction", "out"}},
             e.messages_out);
  }
  w.family("wirehub_message_bytes_total", MetricType::Counter,
           "Payload bytes (uncompressed) of the messages counted by wirehub_messages_total.");
  for (const EndpointMetrics& e : src.endpoints) {
    w.sample("wirehub_message_bytes_total",
             {{"transport", e.transport}, {"endpoint", e.endpoint}, {"direction", "in"}}, e.bytes_in);
    w.sample("wirehub_message_bytes_total",
             {{"transport", e.transport}, {"endpoint", e.endpoint}, {"direction", "out"}}, e.bytes_out);
  }
  each("wirehub_dropped_messages_total", MetricType::Counter,
       "Messages refused, or removed from a send queue, by the slow-consumer policy.",
       [](auto& e) { return e.dropped; });
  each("wirehub_slow_consumer_closes_total", MetricType::Counter,
       "Connections closed by the slow-consumer policy.", [](auto& e) { return e.slow_closed; });
  each("wirehub_protocol_errors_total", MetricType::Counter, "Connections failed for a protocol violation.",
       [](auto& e) { return e.protocol_errors; });

  // Topic history, for the endpoints that have it (no family when none has).
  struct HistoryRow {
    std::string_view transport, path;
    fanout::TopicHistory::Counts c;
  };
  std::vector<HistoryRow> history_rows;
  for (const ws::Endpoint* ep : src.websockets) {
    if (ep->history()) history_rows.push_back({"websocket", ep->path(), ep->history()->counts()});
  }
  for (const sse::Endpoint* ep : src.sses) {
    if (ep->history()) history_rows.push_back({"sse", ep->path(), ep->history()->counts()});
  }
  if (!history_rows.empty()) {
    w.family("wirehub_topic_resumes_total", MetricType::Counter,
             "Resumes of a history topic (subscribe with a position): answered with the messages after it "
             "(replayed) or with a reset (not kept any more, another numbering, or no position).");
    for (const HistoryRow& r : history_rows) {
      w.sample("wirehub_topic_resumes_total", {{"transport", r.transport}, {"endpoint", r.path}, {"result", "replayed"}},
               r.c.resumed);
      w.sample("wirehub_topic_resumes_total", {{"transport", r.transport}, {"endpoint", r.path}, {"result", "reset"}},
               r.c.reset);
    }
    w.family("wirehub_topic_gaps_total", MetricType::Counter,
             "Holes in a history topic's numbers as they arrived from the other nodes (this node's subscription "
             "lapsed): filled from Redis, or reset (its subscribers told: gone from Redis, or a new numbering).");
    for (const HistoryRow& r : history_rows) {
      w.sample("wirehub_topic_gaps_total", {{"transport", r.transport}, {"endpoint", r.path}, {"result", "filled"}},
               r.c.gaps_filled);
      w.sample("wirehub_topic_gaps_total", {{"transport", r.transport}, {"endpoint", r.path}, {"result", "reset"}},
               r.c.breaks);
    }
  }

  w.family("wirehub_hub_invocations_total", MetricType::Counter, "Hub method invocations received.");
  for (const Hub* h : src.hubs) w.sample("wirehub_hub_invocations_total", {{"endpoint", h->path()}}, h->stats().invocations);

  if (const BackplaneStatus& b = src.backplane; !b.kind.empty()) {
    const MetricLabel kind[] = {{"kind", b.kind}};
    auto one = [&](std::string_view name, MetricType type, std::string_view help, std::uint64_t v) {
      w.family(name, type, help);
      w.sample(name, std::span<const MetricLabel>(kind), v);
    };
    one("wirehub_backplane_up", MetricType::Gauge,
        "1 while the backplane to the other nodes is connected, 0 while it (re)connects.", b.up ? 1 : 0);
    one("wirehub_backplane_published_total", MetricType::Counter,
        "Messages handed to the backplane for the other nodes (sent or buffered).", b.published);
    one("wirehub_backplane_refused_total", MetricType::Counter,
        "Messages not sent to the other nodes: the backplane was down and its buffer full.", b.refused);
    one("wirehub_backplane_delivered_total", MetricType::Counter, "Messages from other nodes delivered here.",
        b.delivered);
    one("wirehub_backplane_duplicates_total", MetricType::Counter,
        "Messages re-sent after a lost connection and dropped here as already delivered.", b.duplicates);
    one("wirehub_backplane_malformed_total", MetricType::Counter,
        "Messages from other nodes for no endpoint of this node, or unreadable.", b.malformed);
    one("wirehub_backplane_buffered_messages", MetricType::Gauge,
        "Messages waiting for the backplane to come back.", b.buffered);
    one("wirehub_backplane_buffered_bytes", MetricType::Gauge, "Their payload bytes.", b.buffered_bytes);
    one("wirehub_backplane_reconnects_total", MetricType::Counter,
        "Connections to the backplane re-established after a loss.", b.reconnects);
    one("wirehub_backplane_channels", MetricType::Gauge, "Backplane channels this node subscribes to.", b.channels);
    one("wirehub_backplane_peers", MetricType::Gauge, "Other nodes subscribed to the backplane at the last scan.",
        b.peers);
    one("wirehub_backplane_flush_waits_total", MetricType::Counter,
        "Reconnects with messages buffered that waited for the other nodes to subscribe again before sending them.",
        b.flush_waits);
    one("wirehub_backplane_peers_missed_total", MetricType::Counter,
        "Nodes that had not subscribed again when such a wait ran out (flush_wait_ms); they missed the buffer.",
        b.peers_missed);
  }

  w.family("wirehub_publish_delivery_seconds", MetricType::Histogram,
           "From a broadcast or publish call to its message queued on a loop, once per loop that queued it.");
  for (const EndpointMetrics& e : src.endpoints) {
    const auto l = labels(e);
    HistogramCounts c = e.delivery_ns;
    if (c.buckets.empty()) c.buckets.resize(e.delivery_bounds_ns.size() + 1);
    w.histogram("wirehub_publish_delivery_seconds", std::span<const MetricLabel>(l), seconds(e.delivery_bounds_ns),
                c.buckets, static_cast<double>(c.sum) / 1e9);
  }
}

}  // namespace wirehub::server_metrics
