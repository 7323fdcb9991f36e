// Peer server for scripts/bench: Boost.Beast WebSockets on one io_context run by one
// thread, written the way Beast's own asynchronous examples are.
// /ws/echo sends every message back with its opcode; /ws/broadcast relays every message
// to every client of the endpoint, the sender included. No compression.
// Usage: beast_peer PORT
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <chrono>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <memory>
#include <string>
#include <unordered_set>

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

namespace {

// One relayed message, shared by every subscriber's write queue.
struct Message {
    std::string payload;
    bool text;
};

class Session;

// The clients of /ws/broadcast. Everything runs on one thread, so no lock.
using Room = std::unordered_set<Session*>;

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket socket, Room& room) : ws_(std::move(socket)), room_(room) {}
    ~Session() { room_.erase(this); }

    // Reads the upgrade request, then serves the endpoint it names.
    void start() {
        beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(30));
        http::async_read(ws_.next_layer(), buffer_, request_,
                         [self = shared_from_this()](beast::error_code ec, std::size_t) {
                             self->on_request(ec);
                         });
    }

    // Queues one broadcast message; writes go out one at a time, in order.
    void send(std::shared_ptr<const Message> message) {
        queue_.push_back(std::move(message));
        if (queue_.size() == 1) write_front();
    }

private:
    void on_request(beast::error_code ec) {
        if (ec) return;
        const auto target = request_.target();
        if (websocket::is_upgrade(request_) && target == "/ws/echo") {
            broadcast_ = false;
        } else if (websocket::is_upgrade(request_) && target == "/ws/broadcast") {
            broadcast_ = true;
        } else {
            reject();
            return;
        }
        // The websocket stream keeps its own timeouts; the TCP stream's would cut idle clients.
        beast::get_lowest_layer(ws_).expires_never();
        ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
        ws_.auto_fragment(false);
        ws_.async_accept(request_, [self = shared_from_this()](beast::error_code ec) {
            self->on_accept(ec);
        });
    }

    void reject() {
        auto response = std::make_shared<http::response<http::empty_body>>(http::status::not_found,
                                                                           request_.version());
        response->keep_alive(false);
        response->prepare_payload();
        http::async_write(ws_.next_layer(), *response,
                          [self = shared_from_this(), response](beast::error_code, std::size_t) {
                              beast::error_code ignored;
                              self->ws_.next_layer().socket().shutdown(tcp::socket::shutdown_send,
                                                                        ignored);
                          });
    }

    void on_accept(beast::error_code ec) {
        if (ec) return;
        if (broadcast_) room_.insert(this);
        read();
    }

    void read() {
        ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
            self->on_read(ec);
        });
    }

    void on_read(beast::error_code ec) {
        if (ec) {
            room_.erase(this);
            return;
        }
        if (!broadcast_) {
            ws_.text(ws_.got_text());
            ws_.async_write(buffer_.data(),
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                                if (ec) return;
                                self->buffer_.consume(self->buffer_.size());
                                self->read();
                            });
            return;
        }
        auto message = std::make_shared<const Message>(
            Message{beast::buffers_to_string(buffer_.data()), ws_.got_text()});
        buffer_.consume(buffer_.size());
        for (Session* member : room_) member->send(message);
        read();
    }

    void write_front() {
        ws_.text(queue_.front()->text);
        ws_.async_write(net::buffer(queue_.front()->payload),
                        [self = shared_from_this()](beast::error_code ec, std::size_t) {
                            if (ec) {
                                self->queue_.clear();
                                return;
                            }
                            self->queue_.pop_front();
                            if (!self->queue_.empty()) self->write_front();
                        });
    }

    websocket::stream<beast::tcp_stream> ws_;
    Room& room_;
    beast::flat_buffer buffer_;
    http::request<http::string_body> request_;
    std::deque<std::shared_ptr<const Message>> queue_;
    bool broadcast_ = false;
};

class Listener {
public:
    Listener(net::io_context& ioc, const tcp::endpoint& endpoint, Room& room)
        : acceptor_(ioc), room_(room) {
        acceptor_.open(endpoint.protocol());
        acceptor_.set_option(net::socket_base::reuse_address(true));
        acceptor_.bind(endpoint);
        acceptor_.listen(net::socket_base::max_listen_connections);
    }

    void accept() {
        acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
            if (!ec) {
                socket.set_option(tcp::no_delay(true), ec);
                std::make_shared<Session>(std::move(socket), room_)->start();
            }
            accept();
        });
    }

private:
    tcp::acceptor acceptor_;
    Room& room_;
};

}  // namespace

int main(int argc, char** argv) {
    const int port = argc == 2 ? std::atoi(argv[1]) : 0;
    if (port <= 0 || port > 65535) {
        std::cerr << "usage: beast_peer PORT\n";
        return 2;
    }
    try {
        // Declared before the io_context: sessions still owned by its handlers leave the room
        // when the io_context is destroyed.
        Room room;
        net::io_context ioc{1};
        Listener listener(ioc,
                          tcp::endpoint(net::ip::make_address("127.0.0.1"),
                                        static_cast<unsigned short>(port)),
                          room);
        listener.accept();
        net::signal_set signals(ioc, SIGINT, SIGTERM);
        signals.async_wait([&ioc](beast::error_code, int) { ioc.stop(); });
        ioc.run();
    } catch (const std::exception& e) {
        std::cerr << "beast_peer: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
