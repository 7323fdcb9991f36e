// The public hub handles (wirehub/hub.hpp) over the endpoint and connection states.

#include "hubhost/call_state.hpp"
#include "hubhost/hub_endpoint.hpp"

namespace wirehub {

void HubTarget::send(std::string_view method, Json arguments) const {
  if (hub) hub->send_to_target(*this, method, std::move(arguments));
}

namespace {
HubTarget make(Hub* hub, HubTarget::Kind kind, std::vector<std::string> names, std::vector<std::string> except = {}) {
  HubTarget t;
  t.kind = kind;
  t.names = std::move(names);
  t.except = std::move(except);
  t.hub = hub;
  return t;
}
}  // namespace

HubTarget HubClients::all() const { return make(hub_, HubTarget::Kind::All, {}); }
HubTarget HubClients::all_except(std::vector<std::string> ids) const {
  return make(hub_, HubTarget::Kind::All, {}, std::move(ids));
}
HubTarget HubClients::client(std::string id) const { return make(hub_, HubTarget::Kind::Connection, {std::move(id)}); }
HubTarget HubClients::clients(std::vector<std::string> ids) const {
  return make(hub_, HubTarget::Kind::Connections, std::move(ids));
}
HubTarget HubClients::group(std::string name) const { return make(hub_, HubTarget::Kind::Group, {std::move(name)}); }
HubTarget HubClients::group_except(std::string name, std::vector<std::string> ids) const {
  return make(hub_, HubTarget::Kind::Group, {std::move(name)}, std::move(ids));
}
HubTarget HubClients::user(std::string user) const { return make(hub_, HubTarget::Kind::User, {std::move(user)}); }

HubTarget HubCaller::caller() const {
  return make(&const_cast<HubCaller*>(this)->hub(), HubTarget::Kind::Connection, {connection_id()});
}
HubTarget HubCaller::others() const {
  return make(&const_cast<HubCaller*>(this)->hub(), HubTarget::Kind::All, {}, {connection_id()});
}
HubTarget HubCaller::others_in_group(std::string group) const {
  return make(&const_cast<HubCaller*>(this)->hub(), HubTarget::Kind::Group, {std::move(group)}, {connection_id()});
}


void HubReply::ok(Json result) const {
  if (!s_ || s_->answered.exchange(true)) return;
  s_->ref.run([serial = s_->serial, id = s_->invocation_id, r = std::move(result)](hubhost::Connection& c) mutable {
    c.complete_invocation(serial, id, std::move(r), true, {});
  });
}

void HubReply::fail(const std::exception& e) const {
  if (!s_ || s_->answered.exchange(true)) return;
  std::string error =
      hubhost::failure_text("An unexpected error occurred invoking '" + s_->target + "' on the server.", e, s_->detailed_errors);
  s_->ref.run([serial = s_->serial, id = s_->invocation_id, error](hubhost::Connection& c) {
    c.complete_invocation(serial, id, nullptr, false, error);
  });
}

bool HubStreamWriter::write(Json item) const {
  if (!s_ || s_->done.load() || s_->cancelled.load()) return false;
  s_->ref.run([id = s_->invocation_id, v = std::move(item)](hubhost::Connection& c) mutable {
    c.stream_item(id, std::move(v));
  });
  return true;
}

void HubStreamWriter::complete() const {
  if (!s_ || s_->done.exchange(true)) return;
  s_->ref.run([id = s_->invocation_id](hubhost::Connection& c) { c.stream_end(id, {}); });
}

void HubStreamWriter::fail(const std::exception& e) const {
  if (!s_ || s_->done.exchange(true)) return;
  std::string error = hubhost::failure_text("An error occurred on the server while streaming results.", e, s_->detailed_errors);
  s_->ref.run([id = s_->invocation_id, error](hubhost::Connection& c) { c.stream_end(id, error); });
}

bool HubStreamWriter::cancelled() const noexcept { return s_ && s_->cancelled.load(); }

void HubStreamWriter::on_cancel(std::function<void()> fn) const {
  if (!s_ || !fn) return;
  {
    std::lock_guard lock(s_->mu);
    if (!s_->cancelled.load()) {
      s_->on_cancel = std::move(fn);
      return;
    }
  }
  fn();
}

void HubUpload::on_item(std::function<void(Json)> fn) const {
  if (!s_) return;
  s_->on_item = std::move(fn);
  auto pending = std::move(s_->pending);
  s_->pending.clear();
  for (auto& v : pending) s_->on_item(std::move(v));
}

void HubUpload::on_end(std::function<void(std::optional<std::string>)> fn) const {
  if (!s_) return;
  s_->on_end = std::move(fn);
  if (s_->ended && s_->on_end) s_->on_end(s_->error);
}

}  // namespace wirehub
