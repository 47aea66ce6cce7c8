#include "acceptor.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

namespace granite::worker {

namespace asio = boost::asio;
using asio::ip::tcp;

acceptor_loop::acceptor_loop(asio::io_context& ioc, int fd, http::server_context& ctx)
    : acceptor_(ioc), retry_(ioc), ctx_(ctx) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  acceptor_.assign(addr.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), fd);
}

void acceptor_loop::do_accept() {
  acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) { on_accept(ec, std::move(socket)); });
}

void acceptor_loop::close() {
  boost::system::error_code ec;
  acceptor_.non_blocking(true, ec);
  while (acceptor_.is_open()) {
    tcp::socket socket(acceptor_.get_executor());
    acceptor_.accept(socket, ec);
    if (ec) break;
    http::start_session(std::move(socket), ctx_);
  }
  acceptor_.close(ec);
  retry_.cancel();
}

void acceptor_loop::on_accept(boost::system::error_code ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted) return;
  if (!acceptor_.is_open()) {
    // Accepted in the same turn of the loop as close(), which could no
    // longer cancel it: the connection is ours, and answered like those
    // close() took from the queue. Dropping it would reset a client whose
    // connect succeeded.
    if (!ec) http::start_session(std::move(socket), ctx_);
    return;
  }
  if (ec) {
    // Out of descriptors or memory: leave the connection queued and retry
    // shortly instead of spinning.
    spdlog::warn("accept failed: {}; retrying in 100 ms", ec.message());
    retry_.expires_after(std::chrono::milliseconds(100));
    retry_.async_wait([this](boost::system::error_code wait_ec) {
      if (!wait_ec) do_accept();
    });
    return;
  }
  boost::system::error_code opt_ec;
  socket.set_option(tcp::no_delay(true), opt_ec);
  if (!http::start_session(std::move(socket), ctx_)) refused();
  do_accept();
}

void acceptor_loop::refused() {
  ++refused_;
  auto now = std::chrono::steady_clock::now();
  if (now - last_refusal_log_ < std::chrono::seconds(1)) return;
  last_refusal_log_ = now;
  spdlog::warn("{} connections open (http.max_connections); closed {} new ones", ctx_.sessions.size(), refused_);
  refused_ = 0;
}

}  // namespace granite::worker
