#include "options.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>

namespace wirehub::bench {

namespace {

constexpr std::size_t kMaxPayload = 16 * 1024 * 1024;  // the server's default message limit
constexpr double kMaxSeconds = 3600;
constexpr std::size_t kSpareFds = 32;  // epoll, eventfds, stdio, /proc reads
constexpr std::string_view kHubPath = "/hubs/bench";

// Options shared by every subcommand.
void add_common(CLI::App& sub, Options& o, std::string default_path) {
  o.url = "ws://127.0.0.1:8080" + default_path;
  sub.add_option("--url", o.url, "ws:// or wss://HOST:PORT/PATH of the server (loopback only; wss: the certificate is not verified)")->capture_default_str();
  sub.add_option("--threads", o.threads, "generator threads, each with its own event loop")
      ->check(CLI::Range(1u, 64u))
      ->capture_default_str();
  sub.add_option("--source-ips", o.source_ips, "spread connections over source addresses 127.0.0.1..127.0.0.N")
      ->check(CLI::Range(1u, 254u))
      ->capture_default_str();
  sub.add_option("--server-pid", o.server_pid, "sample this server process's CPU and memory from /proc")
      ->check(CLI::PositiveNumber);
  sub.add_flag("--json", o.json, "print one JSON line with every figure on stdout (summary goes to stderr)");
  sub.add_flag("!--no-progress", o.progress, "no per-second progress line on stderr");
}

void add_timing(CLI::App& sub, Options& o) {
  sub.add_option("--duration", o.duration, "measured seconds")
      ->check(CLI::Range(0.1, kMaxSeconds))
      ->capture_default_str();
  sub.add_option("--warmup", o.warmup, "seconds of load before measuring starts")
      ->check(CLI::Range(0.0, kMaxSeconds))
      ->capture_default_str();
  CLI::Option* binary = sub.add_flag("--binary", o.binary, "send binary messages (default: text)");
  // The hub protocol decides the frames: text for JSON, binary for MessagePack.
  sub.add_option_function<std::string>(
         "--hub", [&o](const std::string& name) { o.hub = parse_hub_protocol(name); },
         "talk to a SignalR hub (default URL ws://127.0.0.1:8080/hubs/bench) in this protocol")
      ->expected(1)
      ->check(CLI::IsMember({"json", "messagepack"}))
      ->excludes(binary);
}

}  // namespace

std::optional<int> parse_options(int argc, const char* const* argv, std::size_t fd_limit, Options& o) {
  CLI::App cli{"wirehub-bench: WebSocket load generator for loopback servers"};
  cli.require_subcommand(1);
  cli.set_version_flag("--version", std::string("wirehub-bench ") + WIREHUB_VERSION);

  Options echo, bcast, conn;
  echo.mode = Mode::Echo;
  bcast.mode = Mode::Broadcast;
  conn.mode = Mode::Connect;
  conn.connections = 1000;

  CLI::App* e = cli.add_subcommand("echo", "round trips: each connection keeps --inflight messages outstanding");
  add_common(*e, echo, "/ws/echo");
  add_timing(*e, echo);
  e->add_option("--connections", echo.connections, "connections")->check(CLI::Range(1, 1'000'000))->capture_default_str();
  e->add_option("--inflight", echo.inflight, "messages outstanding per connection")
      ->check(CLI::Range(1, 65536))
      ->capture_default_str();
  e->add_option("--size", echo.size, "payload bytes (>= 8 carries a checked sequence number)")
      ->check(CLI::Range(std::size_t{1}, kMaxPayload))
      ->capture_default_str();

  CLI::App* b = cli.add_subcommand("broadcast", "fan-out: one publisher, N subscribers on the same endpoint");
  add_common(*b, bcast, "/ws/broadcast");
  add_timing(*b, bcast);
  b->add_option("--also-url", bcast.also_urls,
                 "another node of the same deployment (repeatable): subscribers go round-robin over --url and these");
  b->add_option("--subscribers", bcast.subscribers, "subscriber connections")
      ->check(CLI::Range(1, 1'000'000))
      ->capture_default_str();
  b->add_option("--window", bcast.window, "messages in flight (not yet delivered to every subscriber)")
      ->check(CLI::Range(1, 65536))
      ->capture_default_str();
  b->add_option("--size", bcast.size, "payload bytes (at least 8: the sequence header)")
      ->check(CLI::Range(std::size_t{8}, kMaxPayload))
      ->capture_default_str();

  CLI::App* c = cli.add_subcommand("connect", "open and hold many connections; handshakes/s, server memory");
  add_common(*c, conn, "/ws/echo");
  c->add_option("--connections", conn.connections, "connections to open")
      ->check(CLI::Range(1, 1'000'000))
      ->capture_default_str();
  c->add_option("--hold", conn.hold, "seconds to hold them open (answering pings)")
      ->check(CLI::Range(0.0, kMaxSeconds))
      ->capture_default_str();
  c->add_option("--rate", conn.rate, "connects per second, 0 = as fast as possible")
      ->check(CLI::Range(0.0, 1e7))
      ->capture_default_str();
  // Connect mode sends no data, so compressed frames never need decoding: this only shows
  // what an agreed but unused permessage-deflate costs the server per connection.
  c->add_flag("--offer-deflate", conn.offer_deflate,
              "offer permessage-deflate (client_max_window_bits) and accept the server's answer");

  try {
    cli.parse(argc, argv);
  } catch (const CLI::CallForHelp& ex) {
    return cli.exit(ex);
  } catch (const CLI::CallForAllHelp& ex) {
    return cli.exit(ex);
  } catch (const CLI::CallForVersion& ex) {
    return cli.exit(ex);
  } catch (const CLI::ParseError& ex) {
    cli.exit(ex);
    return kExitUsage;
  }

  if (e->parsed()) o = echo;
  else if (b->parsed()) o = bcast;
  else o = conn;
  const CLI::App* sub = e->parsed() ? e : b->parsed() ? b : c;
  if (o.hub && sub->count("--url") == 0) o.url = "ws://127.0.0.1:8080" + std::string(kHubPath);

  auto usage = [](const std::string& msg) -> std::optional<int> {
    std::fprintf(stderr, "wirehub-bench: %s\n", msg.c_str());
    return kExitUsage;
  };
  std::string why;
  auto t = parse_target(o.url, &why);
  if (!t) return usage(why);
  o.target = std::move(*t);
  o.target.offer_deflate = o.offer_deflate;
  for (const std::string& u : o.also_urls) {
    auto more = parse_target(u, &why);
    if (!more) return usage("--also-url: " + why);
    if (more->tls != o.target.tls || more->address.storage.ss_family != o.target.address.storage.ss_family)
      return usage("--also-url " + u + ": every URL needs the scheme and address family of --url");
    o.more_targets.push_back(std::move(*more));
  }
  if (o.source_ips > 1 && o.target.address.storage.ss_family != AF_INET)
    return usage("--source-ips needs an IPv4 target");
  if (o.total_connections() + kSpareFds > fd_limit)
    return usage("this run needs " + std::to_string(o.total_connections() + kSpareFds) +
                 " file descriptors; the limit is " + std::to_string(fd_limit));
  if (o.server_pid > 0 && access(("/proc/" + std::to_string(o.server_pid) + "/status").c_str(), R_OK) != 0)
    return usage("--server-pid " + std::to_string(o.server_pid) + ": no such process");
  return std::nullopt;
}

}  // namespace wirehub::bench
