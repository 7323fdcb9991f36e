#pragma once
// The SignalR conformance app (`wirehub --app signalr-conformance`): the hubs and helper
// endpoints the official SignalR client's functional tests expect of their test server
// (the contract is docs/signalr-conformance.md), so those tests, and ours, can run
// against wirehub unchanged.

#include <cstdint>

#include "wirehub/server.hpp"

namespace wirehub::app {

struct ConformanceOptions {
  bool https = false;  // the cookies set on negotiate get SameSite=None; Secure; Partitioned
  // The hubs' options; the app turns on detailed errors, stateful reconnect and every
  // origin, and adds its negotiate cookies, as the client tests expect.
  HubOptions hub;
};

// Mounts /testhub, /testhub-nowebsockets, /authorizedhub, /echo, the redirect and
// negotiate-failure helpers, /generateJwtToken, /clientresult/{id} and /deployment.
void mount_signalr_conformance(Server& server, const ConformanceOptions& options = {});

}  // namespace wirehub::app
