// Connection: one SignalR connection on its owner loop — transport attachment, the
// handshake, framing, dispatch of hub messages to methods, streams, client results,
// liveness and the end.

#include <cxxabi.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <typeinfo>

#include "core/log.hpp"
#include "hub/framing.hpp"
#include "hubhost/hub_endpoint.hpp"
#include "hubhost/wire_arguments.hpp"

namespace wirehub::hubhost {

namespace {

std::string type_name_of(const std::exception& e) {
  int status = 0;
  char* name = abi::__cxa_demangle(typeid(e).name(), nullptr, nullptr, &status);
  std::string out = status == 0 && name ? name : typeid(e).name();
  std::free(name);
  return out;
}

bool trackable(hub::MessageType t) {
  return t == hub::MessageType::Invocation || t == hub::MessageType::StreamItem ||
         t == hub::MessageType::Completion || t == hub::MessageType::StreamInvocation ||
         t == hub::MessageType::CancelInvocation;
}

std::string in_quotes(std::string_view target) { return "'" + std::string(target) + "'"; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

std::string failure_text(std::string_view base, const std::exception& e, bool detailed) {
  std::string text(base);
  if (const auto* he = dynamic_cast<const HubException*>(&e)) {
    text += " " + he->type_name() + ": " + he->what();
  } else if (detailed) {
    text += " " + type_name_of(e) + ": " + e.what();
  }
  return text;
}

void ConnectionRef::run(std::function<void(Connection&)> fn) const {
  if (!loop) return;
  gate->run_on(*loop, [c = conn, f = std::move(fn)] {
    if (auto live = c.lock(); live && !live->is_disposed_here()) f(*live);
  });
}

Connection::Connection(Endpoint& ep, std::string id, std::string token, std::uint64_t now_ms)
    : created_ms(now_ms), ep_(ep), id_(std::move(id)), token_(std::move(token)) {}

Connection::~Connection() = default;

std::uint64_t Connection::now() const noexcept { return ep_.loop_at(static_cast<std::size_t>(owner)).now_ms(); }

ConnectionRef Connection::ref() {
  return {weak_from_this(), ep_.gate(), &ep_.loop_at(static_cast<std::size_t>(owner))};
}

Hub& Connection::hub() noexcept { return ep_; }

std::string_view Connection::transport() const noexcept {
  return kind == Transport{} ? std::string_view{} : hub::transport_name(kind);
}

std::optional<std::string> Connection::header(std::string_view name) const {
  for (const auto& [k, v] : request_.headers) {
    if (iequals(k, name)) return v;
  }
  return std::nullopt;
}

std::optional<std::string> Connection::query(std::string_view key) const { return http::query_param(request_.query, key); }

std::optional<std::string> Connection::cookie(std::string_view name) const {
  auto h = header("Cookie");
  if (!h) return std::nullopt;
  return hub::cookie_value(*h, name);
}

void Connection::set_principal(std::optional<Principal> p, std::string user) {
  principal_ = std::move(p);
  user_ = std::move(user);
}

void Connection::set_request(detail::RequestCopy request) { request_ = std::move(request); }

detail::RequestCopy detail::copy_request(const http::RequestHead& head) {
  RequestCopy r;
  for (const auto& h : head.headers) {
    // The token stays out of what hub code can read back.
    if (iequals(h.name, "Authorization")) continue;
    r.headers.emplace_back(std::string(h.name), std::string(h.value));
  }
  r.query = std::string(head.query);
  return r;
}

// --- transports ----------------------------------------------------------------------------

void Connection::attach_websocket(ConnectionId ws_id, WebSocket* ws) {
  if (handshaken_ && !stateful_) {
    // The client negotiated stateful reconnect but its handshake did not take it (version
    // 1): there is nothing to resume, the new socket is refused.
    if (ws) {
      ws->close(1008, "the connection cannot be resumed");
    } else {
      ep_.websockets().post_to(ws_id, [](WebSocket& w) { w.close(1008, "the connection cannot be resumed"); });
    }
    return;
  }
  // A stateful client that came back before its old socket was seen to drop: the old one
  // goes (its close is then ignored: the id no longer matches).
  if (ws_id_ && ws_id_ != ws_id) close_websocket();
  ws_id_ = ws_id;
  ws_ = ws;
  inactive_since_ms_ = 0;
  const bool resumed = handshaken_;
  if (!resumed) {
    attached_ms_ = last_in_ms_ = last_out_ms_ = now();
    ep_.adopt(*this);
    open_raw();
    return;
  }
  // Stateful reconnect: the same connection on a new socket. Our Sequence first, then
  // everything the client has not acknowledged, in order (PROTOCOL.md section 12).
  last_in_ms_ = last_out_ms_ = now();
  // The client's Sequence comes first; anything before it is not numbered.
  inbound_.expect_sequence();
  hub::Message seq;
  seq.type = hub::MessageType::Sequence;
  seq.sequence_id = replay_->first_unacked_id();
  std::string out;
  hub::append_message(out, protocol_, seq);
  replay_->for_each_unacked([&](const hub::ReplayBuffer::Message& m) { out.append(m.bytes()); });
  write_transport(out);
}

void Connection::attach_sse(SseStream& s) {
  sse_ = &s;
  attached_ms_ = last_in_ms_ = last_out_ms_ = now();
  ep_.adopt(*this);
  open_raw();
}

void Connection::open_raw() {
  if (!ep_.raw() || handshaken_) return;
  handshaken_ = true;  // no handshake: the connection is open for data at once
  ep_.connected(*this);
}

void Connection::RawView::send(std::string_view data) {
  if (c_.gone_ || c_.ending_) return;
  c_.ep_.count_out(c_, data.size());
  c_.write_transport(data);
}

void Connection::websocket_closed(ConnectionId ws_id, std::uint16_t code) {
  if (ws_id != ws_id_) return;  // an older socket, replaced already
  ws_id_ = 0;
  ws_ = nullptr;
  {
    std::lock_guard lock(ep_.mu_);
    socket_active = false;
  }
  if (gone_) return;
  // A socket lost without a close (1006) leaves a stateful connection waiting for the
  // client to come back with the same token; anything else ends it.
  if (stateful_ && code == 1006 && !ending_) {
    inactive_since_ms_ = now();
    return;
  }
  dispose({});
}

void Connection::sse_closed() {
  sse_ = nullptr;
  dispose({});
}

void Connection::poll(detail::PollRef ref, bool first) {
  if (first) {
    attached_ms_ = last_in_ms_ = last_out_ms_ = now();
    inactive_since_ms_ = attached_ms_;
    ep_.adopt(*this);
    open_raw();
    return;
  }
  if (held_poll_) ep_.answer_poll(std::exchange(held_poll_, {}), 204, {});  // superseded
  held_poll_ = ref;
  held_poll_.since_ms = now();
  inactive_since_ms_ = 0;
  flush_poll();
}

void Connection::flush_poll() {
  if (!held_poll_) return;
  if (!poll_out_.empty()) {
    ep_.answer_poll(std::exchange(held_poll_, {}), 200, std::exchange(poll_out_, {}));
    inactive_since_ms_ = now();
    return;
  }
  if (poll_ended_) {
    // Everything, the Close included, went out in earlier polls: the connection is over.
    ep_.answer_poll(std::exchange(held_poll_, {}), 204, {});
    dispose({});
  }
}

void Connection::delete_requested() {
  ending_ = true;
  if (held_poll_) ep_.answer_poll(std::exchange(held_poll_, {}), 204, {});
  dispose({});
}

void Connection::write_transport(std::string_view bytes) {
  last_out_ms_ = now();
  switch (kind) {
    case Transport::WebSockets:
      if (const bool binary = ep_.raw() ? raw_binary_ : protocol_ == hub::HubProtocol::MessagePack; ws_) {
        ws_->send(bytes, binary);
      } else if (ws_id_) {
        ep_.websockets().send_to(ws_id_, bytes, binary);
      }
      break;
    case Transport::ServerSentEvents:
      if (sse_) sse_->send({.data = bytes});
      break;
    case Transport::LongPolling:
      if (poll_out_.size() + bytes.size() > ep_.options().send_hard_limit) {
        log::warn("hub {}: connection {} polls too slowly; closing it", ep_.path(), id_);
        dispose("slow consumer");
        return;
      }
      poll_out_.append(bytes);
      flush_poll();
      break;
  }
}

bool Connection::keep_for_replay(std::string_view bytes, const BufferRef* buf, std::size_t off) {
  // Unacknowledged messages are kept for a replay, up to the buffer's limit; past it,
  // messages wait until the client's Acks make room (as ASP.NET's writer waits), and a
  // client that lets more than send_hard_limit wait is closed as a slow consumer.
  if (!held_back_.empty() || !(buf ? replay_->push(*buf, off, bytes.size()) : replay_->push(bytes))) {
    held_back_bytes_ += bytes.size();
    held_back_.emplace_back(bytes);
    if (held_back_bytes_ > ep_.options().send_hard_limit) {
      log::warn("hub {}: connection {} does not acknowledge; closing it", ep_.path(), id_);
      held_back_.clear();
      held_back_bytes_ = 0;
      close("Connection closed with an error.", false);
    }
    return false;
  }
  return ws_id_ != 0;  // dropped: the bytes wait in the replay buffer
}

void Connection::send_shared(detail::LoopSend& s) {
  if (gone_) return;
  const detail::SharedMessage::Form& f = s.message().form(protocol_);
  const std::string_view bytes = f.bytes();
  ep_.count_out(*this, bytes.size());
  if (stateful_ && !keep_for_replay(bytes, &f.frame, f.header_bytes)) return;
  // What write_transport does, with the frame or event shared by the loop's receivers.
  if (ws_ && !ep_.raw()) {
    last_out_ms_ = now();
    s.to_websocket(*ws_, protocol_);
  } else if (sse_) {
    last_out_ms_ = now();
    s.to_event_stream(*sse_);
  } else {
    write_transport(bytes);
  }
}

void Connection::send_framed(std::string_view bytes, bool track) {
  if (gone_) return;
  ep_.count_out(*this, bytes.size());
  if (stateful_ && track && !keep_for_replay(bytes)) return;
  write_transport(bytes);
}

void Connection::send_message(const hub::Message& m) {
  send_written([&m, this](std::string& out) { hub::append_message(out, protocol_, m); }, trackable(m.type));
}

template <class Write>
void Connection::send_written(Write&& write, bool track) {
  // The connection's scratch buffer, taken out while in use: a send nested in this one
  // (none is known) would start from an empty string instead of overwriting it.
  std::string out = std::move(scratch_out_);
  out.clear();
  write(out);
  send_framed(out, track);
  scratch_out_ = std::move(out);
}

void Connection::end_transport() {
  switch (kind) {
    case Transport::WebSockets:
      close_websocket();
      break;
    case Transport::ServerSentEvents:
      if (sse_) sse_->close();
      break;
    case Transport::LongPolling:
      poll_ended_ = true;
      flush_poll();
      break;
  }
}

void Connection::close_websocket() {
  if (ws_) {
    ws_->close(1000);
  } else if (ws_id_) {
    ep_.websockets().post_to(ws_id_, [](WebSocket& w) { w.close(1000); });
  }
}

void Connection::close(std::string_view error, bool allow_reconnect) {
  if (gone_ || ending_) return;
  if (handshaken_ && !ep_.raw()) {
    hub::Message m;
    m.type = hub::MessageType::Close;
    m.error = std::string(error);
    m.allow_reconnect = allow_reconnect;
    std::string out;
    hub::append_message(out, protocol_, m);
    write_transport(out);
  }
  ending_ = true;
  if (kind == Transport::LongPolling) {
    // The Close goes out with the next poll; the one after it gets 204.
    poll_ended_ = true;
    flush_poll();
    if (poll_out_.empty() && !held_poll_) inactive_since_ms_ = now();
    return;
  }
  end_transport();
  // WebSockets and event streams end when their socket reports it; then dispose() runs.
  if ((kind == Transport::WebSockets && !ws_id_) || (kind == Transport::ServerSentEvents && !sse_)) dispose(error);
}

void Connection::dispose(std::string_view error) {
  if (gone_) return;
  gone_ = true;
  ending_ = true;
  auto self = shared_from_this();  // disconnected() drops the loop's reference
  for (auto& [id, weak] : streams_) {
    if (auto s = weak.lock()) s->cancel();
  }
  streams_.clear();
  for (auto& [id, up] : uploads_) up->end(std::string("The connection closed."));
  uploads_.clear();
  auto results = std::move(results_);
  results_.clear();
  for (auto& [id, r] : results) {
    if (r.done) r.done({false, nullptr, "Connection '" + id_ + "' disconnected."});
  }
  close_websocket();
  ws_id_ = 0;
  ws_ = nullptr;
  if (sse_) {
    sse_->user_data = nullptr;
    sse_->close();
    sse_ = nullptr;
  }
  if (held_poll_) ep_.answer_poll(std::exchange(held_poll_, {}), 204, {});
  ep_.disconnected(*this, error);
}

bool Connection::tick(std::uint64_t now_ms) {
  if (gone_) return false;
  const HubOptions& o = ep_.options();
  auto since = [now_ms](std::uint64_t t) { return now_ms - std::min(now_ms, t); };
  if (kind == Transport::LongPolling) {
    if (held_poll_ && since(held_poll_.since_ms) >= o.long_poll_timeout_ms) {
      ep_.answer_poll(std::exchange(held_poll_, {}), 200, {});
      inactive_since_ms_ = now_ms;
    }
    if (!held_poll_ && inactive_since_ms_ && since(inactive_since_ms_) >= o.disconnect_timeout_ms) {
      dispose({});
      return false;
    }
  } else if (inactive_since_ms_) {
    // A stateful connection whose socket dropped: the client did not come back in time.
    if (since(inactive_since_ms_) >= o.disconnect_timeout_ms) {
      dispose({});
      return false;
    }
    return true;
  }
  if (ep_.raw()) return true;  // no hub protocol: no handshake, pings or client timeout
  if (!handshaken_) {
    if (since(attached_ms_) >= o.handshake_timeout_ms) {
      log::debug("hub {}: connection {} sent no handshake in time", ep_.path(), id_);
      // As ASP.NET does, the client hears why before the transport ends.
      write_transport(hub::handshake_response("Handshake was canceled."));
      ending_ = true;
      end_transport();
      dispose("Handshake was canceled.");
      return false;
    }
    return true;
  }
  for (auto it = results_.begin(); it != results_.end();) {
    if (it->second.deadline_ms <= now_ms) {
      auto done = std::move(it->second.done);
      it = results_.erase(it);
      if (done) done({false, nullptr, "The client did not answer in time."});
    } else {
      ++it;
    }
  }
  if (gone_) return false;
  if (stateful_ && inbound_.ack_due() && ws_id_) {
    hub::Message ack;
    ack.type = hub::MessageType::Ack;
    ack.sequence_id = inbound_.ack_id();
    inbound_.ack_sent();
    send_message(ack);
  }
  if (kind != Transport::LongPolling && !ending_) {
    if (since(last_in_ms_) >= o.client_timeout_ms) {
      log::debug("hub {}: connection {} timed out", ep_.path(), id_);
      dispose("Server timeout elapsed without receiving a message from the client.");
      return false;
    }
    if (since(last_out_ms_) >= o.keep_alive_ms) {
      hub::Message ping;
      ping.type = hub::MessageType::Ping;
      send_message(ping);
    }
  }
  return !gone_;
}

// --- inbound -------------------------------------------------------------------------------

void Connection::on_data(std::string_view bytes, bool binary) {
  if (gone_ || ending_) return;
  last_in_ms_ = now();
  if (const RawConnectionHandlers* raw = ep_.raw()) {
    ep_.count_in(*this, bytes.size());
    raw_binary_ = binary;
    if (raw->on_data) raw->on_data(raw_, bytes);
    return;
  }
  if (!handshaken_) {
    in_.append(bytes);
    if (!awaiting_user_) handle_handshake();
    return;
  }
  if (in_.empty()) {
    process(bytes);
  } else {
    std::string buffered = std::move(in_);
    in_.clear();
    buffered.append(bytes);
    process(buffered);
  }
}

void Connection::handle_handshake() {
  const std::size_t rs = in_.find(hub::kRecordSeparator);
  const std::size_t limit = ep_.options().max_message_bytes;
  if (rs == std::string::npos) {
    if (in_.size() > limit) {
      write_transport(hub::handshake_response("Handshake was canceled."));
      ending_ = true;
      end_transport();
      dispose("Handshake was canceled.");
    }
    return;
  }
  auto verdict = hub::parse_handshake(std::string_view(in_).substr(0, rs), kind != Transport::ServerSentEvents);
  if (auto* error = std::get_if<std::string>(&verdict)) {
    ep_.count_protocol_error(*this);
    // The client shows it as "Server returned handshake error: <text>".
    write_transport(hub::handshake_response(*error));
    ending_ = true;
    end_transport();
    if (kind == Transport::LongPolling) return;  // the next poll takes the answer, then 204
    if (kind == Transport::ServerSentEvents || !ws_id_) dispose(*error);
    return;
  }
  const auto& req = std::get<hub::HandshakeRequest>(verdict);
  protocol_ = req.protocol;
  bool offered;
  {
    std::lock_guard lock(ep_.mu_);
    offered = stateful_offered;
  }
  if (req.version >= 2 && offered && kind == Transport::WebSockets) {
    stateful_ = true;
    replay_.emplace(ep_.options().stateful_reconnect_buffer_bytes);
  }
  in_.erase(0, rs + 1);  // what followed the handshake waits in in_
  // With several nodes, a user's connection is answered once sends to its user from any
  // node reach it (as one node's are at once).
  // (ready may run at once, inside list_user.)
  awaiting_user_ = true;
  if (!ep_.list_user(*this, [this] { complete_handshake(); })) complete_handshake();
}

void Connection::complete_handshake() {
  awaiting_user_ = false;
  if (gone_ || ending_) return;
  handshaken_ = true;
  write_transport(hub::handshake_response());
  std::string rest = std::move(in_);
  in_.clear();
  ep_.connected(*this);
  if (!rest.empty() && !gone_ && !ending_) process(rest);
}

void Connection::process(std::string_view bytes) {
  const std::size_t limit = ep_.options().max_message_bytes;
  pieces_.clear();
  const hub::FramingError err = protocol_ == hub::HubProtocol::Json
                                    ? hub::split_json(bytes, limit, pieces_)
                                    : hub::split_messagepack(bytes, limit, pieces_);
  std::size_t used = 0;
  if (!pieces_.empty()) {
    const std::string_view& last = pieces_.back();
    used = static_cast<std::size_t>(last.data() + last.size() - bytes.data()) +
           (protocol_ == hub::HubProtocol::Json ? 1 : 0);
  }
  auto too_large = [limit] { return "The maximum message size of " + std::to_string(limit) + "B was exceeded."; };
  std::string failure;  // what ends the connection once the good messages before it are handled
  if (err == hub::FramingError::TooLarge || err == hub::FramingError::BadLength) {
    failure = err == hub::FramingError::TooLarge ? too_large() : std::string(hub::describe(err));
  } else if (err == hub::FramingError::Incomplete) {
    const std::string_view tail = bytes.substr(used);
    if (tail.size() > limit + 5) {
      failure = too_large();
    } else {
      in_.assign(tail);  // the rest of the message comes with the next data
    }
  }
  // The views point into bytes, which stay valid while the messages are dispatched. The
  // scratch list and message are taken out while in use (a nested process() — none is
  // known — would start with empty ones) and put back after, keeping their capacity.
  std::vector<std::string_view> messages = std::move(pieces_);
  hub::Message m = std::move(scratch_message_);
  std::string error;
  for (std::string_view piece : messages) {
    if (gone_ || ending_) break;
    const auto status = hub::parse_message(protocol_, piece, m, error);
    if (status == hub::ParseResult::Status::Error) {
      failure = std::move(error);
      break;
    }
    if (status == hub::ParseResult::Status::Ok) dispatch(m, piece.size());
  }
  messages.clear();
  pieces_ = std::move(messages);
  scratch_message_ = std::move(m);
  if (!failure.empty() && !gone_ && !ending_) fail_protocol(failure);
}

void Connection::fail_protocol(std::string_view why) {
  ep_.count_protocol_error(*this);
  log::debug("hub {}: connection {} sent bad data: {}", ep_.path(), id_, why);
  std::string error = "Connection closed with an error.";
  if (ep_.options().detailed_errors) error += " InvalidDataException: " + std::string(why);
  close(error, false);
}

void Connection::dispatch(hub::Message& m, std::size_t bytes) {
  ep_.count_in(*this, bytes);
  if (stateful_ && trackable(m.type) && !inbound_.on_trackable()) return;  // a replayed duplicate
  switch (m.type) {
    case hub::MessageType::Invocation:
    case hub::MessageType::StreamInvocation:
      if (call_running_) {
        waiting_.push_back(std::move(m));
      } else {
        invoke(m, m.type == hub::MessageType::StreamInvocation);
        run_next_invocation();
      }
      break;
    case hub::MessageType::StreamItem: {
      auto it = uploads_.find(m.invocation_id);
      if (it != uploads_.end()) it->second->item(std::move(m.item));
      break;
    }
    case hub::MessageType::Completion: {
      if (auto r = results_.find(m.invocation_id); r != results_.end()) {
        auto done = std::move(r->second.done);
        results_.erase(r);
        HubClientResult res;
        res.ok = m.completion != hub::CompletionKind::Error;
        if (res.ok) {
          res.value = std::move(m.result);
        } else {
          res.error = std::move(m.error);
        }
        if (done) done(std::move(res));
      } else if (auto u = uploads_.find(m.invocation_id); u != uploads_.end()) {
        auto up = u->second;
        uploads_.erase(u);
        up->end(m.completion == hub::CompletionKind::Error ? std::optional<std::string>(m.error) : std::nullopt);
      }
      // A Completion for an id we do not know (answered already, never asked) is ignored.
      break;
    }
    case hub::MessageType::CancelInvocation: {
      auto it = streams_.find(m.invocation_id);
      if (it == streams_.end()) break;
      auto s = it->second.lock();
      streams_.erase(it);
      if (s) s->cancel();
      hub::Message done;
      done.type = hub::MessageType::Completion;
      done.invocation_id = m.invocation_id;
      send_message(done);
      break;
    }
    case hub::MessageType::Ping:
      break;
    case hub::MessageType::Close:
      // The client is done: a graceful end, nothing more is sent.
      ending_ = true;
      end_transport();
      if (kind != Transport::LongPolling) dispose({});
      break;
    case hub::MessageType::Ack:
      if (!stateful_) break;
      if (!replay_->ack(m.sequence_id)) {
        fail_protocol("Ack for a message never sent.");
        break;
      }
      // Room again: what waited goes out, in order.
      while (!held_back_.empty() && replay_->push(held_back_.front())) {
        held_back_bytes_ -= held_back_.front().size();
        if (ws_id_) write_transport(held_back_.front());
        held_back_.pop_front();
      }
      break;
    case hub::MessageType::Sequence:
      if (stateful_ && !inbound_.on_sequence(m.sequence_id))
        fail_protocol("Sequence ID greater than amount of messages we've received.");
      break;
  }
}

void Connection::send_completion_error(const std::string& invocation_id, std::string text) {
  if (invocation_id.empty()) return;  // a send gets no answer, not even an error
  hub::Message c;
  c.type = hub::MessageType::Completion;
  c.invocation_id = invocation_id;
  c.completion = hub::CompletionKind::Error;
  c.error = std::move(text);
  send_message(c);
}

void Connection::invoke(hub::Message& m, bool streaming) {
  ep_.count_invocation(*this);
  const std::string& target = m.target;
  const bool detailed = ep_.options().detailed_errors;
  const Endpoint::Method* method = ep_.find_method(target);
  if (!method) {
    send_completion_error(m.invocation_id, "Failed to invoke " + in_quotes(target) +
                                               " due to an error on the server. HubException: Method does not exist.");
    return;
  }
  const hub_detail::MethodInfo& info = method->info;
  if (info.streaming && !streaming) {
    send_completion_error(m.invocation_id, "The client attempted to invoke the streaming " + in_quotes(target) +
                                               " method with a non-streaming invocation.");
    return;
  }
  if (!info.streaming && streaming) {
    send_completion_error(m.invocation_id, "The client attempted to invoke the non-streaming " + in_quotes(target) +
                                               " method with a streaming invocation.");
    return;
  }
  if (m.stream_ids.size() != info.uploads) {
    send_completion_error(m.invocation_id,
                          "An unexpected error occurred invoking " + in_quotes(target) +
                              " on the server. HubException: Client sent " + std::to_string(m.stream_ids.size()) +
                              " stream(s), Hub method expects " + std::to_string(info.uploads) + ".");
    return;
  }
  if (m.arguments.size() != info.arguments) {
    std::string text = "Failed to invoke " + in_quotes(target) + " due to an error on the server.";
    if (detailed)
      text += " InvalidDataException: Invocation provides " + std::to_string(m.arguments.size()) +
              " argument(s) but target expects " + std::to_string(info.arguments) + ".";
    send_completion_error(m.invocation_id, std::move(text));
    return;
  }

  std::vector<HubUpload> uploads;
  std::vector<std::string> upload_ids;
  for (const std::string& sid : m.stream_ids) {
    auto state = std::make_shared<hub_detail::UploadState>();
    uploads_[sid] = state;
    uploads.emplace_back(state);
    upload_ids.push_back(sid);
  }
  std::shared_ptr<hub_detail::CallState> call_state;  // only a HubReply needs one
  std::shared_ptr<hub_detail::StreamState> stream_state;
  const std::uint64_t serial = ++call_serial_;
  if (streaming) {
    stream_state = std::make_shared<hub_detail::StreamState>();
    stream_state->ref = ref();
    stream_state->invocation_id = m.invocation_id;
    stream_state->target = target;
    stream_state->detailed_errors = detailed;
    streams_[m.invocation_id] = stream_state;
  } else {
    if (info.async) {
      call_state = std::make_shared<hub_detail::CallState>();
      call_state->ref = ref();
      call_state->serial = serial;
      call_state->invocation_id = m.invocation_id;
      call_state->target = target;
      call_state->detailed_errors = detailed;
    }
    call_running_ = true;
    call_uploads_ = upload_ids;
  }
  const WireArguments arguments(m.arguments);
  hub_detail::Call call{*this, arguments, uploads, call_state, stream_state};
  std::string error;
  try {
    info.run(call);
  } catch (const hub_detail::ArgumentError&) {
    error = "Failed to invoke " + in_quotes(target) + " due to an error on the server.";
    if (detailed)
      error +=
          " InvalidDataException: Error binding arguments. Make sure that the types of the provided values match the "
          "types of the hub method being invoked.";
  } catch (const HubException& e) {
    error = failure_text("An unexpected error occurred invoking " + in_quotes(target) + " on the server.", e, detailed);
  } catch (const std::exception& e) {
    error = failure_text("An unexpected error occurred invoking " + in_quotes(target) + " on the server.", e, detailed);
  }
  if (gone_) return;
  if (streaming) {
    if (!error.empty()) {
      // Failed before streaming anything: the stream ends with the error, items none.
      stream_state->done = true;
      streams_.erase(m.invocation_id);
      for (const auto& sid : upload_ids) uploads_.erase(sid);
      send_completion_error(m.invocation_id, error);
    }
    return;
  }
  if (error.empty() && info.returns_value && call.result.is_string) {
    // The common answer, a string, is written without building a Json value.
    if (end_call(serial) && !m.invocation_id.empty() && !gone_) {
      send_written(
          [&](std::string& out) {
            hub::append_string_completion(out, protocol_, m.invocation_id, call.result.string);
          },
          true);
    }
  } else if (!error.empty() || !info.async) {
    if (call_state) call_state->answered = true;
    complete_invocation(serial, m.invocation_id, std::move(call.result.value), info.returns_value,
                        std::move(error));
  }
}

bool Connection::end_call(std::uint64_t serial) {
  if (serial != call_serial_ || !call_running_) return false;
  call_running_ = false;
  // The method is over: its upload streams are closed, late items are ignored.
  for (const auto& sid : call_uploads_) uploads_.erase(sid);
  call_uploads_.clear();
  return true;
}

void Connection::complete_invocation(std::uint64_t serial, const std::string& invocation_id, Json result,
                                     bool has_result, std::string error) {
  if (!end_call(serial)) return;
  if (!invocation_id.empty() && !gone_) {
    hub::Message c;
    c.type = hub::MessageType::Completion;
    c.invocation_id = invocation_id;
    if (!error.empty()) {
      c.completion = hub::CompletionKind::Error;
      c.error = std::move(error);
    } else if (has_result) {
      c.completion = hub::CompletionKind::Result;
      c.result = std::move(result);
    }
    send_message(c);
  }
}

void Connection::run_next_invocation() {
  while (!call_running_ && !waiting_.empty() && !gone_ && !ending_) {
    hub::Message m = std::move(waiting_.front());
    waiting_.erase(waiting_.begin());
    invoke(m, m.type == hub::MessageType::StreamInvocation);
  }
}

void Connection::stream_item(const std::string& invocation_id, Json item) {
  if (!streams_.count(invocation_id)) return;
  hub::Message m;
  m.type = hub::MessageType::StreamItem;
  m.invocation_id = invocation_id;
  m.item = std::move(item);
  send_message(m);
}

void Connection::stream_end(const std::string& invocation_id, std::string error) {
  auto it = streams_.find(invocation_id);
  if (it == streams_.end()) return;
  streams_.erase(it);
  hub::Message m;
  m.type = hub::MessageType::Completion;
  m.invocation_id = invocation_id;
  if (!error.empty()) {
    m.completion = hub::CompletionKind::Error;
    m.error = std::move(error);
  }
  send_message(m);
}

void Connection::await_client_result(std::string method, Json arguments, std::function<void(HubClientResult)> done,
                                     std::uint32_t timeout_ms) {
  if (!open_for_sends()) {
    if (done) done({false, nullptr, "Connection '" + id_ + "' is not connected."});
    return;
  }
  // Our ids are only unique among our own invocations; the client's share nothing with
  // them (PROTOCOL.md 9.1).
  std::string id = std::to_string(next_result_id_++);
  hub::Message m;
  m.type = hub::MessageType::Invocation;
  m.invocation_id = id;
  m.target = std::move(method);
  m.arguments = arguments.is_array() ? std::move(arguments) : Json::array({std::move(arguments)});
  results_[id] = {std::move(done), now() + (timeout_ms ? timeout_ms : 24ull * 3600 * 1000)};
  send_message(m);
}

// --- the public handles' states ------------------------------------------------------------

}  // namespace wirehub::hubhost

namespace wirehub::hub_detail {

CallState::~CallState() {
  if (answered.load()) return;
  // Dropped unanswered: the client hears of a failure and the next call may run.
  std::string error = "An unexpected error occurred invoking '" + target + "' on the server.";
  ref.run([serial = serial, id = invocation_id, error](hubhost::Connection& c) {
    c.complete_invocation(serial, id, nullptr, false, error);
  });
}

StreamState::~StreamState() {
  if (done.exchange(true) || cancelled.load()) return;
  ref.run([id = invocation_id](hubhost::Connection& c) { c.stream_end(id, {}); });
}

void StreamState::cancel() {
  cancelled = true;
  std::function<void()> fn;
  {
    std::lock_guard lock(mu);
    fn = std::move(on_cancel);
    on_cancel = nullptr;
  }
  if (fn) fn();
}

void UploadState::item(Json v) {
  if (ended) return;
  if (on_item) {
    on_item(std::move(v));
  } else {
    pending.push_back(std::move(v));
  }
}

void UploadState::end(std::optional<std::string> e) {
  if (ended) return;
  ended = true;
  error = std::move(e);
  if (on_end) on_end(error);
}

}  // namespace wirehub::hub_detail
