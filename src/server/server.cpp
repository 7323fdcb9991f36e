#include "wirehub/server.hpp"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "core/log.hpp"
#include "http/http_connection.hpp"
#include "loop/event_loop.hpp"
#include "loop/lag_probe.hpp"
#include "net/address.hpp"
#include "net/listener.hpp"
#include "net/tls_context.hpp"
#include "server/server_metrics.hpp"
#include "ws/ws_endpoint.hpp"

namespace wirehub {

std::optional<std::string_view> HttpRequest::header(std::string_view name) const {
  return static_cast<const http::RequestHead*>(impl_)->header(name);
}

std::optional<std::string> HttpRequest::query_param(std::string_view key) const {
  return http::query_param(query, key);
}

std::optional<std::string_view> HttpRequest::param(std::string_view name) const {
  if (!params_) return std::nullopt;
  return static_cast<const http::RouteParams*>(params_)->get(name);
}

namespace {

// Watches one loop during shutdown: stops it once its last connection is gone, or
// drops what is left at the deadline.
class ShutdownWatch final : public loop::Timer {
 public:
  ShutdownWatch(loop::EventLoop& loop, std::uint64_t deadline_ms) : loop_(loop), deadline_ms_(deadline_ms) {}
  void check() {
    if (net::Connection::count_on_this_thread() == 0) {
      loop_.stop();
      return;
    }
    if (loop_.now_ms() >= deadline_ms_) {
      if (!forced_) {
        forced_ = true;
        log::warn("shutdown deadline passed; dropping {} connection(s)", net::Connection::count_on_this_thread());
        net::Connection::for_each_on_this_thread([](net::Connection& c) { c.close_now(); });
      }
    }
    loop_.timers().arm(*this, loop_.now_ms(), 10);
  }

 private:
  void on_timer() override { check(); }
  loop::EventLoop& loop_;
  std::uint64_t deadline_ms_;
  bool forced_ = false;
};

}  // namespace

struct Server::Impl {
  ServerOptions options;
  http::HttpOptions http_options;
  std::vector<std::unique_ptr<loop::EventLoop>> loops;
  std::vector<std::unique_ptr<loop::LagProbe>> lag_probes;  // one per loop, for metrics
  std::vector<std::unique_ptr<http::HttpStats>> http_stats;  // one per loop
  std::vector<std::vector<std::unique_ptr<net::Listener>>> listeners;  // [loop][listener]
  std::unique_ptr<net::TlsContext> tls;  // of the TLS listeners (null: none)
  std::vector<std::unique_ptr<ShutdownWatch>> watches;
  std::vector<std::thread> threads;
  http::Router<http::Route> routes;
  std::vector<std::unique_ptr<ws::Endpoint>> endpoints;
  net::ListenerStats accept_stats;
  std::vector<ListenerOptions> bound;  // every listener, as bound (port filled in)
  std::vector<std::uint16_t> ports;    // of bound
  bool started = false;
  std::mutex shutdown_mu;
  bool shut_down = false;

  std::vector<loop::EventLoop*> loop_ptrs() const {
    std::vector<loop::EventLoop*> v;
    for (const auto& l : loops) v.push_back(l.get());
    return v;
  }
};

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.options = std::move(options);
  unsigned n = s.options.threads ? s.options.threads : std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < n; ++i) {
    s.loops.push_back(std::make_unique<loop::EventLoop>());
    s.loops.back()->set_index(i);
    s.http_stats.push_back(std::make_unique<http::HttpStats>());
    s.lag_probes.push_back(std::make_unique<loop::LagProbe>(*s.loops.back()));
  }
  s.http_options.limits.max_head_bytes = s.options.max_head_bytes;
  s.http_options.limits.max_headers = s.options.max_headers;
  s.http_options.limits.max_body_bytes = s.options.max_body_bytes;
  s.http_options.header_timeout_ms = s.options.header_timeout_ms;
  s.http_options.keep_alive_timeout_ms = s.options.keep_alive_timeout_ms;
}

Server::~Server() { shutdown(); }

unsigned Server::thread_count() const noexcept { return static_cast<unsigned>(impl_->loops.size()); }

WebSocketEndpoint& Server::websocket(std::string path, WebSocketHandlers handlers, WebSocketOptions options) {
  Impl& s = *impl_;
  if (s.started) throw std::logic_error("wirehub::Server::websocket() after start()");
  auto ep = std::make_unique<ws::Endpoint>(path, std::move(handlers), std::move(options), s.loop_ptrs());
  ws::Endpoint* raw = ep.get();
  s.endpoints.push_back(std::move(ep));
  http::Route r;
  r.upgrade = [raw](http::HttpConnection& c, const http::RequestHead& h, char* rest, std::size_t n) {
    raw->upgrade(c, h, rest, n);
  };
  s.routes.add(http::Method::Get, path, std::move(r));
  return *raw;
}

void Server::route(std::string_view method, std::string path, HttpHandler handler) {
  Impl& s = *impl_;
  if (s.started) throw std::logic_error("wirehub::Server::route() after start()");
  http::Method m = http::method_from_text(method);
  if (m == http::Method::Other) throw std::invalid_argument("unsupported method: " + std::string(method));
  http::Route r;
  r.max_body_bytes = s.options.max_body_bytes;
  r.handler = [h = std::move(handler)](http::HttpConnection& c, const http::RequestHead& head,
                                        std::string_view body) {
    HttpRequest req;
    req.method = head.method_text;
    req.path = head.path;
    req.query = head.query;
    req.body = body;
    req.impl_ = &head;
    req.params_ = &c.params();  // matched once, by the connection
    HttpResponse res;
    try {
      h(req, res);
    } catch (const std::exception& e) {
      log::error("handler for {} failed: {}", head.path, e.what());
      res = HttpResponse{};
      res.status = 500;
      res.body = "internal server error\n";
    }
    std::vector<http::Header> extra;
    extra.reserve(res.headers.size());
    for (const auto& [k, v] : res.headers) extra.push_back({k, v});
    c.respond(res.status, res.content_type, res.body, extra);
  };
  s.routes.add(m, path, std::move(r));
}

void Server::start() {
  Impl& s = *impl_;
  if (s.started) return;
  std::vector<ListenerOptions> wanted;
  if (!s.options.listen.empty()) wanted.push_back({s.options.listen, false});
  wanted.insert(wanted.end(), s.options.extra_listeners.begin(), s.options.extra_listeners.end());
  if (wanted.empty()) throw std::invalid_argument("no address to listen on");
  // Every address is checked, and the certificates loaded, before anything is bound.
  std::vector<net::Address> addrs;
  for (const ListenerOptions& lo : wanted) {
    std::string err;
    auto addr = net::parse_address(lo.listen, &err);
    if (!addr) throw std::invalid_argument(err);  // a bad value, not a failure to bind
    addrs.push_back(std::move(*addr));
  }
  const bool any_tls = std::any_of(wanted.begin(), wanted.end(), [](const ListenerOptions& lo) { return lo.tls; });
  if (any_tls) {
    if (s.options.tls.cert_file.empty() || s.options.tls.key_file.empty())
      throw std::invalid_argument("a TLS listener needs a certificate and its key (tls.cert_file, tls.key_file)");
    std::vector<net::TlsCertificate> extra;
    for (const TlsCertificate& c : s.options.tls.sni) extra.push_back({c.cert_file, c.key_file});
    s.tls = net::TlsContext::server({s.options.tls.cert_file, s.options.tls.key_file}, extra);
  }

  s.listeners.resize(s.loops.size());
  for (std::size_t k = 0; k < addrs.size(); ++k) {
    net::Address& addr = addrs[k];
    const net::TlsContext* tls = wanted[k].tls ? s.tls.get() : nullptr;
    for (std::size_t i = 0; i < s.loops.size(); ++i) {
      int fd = net::listen_socket(addr);
      if (i == 0 && addr.port == 0) {
        // Every loop's listener must share the port the kernel picked for the first.
        addr.port = net::local_port(fd);
        if (addr.storage.ss_family == AF_INET)
          reinterpret_cast<sockaddr_in*>(&addr.storage)->sin_port = htons(addr.port);
        else
          reinterpret_cast<sockaddr_in6*>(&addr.storage)->sin6_port = htons(addr.port);
      }
      loop::EventLoop* l = s.loops[i].get();
      http::HttpStats* stats = s.http_stats[i].get();
      Impl* impl = &s;
      s.listeners[i].push_back(std::make_unique<net::Listener>(
          *l, fd,
          [l, impl, stats, tls](int cfd) {
            auto* c = new http::HttpConnection(*l, cfd, impl->routes, impl->http_options, *stats);
            if (tls) c->start_tls(*tls);
          },
          s.accept_stats));
    }
    s.bound.push_back({addr.host + ":" + std::to_string(addr.port), wanted[k].tls});
    s.ports.push_back(addr.port);
  }
  s.started = true;
  // Loop threads inherit the signal mask: block SIGINT/SIGTERM while creating them so
  // they never take those signals, then give the caller its own mask back.
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, &old);
  for (auto& l : s.loops) {
    s.threads.emplace_back([loop = l.get()] {
      loop->run();
      // Whatever is still open when the loop stops is closed here, on its own thread.
      net::Connection::for_each_on_this_thread([](net::Connection& c) { delete &c; });
    });
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  // Until a loop runs, no thread is its loop thread, and calls that route by thread
  // (broadcast, send_to) would post to it; returning only once all run keeps the
  // documented "after start()" behaviour exact.
  for (auto& l : s.loops) {
    while (!l->running()) std::this_thread::yield();
  }
  for (std::size_t i = 0; i < s.loops.size(); ++i) s.loops[i]->post([p = s.lag_probes[i].get()] { p->start(); });
  for (const ListenerOptions& b : s.bound) {
    log::info("listening on {} ({}) with {} loop(s)", b.listen, b.tls ? "TLS" : "plain", s.loops.size());
  }
}

std::uint16_t Server::port() const noexcept {
  for (std::size_t k = 0; k < impl_->bound.size(); ++k) {
    if (!impl_->bound[k].tls) return impl_->ports[k];
  }
  return 0;
}

std::uint16_t Server::tls_port() const noexcept {
  for (std::size_t k = 0; k < impl_->bound.size(); ++k) {
    if (impl_->bound[k].tls) return impl_->ports[k];
  }
  return 0;
}

std::vector<std::uint16_t> Server::ports() const { return impl_->ports; }

void Server::shutdown() {
  Impl& s = *impl_;
  {
    std::lock_guard lock(s.shutdown_mu);
    if (s.shut_down || !s.started) {
      s.shut_down = true;
      return;
    }
    s.shut_down = true;
  }
  std::uint64_t deadline = loop::EventLoop::clock_ms() + s.options.shutdown_timeout_ms;
  for (std::size_t i = 0; i < s.loops.size(); ++i) {
    s.watches.push_back(std::make_unique<ShutdownWatch>(*s.loops[i], deadline));
  }
  for (std::size_t i = 0; i < s.loops.size(); ++i) {
    loop::EventLoop* l = s.loops[i].get();
    l->post([&s, i] {
      for (auto& listener : s.listeners[i]) listener->close();
      for (auto& ep : s.endpoints) ep->close_all_on_this_loop(1001, "server shutting down");
      // Plain HTTP connections: finish what is queued, then close.
      net::Connection::for_each_on_this_thread([&s](net::Connection& c) {
        if (auto* h = dynamic_cast<http::HttpConnection*>(&c)) h->close_after_flush(s.http_options.linger_ms);
      });
      s.watches[i]->check();
    });
  }
  for (auto& t : s.threads) t.join();
  s.threads.clear();
  s.listeners.clear();
  log::info("shut down");
}

void Server::run_until_signal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  // Blocked before start() (when it has not run yet), so a signal that arrives as soon as
  // the listeners accept is waited for here instead of killing the process.
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  start();
  int sig = 0;
  sigwait(&set, &sig);
  log::info("received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
  shutdown();
}

std::string Server::metrics_text() const {
  server_metrics::MetricsSources src;
  src.server = stats();
  src.loops = impl_->loops.size();
  for (const auto& p : impl_->lag_probes) src.lag.push_back(p.get());
  for (const auto& ep : impl_->endpoints) {
    src.websockets.push_back(ep.get());
    src.endpoints.push_back(server_metrics::websocket_metrics(*ep));
  }
  std::string text;
  MetricsWriter w(text);
  server_metrics::write_metrics(w, src);
  return text;
}

ServerStats Server::stats() const {
  ServerStats st;
  st.accepted = impl_->accept_stats.accepted.load(std::memory_order_relaxed);
  st.accept_fd_exhausted = impl_->accept_stats.fd_exhausted.load(std::memory_order_relaxed);
  for (const auto& h : impl_->http_stats) {
    st.http_requests += h->requests.get();
    st.http_parse_errors += h->parse_errors.get();
    st.http_timeouts += h->timeouts.get();
  }
  return st;
}

}  // namespace wirehub
