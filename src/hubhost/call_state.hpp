#pragma once
// The states behind the public HubReply, HubStreamWriter and HubUpload handles. A reply
// or stream writer may be used from any thread: it posts to the connection's owner loop
// through a PostGate, which the endpoint closes when it is destroyed, so a handle kept
// past the server's life does nothing instead of touching a destroyed loop.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "loop/event_loop.hpp"
#include "wirehub/hub.hpp"

namespace wirehub::hubhost {

class Connection;

struct PostGate {
  std::mutex mu;
  bool open = true;  // guarded by mu
  // Runs fn on l: now when called on its thread, else posted (if the gate is open).
  void run_on(loop::EventLoop& l, std::function<void()> fn) {
    if (l.in_loop_thread()) {
      fn();
      return;
    }
    std::lock_guard lock(mu);
    if (open) l.post(std::move(fn));
  }
};

// "<base> <Type>: <message>" for a HubException always, for other exceptions with
// detailed errors only (Type: the demangled C++ type); else base alone.
std::string failure_text(std::string_view base, const std::exception& e, bool detailed);

// What every handle knows: where its connection lives.
struct ConnectionRef {
  std::weak_ptr<Connection> conn;
  std::shared_ptr<PostGate> gate;
  loop::EventLoop* loop = nullptr;
  // Runs fn with the connection on its loop, if it is still there.
  void run(std::function<void(Connection&)> fn) const;
};

}  // namespace wirehub::hubhost

namespace wirehub::hub_detail {

struct CallState {
  hubhost::ConnectionRef ref;
  std::uint64_t serial = 0;     // the connection's call this answers
  std::string invocation_id;    // "" for a send: nothing goes back, but the next call may start
  std::string target;           // the method name as the client wrote it (for error texts)
  bool detailed_errors = false;
  std::atomic<bool> answered{false};
  // Unanswered when the last handle goes: the client gets the generic error.
  ~CallState();
};

struct StreamState {
  hubhost::ConnectionRef ref;
  std::string invocation_id;
  std::string target;
  bool detailed_errors = false;
  std::atomic<bool> done{false};       // completed or failed by the method
  std::atomic<bool> cancelled{false};  // by the client, or the connection ended
  std::mutex mu;
  std::function<void()> on_cancel;  // guarded by mu
  // Dropped without complete() or fail(): the stream completes.
  ~StreamState();
  // Loop thread: the client cancelled (or left); runs on_cancel once.
  void cancel();
};

// Loop thread only.
struct UploadState {
  std::vector<Json> pending;  // items that came before on_item was set
  bool ended = false;
  std::optional<std::string> error;
  std::function<void(Json)> on_item;
  std::function<void(std::optional<std::string>)> on_end;
  void item(Json v);
  void end(std::optional<std::string> e);
};

}  // namespace wirehub::hub_detail
