#include "notice_listener.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <utility>

#include "granite/store/database.hpp"

namespace granite::worker {

namespace asio = boost::asio;

namespace {
// A connection, or why there is none.
struct attempt {
  std::unique_ptr<store::notice_connection> conn;
  std::string error;
};

attempt open_listening_connection(const std::string& conninfo) {
  try {
    return {std::make_unique<store::notice_connection>(conninfo), {}};
  } catch (const store::unavailable& e) {
    return {nullptr, e.what()};
  }
}
}  // namespace

notice_listener::notice_listener(asio::io_context& ioc, std::string conninfo, http::read_cache& cache)
    : ioc_(ioc), conninfo_(std::move(conninfo)), cache_(cache), retry_(ioc) {}

notice_listener::~notice_listener() {
  stop();
  if (connector_.joinable()) connector_.join();
}

void notice_listener::start() {
  auto a = open_listening_connection(conninfo_);
  if (a.conn) return listen_on(std::move(a.conn));
  spdlog::warn("read cache bypassed: cannot listen for change notices: {}", a.error);
  retry_later();
}

void notice_listener::stop() {
  *alive_ = false;
  retry_.cancel();
  close_connection();
}

void notice_listener::close_connection() {
  if (socket_) {
    socket_->release();  // out of the reactor before libpq closes the descriptor
    socket_.reset();
  }
  conn_.reset();
}

void notice_listener::listen_on(std::unique_ptr<store::notice_connection> conn) {
  conn_ = std::move(conn);
  socket_ = std::make_unique<asio::posix::stream_descriptor>(ioc_, conn_->socket());
  backoff_ = std::chrono::milliseconds(100);
  cache_.set_listening(true);
  spdlog::info("read cache in use: listening for change notices");
  wait_for_notices();
}

void notice_listener::wait_for_notices() {
  socket_->async_wait(asio::posix::stream_descriptor::wait_read, [this, alive = alive_](boost::system::error_code ec) {
    if (!*alive || ec == asio::error::operation_aborted) return;
    if (ec) return lost(ec.message());
    on_readable();
  });
}

void notice_listener::on_readable() {
  bool open = conn_->take([this](std::string_view notice, int backend) {
    if (cache_.apply_notice(notice)) return;
    spdlog::warn("unreadable change notice \"{}\" from backend {}: read cache flushed", notice, backend);
    cache_.flush();
  });
  if (!open) return lost(conn_->error());
  wait_for_notices();
}

void notice_listener::lost(const std::string& why) {
  cache_.set_listening(false);
  spdlog::warn("read cache flushed and bypassed: the change-notice connection was lost ({}); reconnecting", why);
  close_connection();
  retry_later();
}

void notice_listener::retry_later() {
  retry_.expires_after(backoff_);
  backoff_ = std::min(backoff_ * 2, std::chrono::milliseconds(5000));
  retry_.async_wait([this](boost::system::error_code ec) {
    if (!ec) connect_in_background();
  });
}

// Connecting may take up to database.connect_timeout_s: a thread of its own
// does it, and the loop keeps serving (without the cache) meanwhile. The
// connection is closed with the attempt unless the loop takes it (it may
// never run this handler).
void notice_listener::connect_in_background() {
  if (connector_.joinable()) connector_.join();
  connector_ = std::thread([this, alive = alive_] {
    auto a = std::make_shared<attempt>(open_listening_connection(conninfo_));
    asio::post(ioc_, [this, alive, a] {
      if (!*alive) return;
      if (!a->conn) {
        spdlog::debug("still cannot listen for change notices: {}", a->error);
        return retry_later();
      }
      listen_on(std::move(a->conn));
    });
  });
}

}  // namespace granite::worker
