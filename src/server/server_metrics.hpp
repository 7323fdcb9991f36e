#pragma once
// The library's metrics, rendered for Server::metrics_text() in the Prometheus text format.
//
// The families with a `transport` label are written from one row per transport endpoint
// (EndpointMetrics), so another transport (Server-Sent Events) joins them by adding its
// rows to MetricsSources::endpoints: each family's lines stay together, as the format
// requires. Family names and labels are a contract with dashboards and alerts: keep them.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/histogram.hpp"
#include "loop/lag_probe.hpp"
#include "wirehub/metrics.hpp"
#include "wirehub/server.hpp"
#include "sse/sse_endpoint.hpp"
#include "ws/ws_endpoint.hpp"

namespace wirehub::server_metrics {

// One endpoint of one transport, summed over the loops.
struct EndpointMetrics {
  std::string_view transport;  // label value: "websocket" or "sse"
  std::string_view endpoint;   // its path
  std::uint64_t open = 0, opened = 0;
  std::uint64_t messages_in = 0, messages_out = 0, bytes_in = 0, bytes_out = 0;
  std::uint64_t dropped = 0, slow_closed = 0, protocol_errors = 0;
  HistogramCounts delivery_ns;  // broadcast/publish call to frame queued, per loop delivery
  std::span<const std::uint64_t> delivery_bounds_ns;
};

EndpointMetrics websocket_metrics(const ws::Endpoint& endpoint);
EndpointMetrics sse_metrics(const sse::Endpoint& endpoint);
// A hub (or raw connection handler): its logical connections and hub messages, whatever
// the transport under them (the transports' own rows come from their endpoints).
EndpointMetrics hub_metrics(const Hub& hub);

struct MetricsSources {
  ServerStats server;
  std::size_t loops = 0;
  std::vector<const loop::LagProbe*> lag;       // by loop index
  std::vector<const ws::Endpoint*> websockets;  // for the handshake counters
  std::vector<const sse::Endpoint*> sses;       // for theirs (accepted, origin_refused)
  std::vector<EndpointMetrics> endpoints;       // every transport's
  std::vector<const Hub*> hubs;                 // for the invocation counters
  BackplaneStatus backplane;                    // kind "" = none: no backplane families
};

void write_metrics(MetricsWriter& w, const MetricsSources& sources);

}  // namespace wirehub::server_metrics
