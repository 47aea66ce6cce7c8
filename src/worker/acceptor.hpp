#pragma once

// Accepts the connections of the worker's slot socket, inherited from the
// leader, and starts a session for each.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>

#include "granite/http/session.hpp"

namespace granite::worker {

class acceptor_loop {
 public:
  acceptor_loop(boost::asio::io_context& ioc, int fd, http::server_context& ctx);

  void do_accept();
  // Stops accepting. What is already queued is taken first: those clients
  // have reached granite.
  void close();

 private:
  void on_accept(boost::system::error_code ec, boost::asio::ip::tcp::socket socket);
  // Over http.max_connections: logged at most once a second.
  void refused();

  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_;
  http::server_context& ctx_;
  std::uint64_t refused_ = 0;
  std::chrono::steady_clock::time_point last_refusal_log_{};
};

}  // namespace granite::worker
