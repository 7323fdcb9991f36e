// wirehub-bench --hub against a small blocking hub server in this process: the ws layer's
// sans-I/O codec for the frames and the project's hub codec (src/hub, not the bench's
// hand-written one) for the messages, so the bench's client side is tested against an
// independent reading of the protocol: handshake, Echo and its Completion, Join, Publish
// and the receive deliveries, and the errors a wrong hub must cause.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "hub/framing.hpp"
#include "hub/handshake.hpp"
#include "hub/messages.hpp"
#include "modes.hpp"
#include "options.hpp"
#include "ws/handshake.hpp"
#include "ws/protocol.hpp"

namespace wirehub::bench {
namespace {

class FakeHub {
 public:
  enum class Behavior {
    Correct,          // answers as /hubs/bench does, with a Ping right after the handshake
    RefuseHandshake,  // {"error": ...} instead of {}
    AlterEchoResult,  // Echo returns its argument with the last byte changed
    SkipADelivery,    // the third Publish reaches every subscriber but one
  };

  explicit FakeHub(Behavior b) : behavior_(b) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(listen_fd_, 128), 0);
    socklen_t len = sizeof a;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~FakeHub() {
    ::shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    ::close(listen_fd_);
    for (auto& t : conns_) t.join();
  }

  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_) + "/hubs/bench"; }
  int invocations() const { return invocations_.load(); }

 private:
  void accept_loop() {
    for (;;) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      conns_.emplace_back([this, fd] { serve(fd); });
    }
  }

  static void send_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t w = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (w <= 0) return;
      bytes.remove_prefix(static_cast<std::size_t>(w));
    }
  }

  // One connection's hub state, fed whole WebSocket messages.
  class Handler final : public ws::Handler {
   public:
    Handler(FakeHub& h, int fd) : h_(h), fd_(fd) {}

    bool on_message(ws::Opcode op, std::string_view payload) override {
      if (!protocol_) return handshake(payload);
      std::vector<std::string_view> parts;
      const auto err = *protocol_ == hub::HubProtocol::Json ? hub::split_json(payload, 1 << 20, parts)
                                                             : hub::split_messagepack(payload, 1 << 20, parts);
      EXPECT_EQ(err, hub::FramingError::None);
      EXPECT_EQ(op, *protocol_ == hub::HubProtocol::Json ? ws::Opcode::Text : ws::Opcode::Binary);
      for (std::string_view part : parts) {
        hub::ParseResult r = hub::parse_message(*protocol_, part);
        EXPECT_EQ(r.status, hub::ParseResult::Status::Ok) << r.error;
        if (r.status == hub::ParseResult::Status::Ok && r.message.type == hub::MessageType::Invocation) invoke(r.message);
      }
      return true;
    }
    bool on_ping(std::string_view payload) override {
      ws::write_frame(out, ws::Opcode::Pong, payload);
      return true;
    }
    bool on_pong(std::string_view) override { return true; }
    bool on_close(std::uint16_t code, std::string_view) override {
      leave();
      ws::write_close(out, code == 1005 ? std::uint16_t{1000} : code);
      return false;
    }
    void on_error(ws::CloseCode code, std::string_view reason) override { ws::write_close(out, code, reason); }
    void leave() {
      std::lock_guard lock(h_.mu_);
      std::erase(h_.group_, this);
    }

    std::string out;  // frames for this connection, sent by its own thread

   private:
    bool handshake(std::string_view payload) {
      EXPECT_FALSE(payload.empty());
      EXPECT_EQ(payload.back(), hub::kRecordSeparator);
      auto judged = hub::parse_handshake(payload.substr(0, payload.size() - 1), true);
      EXPECT_TRUE(std::holds_alternative<hub::HandshakeRequest>(judged));
      if (!std::holds_alternative<hub::HandshakeRequest>(judged)) return false;
      protocol_ = std::get<hub::HandshakeRequest>(judged).protocol;
      if (h_.behavior_ == Behavior::RefuseHandshake) {
        ws::write_frame(out, ws::Opcode::Text, hub::handshake_response("Handshake was canceled."));
        ws::write_close(out, 1000);
        return false;
      }
      // The answer, and a Ping behind it in the same frame (PROTOCOL.md 6 allows it).
      std::string answer = hub::handshake_response();
      hub::Message ping;
      ping.type = hub::MessageType::Ping;
      hub::append_message(answer, hub::HubProtocol::Json, ping);
      if (*protocol_ == hub::HubProtocol::Json) {
        ws::write_frame(out, ws::Opcode::Text, answer);
      } else {
        ws::write_frame(out, ws::Opcode::Text, hub::handshake_response());
      }
      return true;
    }

    void invoke(const hub::Message& call) {
      ++h_.invocations_;
      hub::Message done;
      done.type = hub::MessageType::Completion;
      done.invocation_id = call.invocation_id;
      if (call.target == "Echo") {
        std::string text = call.arguments.value(0).get<std::string>();
        if (h_.behavior_ == Behavior::AlterEchoResult) text.back() ^= 1;
        done.completion = hub::CompletionKind::Result;
        done.result = text;
      } else if (call.target == "Join") {
        std::lock_guard lock(h_.mu_);
        h_.group_.push_back(this);
      } else if (call.target == "Publish") {
        hub::Message receive;
        receive.type = hub::MessageType::Invocation;
        receive.target = "receive";
        receive.arguments = nlohmann::json::array({call.arguments.value(1)});
        std::lock_guard lock(h_.mu_);
        const bool skip = h_.behavior_ == Behavior::SkipADelivery && ++h_.publishes_ == 3;
        for (Handler* member : h_.group_) {
          if (skip && member == h_.group_.front()) continue;
          member->queue(receive);
        }
      }
      queue(done);
    }

    // Another connection's thread may queue here: frames go out under the hub's lock.
    void queue(const hub::Message& m) {
      std::string framed;
      hub::append_message(framed, *protocol_, m);
      std::string frame;
      ws::write_frame(frame, *protocol_ == hub::HubProtocol::Json ? ws::Opcode::Text : ws::Opcode::Binary, framed);
      send_all(fd_, frame);
    }

    FakeHub& h_;
    int fd_;
    std::optional<hub::HubProtocol> protocol_;
  };

  void serve(int fd) {
    std::string head;
    char buf[65536];
    std::size_t end = std::string::npos;
    while (end == std::string::npos) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return (void)::close(fd);
      head.append(buf, static_cast<std::size_t>(n));
      end = head.find("\r\n\r\n");
    }
    const std::string name = "Sec-WebSocket-Key: ";
    const std::size_t k = head.find(name);
    ASSERT_NE(k, std::string::npos);
    EXPECT_EQ(head.rfind("GET /hubs/bench HTTP/1.1\r\n", 0), 0u) << "a WebSocket without negotiate";
    std::string response;
    ws::write_upgrade_response(response, ws::accept_key(head.substr(k + name.size(), head.find("\r\n", k) - k - name.size())));
    send_all(fd, response);
    ws::Protocol protocol(ws::Role::Server);
    Handler h(*this, fd);
    std::string pending = head.substr(end + 4);
    for (;;) {
      {
        // Deliveries from other connections' threads take this lock too.
        std::lock_guard lock(mu_);
        if (!pending.empty()) protocol.receive(pending.data(), pending.size(), h);
        send_all(fd, h.out);
        h.out.clear();
      }
      pending.clear();
      if (protocol.state() == ws::State::Closed) break;
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      pending.assign(buf, static_cast<std::size_t>(n));
    }
    h.leave();
    ::shutdown(fd, SHUT_WR);
    while (::recv(fd, buf, sizeof buf, 0) > 0) {
    }
    ::close(fd);
  }

  Behavior behavior_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread acceptor_;
  std::vector<std::thread> conns_;
  std::recursive_mutex mu_;       // the group, and every send to a connection
  std::vector<Handler*> group_;   // joined connections, in join order
  int publishes_ = 0;
  std::atomic<int> invocations_{0};
};

int run(std::vector<const char*> args) {
  args.insert(args.begin(), "wirehub-bench");
  args.push_back("--no-progress");
  Options o;
  auto early = parse_options(static_cast<int>(args.size()), args.data(), 20000, o);
  if (early) return *early;
  testing::internal::CaptureStdout();
  const int rc = o.mode == Mode::Echo ? run_echo(o) : run_broadcast(o);
  testing::internal::GetCapturedStdout();
  return rc;
}

class HubEndToEnd : public testing::TestWithParam<const char*> {};

TEST_P(HubEndToEnd, EchoChecksEveryCompletion) {
  FakeHub s(FakeHub::Behavior::Correct);
  const std::string url = s.url();
  EXPECT_EQ(run({"echo", "--hub", GetParam(), "--url", url.c_str(), "--connections", "3", "--inflight", "4",
                 "--duration", "0.3", "--warmup", "0.1"}),
            kExitOk);
  EXPECT_GT(s.invocations(), 12);
}

TEST_P(HubEndToEnd, EchoOfShortAndLargePayloads) {
  FakeHub s(FakeHub::Behavior::Correct);
  const std::string url = s.url();
  EXPECT_EQ(run({"echo", "--hub", GetParam(), "--url", url.c_str(), "--connections", "2", "--size", "3",
                 "--duration", "0.2", "--warmup", "0"}),
            kExitOk);
  EXPECT_EQ(run({"echo", "--hub", GetParam(), "--url", url.c_str(), "--connections", "2", "--size", "70000",
                 "--threads", "2", "--duration", "0.2", "--warmup", "0"}),
            kExitOk);
}

TEST_P(HubEndToEnd, GroupBroadcastCountsEveryDelivery) {
  FakeHub s(FakeHub::Behavior::Correct);
  const std::string url = s.url();
  EXPECT_EQ(run({"broadcast", "--hub", GetParam(), "--url", url.c_str(), "--subscribers", "5", "--window", "4",
                 "--threads", "2", "--duration", "0.3", "--warmup", "0"}),
            kExitOk);
  EXPECT_GT(s.invocations(), 5);  // the Joins, and Publishes
}

TEST_P(HubEndToEnd, ARefusedHandshakeIsAnError) {
  FakeHub s(FakeHub::Behavior::RefuseHandshake);
  const std::string url = s.url();
  EXPECT_EQ(run({"echo", "--hub", GetParam(), "--url", url.c_str(), "--connections", "2", "--duration", "0.2",
                 "--warmup", "0"}),
            kExitErrors);
}

TEST_P(HubEndToEnd, AWrongEchoResultIsAnError) {
  FakeHub s(FakeHub::Behavior::AlterEchoResult);
  const std::string url = s.url();
  EXPECT_EQ(run({"echo", "--hub", GetParam(), "--url", url.c_str(), "--connections", "2", "--duration", "0.2",
                 "--warmup", "0"}),
            kExitErrors);
}

TEST_P(HubEndToEnd, AMissedDeliveryIsAnError) {
  FakeHub s(FakeHub::Behavior::SkipADelivery);
  const std::string url = s.url();
  EXPECT_EQ(run({"broadcast", "--hub", GetParam(), "--url", url.c_str(), "--subscribers", "3", "--window", "4",
                 "--duration", "0.3", "--warmup", "0"}),
            kExitErrors);
}

INSTANTIATE_TEST_SUITE_P(BothProtocols, HubEndToEnd, testing::Values("json", "messagepack"),
                         [](const testing::TestParamInfo<const char*>& p) { return std::string(p.param); });

}  // namespace
}  // namespace wirehub::bench
