// Peer server for scripts/bench: websocketpp 0.8 on its Asio transport, one thread.
// /ws/echo sends every message back with its opcode; /ws/broadcast relays every message
// to every client of the endpoint, the sender included. No compression.
// Usage: websocketpp_peer PORT
#include <websocketpp/concurrency/none.hpp>
#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/server.hpp>

#include <cstdlib>
#include <iostream>
#include <set>

namespace {

// websocketpp::config::asio with its locks compiled out, as its documentation suggests for
// a server that runs on a single thread.
struct SingleThreadConfig : websocketpp::config::asio {
    typedef SingleThreadConfig type;
    typedef websocketpp::config::asio base;

    typedef websocketpp::concurrency::none concurrency_type;

    typedef base::request_type request_type;
    typedef base::response_type response_type;
    typedef base::message_type message_type;
    typedef base::con_msg_manager_type con_msg_manager_type;
    typedef base::endpoint_msg_manager_type endpoint_msg_manager_type;

    typedef websocketpp::log::basic<concurrency_type, websocketpp::log::elevel> elog_type;
    typedef websocketpp::log::basic<concurrency_type, websocketpp::log::alevel> alog_type;

    typedef base::rng_type rng_type;

    static bool const enable_multithreading = false;

    struct transport_config : base::transport_config {
        typedef type::concurrency_type concurrency_type;
        typedef type::alog_type alog_type;
        typedef type::elog_type elog_type;
        typedef type::request_type request_type;
        typedef type::response_type response_type;
        typedef websocketpp::transport::asio::basic_socket::endpoint socket_type;

        static bool const enable_multithreading = false;
    };

    typedef websocketpp::transport::asio::endpoint<transport_config> transport_type;
};

using Server = websocketpp::server<SingleThreadConfig>;
using websocketpp::connection_hdl;

}  // namespace

int main(int argc, char** argv) {
    const int port = argc == 2 ? std::atoi(argv[1]) : 0;
    if (port <= 0 || port > 65535) {
        std::cerr << "usage: websocketpp_peer PORT\n";
        return 2;
    }

    Server server;
    // The clients of /ws/broadcast, from open to close.
    std::set<Server::connection_ptr> room;

    server.clear_access_channels(websocketpp::log::alevel::all);
    server.set_error_channels(websocketpp::log::elevel::fatal);
    server.init_asio();
    server.set_reuse_addr(true);
    server.set_listen_backlog(4096);

    // Runs once the accepted socket is open, before the handshake is read.
    server.set_tcp_pre_init_handler([&server](connection_hdl hdl) {
        boost::system::error_code ec;
        server.get_con_from_hdl(hdl)->get_socket().set_option(boost::asio::ip::tcp::no_delay(true),
                                                               ec);
    });

    // Routes by path while validating the upgrade: each connection gets its endpoint's handlers.
    server.set_validate_handler([&server, &room](connection_hdl hdl) {
        Server::connection_ptr con = server.get_con_from_hdl(hdl);
        const std::string& resource = con->get_resource();
        if (resource == "/ws/echo") {
            con->set_message_handler([&server](connection_hdl h, Server::message_ptr msg) {
                websocketpp::lib::error_code ec;
                server.send(h, msg->get_payload(), msg->get_opcode(), ec);
            });
            return true;
        }
        if (resource == "/ws/broadcast") {
            con->set_open_handler(
                [&server, &room](connection_hdl h) { room.insert(server.get_con_from_hdl(h)); });
            con->set_close_handler(
                [&server, &room](connection_hdl h) { room.erase(server.get_con_from_hdl(h)); });
            con->set_message_handler([&room](connection_hdl, Server::message_ptr msg) {
                for (const Server::connection_ptr& member : room) {
                    member->send(msg->get_payload(), msg->get_opcode());
                }
            });
            return true;
        }
        con->set_status(websocketpp::http::status_code::not_found);
        return false;
    });

    try {
        server.listen(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"),
                                                     static_cast<unsigned short>(port)));
        server.start_accept();
        server.run();
    } catch (const std::exception& e) {
        std::cerr << "websocketpp_peer: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
