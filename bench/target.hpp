#pragma once
// Target: where the load goes, parsed from a ws:// or wss:// URL and checked to be loopback.
//
// wirehub-bench only ever loads this machine: a host outside 127.0.0.0/8 and ::1 (or
// "localhost", taken as 127.0.0.1 without asking DNS) is refused before any socket opens.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "net/address.hpp"

namespace wirehub::bench {

struct Target {
  net::Address address;      // numeric, port filled in
  std::string host_header;   // Host field value: host as written in the URL, plus ":port"
  std::string path;          // request target: path and query, at least "/"
  bool tls = false;          // wss://: TLS, the server's certificate not verified
  bool offer_deflate = false;  // connect --offer-deflate: offer permessage-deflate
};

// Parses ws://HOST[:PORT][/PATH[?QUERY]] (port 80 by default) or wss://... (port 443).
// HOST is a numeric IPv4 address, a bracketed IPv6 address or localhost. Returns nullopt
// with the reason in *error for anything else, including user info, a fragment and
// non-loopback hosts.
std::optional<Target> parse_target(std::string_view url, std::string* error);

// True for 127.0.0.0/8, ::1 and IPv4-mapped 127.0.0.0/8.
bool is_loopback(const net::Address& a) noexcept;

}  // namespace wirehub::bench
