#pragma once
// The OrderFlow dashboard's routes: GET / (index.html) and GET /assets/<file>, served
// from the files compiled into the binary (web_assets.hpp).

namespace wirehub {
class Server;
}

namespace wirehub::app {

// Mounts GET / and GET /assets/* (HEAD too: the HTTP layer answers it from the GET route).
// Every answer carries ETag, Cache-Control: no-cache (revalidate, then 304 on a matching
// If-None-Match), X-Content-Type-Options: nosniff and a Content-Security-Policy that
// allows only the page's own files and connections back to its origin (no inline script
// or style). An unknown asset is 404.
void mount_dashboard(Server& server);

}  // namespace wirehub::app
