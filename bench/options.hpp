#pragma once
// Options: everything a wirehub-bench run is told on the command line, already checked.

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "hub_wire.hpp"
#include "target.hpp"

namespace wirehub::bench {

enum class Mode : std::uint8_t { Echo, Broadcast, Connect };

struct Options {
  Mode mode = Mode::Echo;
  std::string url;
  Target target;
  // broadcast: more servers (nodes of one deployment) whose subscribers share the load:
  // connections go round-robin over url and these (the publisher to url).
  std::vector<std::string> also_urls;
  std::vector<Target> more_targets;
  std::size_t connections = 100;  // echo, connect
  std::size_t inflight = 1;       // echo: messages outstanding per connection
  std::size_t size = 32;          // echo, broadcast: payload bytes
  std::size_t subscribers = 1000; // broadcast
  std::size_t window = 16;        // broadcast: messages not yet delivered to all, at most
  double duration = 10;           // echo, broadcast: measured seconds
  double warmup = 2;              // echo, broadcast: seconds before measuring
  double hold = 10;               // connect: seconds to hold the connections open
  double rate = 0;                // connect: connects per second, 0 = as fast as possible
  bool binary = false;            // echo, broadcast: binary messages instead of text
  // echo, broadcast: speak to a SignalR hub in this protocol instead of raw WebSocket
  // messages (the hub's methods are in bench/README.md).
  std::optional<HubProtocol> hub;
  bool offer_deflate = false;     // connect: offer permessage-deflate in the handshake
  bool json = false;              // one JSON line on stdout (the summary moves to stderr)
  bool progress = true;           // the per-second line on stderr
  unsigned threads = 1;
  unsigned source_ips = 1;
  int server_pid = 0;             // 0 = do not sample the server

  // Data messages go in binary frames: --binary, or a hub spoken in MessagePack.
  bool binary_frames() const noexcept { return hub ? *hub == HubProtocol::MessagePack : binary; }

  // Connections the run opens in all.
  std::size_t total_connections() const noexcept {
    return mode == Mode::Broadcast ? subscribers + 1 : connections;
  }
};

// Exit codes (DESIGN.md: 2 for bad flags).
constexpr int kExitOk = 0;
constexpr int kExitErrors = 1;
constexpr int kExitUsage = 2;

// Parses and checks the command line. Returns nullopt when the run should go ahead, or
// the exit code to end with at once (0 after --help, 2 for bad flags, with the message
// already printed). fd_limit is the descriptor limit the run will have.
std::optional<int> parse_options(int argc, const char* const* argv, std::size_t fd_limit, Options& out);

}  // namespace wirehub::bench
