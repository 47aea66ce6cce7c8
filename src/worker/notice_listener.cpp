#include "notice_listener.hpp"

#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <utility>

namespace granite::worker {

namespace asio = boost::asio;

namespace {
struct finish_connection {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using owned_connection = std::unique_ptr<PGconn, finish_connection>;

std::string message_of(PGconn* c) {
  std::string m = c ? PQerrorMessage(c) : "out of memory";
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  for (auto& ch : m)
    if (ch == '\n') ch = ' ';
  return m;
}
}  // namespace

PGconn* open_listening_connection(const std::string& conninfo, std::string& error) {
  owned_connection c(PQconnectdb(conninfo.c_str()));
  if (!c || PQstatus(c.get()) != CONNECTION_OK) {
    error = message_of(c.get());
    return nullptr;
  }
  PGresult* r = PQexec(c.get(), "LISTEN granite_cache");
  bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  if (!ok) error = PQresultErrorMessage(r);
  PQclear(r);
  if (!ok || PQsetnonblocking(c.get(), 1) != 0) {
    if (ok) error = message_of(c.get());
    return nullptr;
  }
  return c.release();
}

notice_listener::notice_listener(asio::io_context& ioc, std::string conninfo, http::read_cache& cache)
    : ioc_(ioc), conninfo_(std::move(conninfo)), cache_(cache), retry_(ioc) {}

notice_listener::~notice_listener() {
  stop();
  if (connector_.joinable()) connector_.join();
}

void notice_listener::start() {
  std::string error;
  if (PGconn* c = open_listening_connection(conninfo_, error)) return listen_on(c);
  spdlog::warn("read cache bypassed: cannot listen for change notices: {}", error);
  retry_later();
}

void notice_listener::stop() {
  *alive_ = false;
  retry_.cancel();
  close_connection();
}

void notice_listener::close_connection() {
  if (socket_) {
    socket_->release();  // libpq owns the descriptor
    socket_.reset();
  }
  if (conn_) PQfinish(conn_);
  conn_ = nullptr;
}

void notice_listener::listen_on(PGconn* conn) {
  conn_ = conn;
  socket_ = std::make_unique<asio::posix::stream_descriptor>(ioc_, PQsocket(conn_));
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
  if (PQconsumeInput(conn_) == 0) return lost(message_of(conn_));
  while (PGnotify* n = PQnotifies(conn_)) {
    if (!cache_.apply_notice(n->extra)) {
      spdlog::warn("unreadable change notice \"{}\" from backend {}: read cache flushed", n->extra, n->be_pid);
      cache_.flush();
    }
    PQfreemem(n);
  }
  if (PQstatus(conn_) != CONNECTION_OK) return lost(message_of(conn_));
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
// does it, and the loop keeps serving (without the cache) meanwhile.
void notice_listener::connect_in_background() {
  if (connector_.joinable()) connector_.join();
  connector_ = std::thread([this, alive = alive_] {
    // Finished unless the loop takes it (it may never run this handler).
    struct pending {
      PGconn* conn = nullptr;
      std::string error;
      ~pending() {
        if (conn) PQfinish(conn);
      }
    };
    auto p = std::make_shared<pending>();
    p->conn = open_listening_connection(conninfo_, p->error);
    asio::post(ioc_, [this, alive, p] {
      if (!*alive) return;
      if (!p->conn) {
        spdlog::debug("still cannot listen for change notices: {}", p->error);
        return retry_later();
      }
      listen_on(std::exchange(p->conn, nullptr));
    });
  });
}

}  // namespace granite::worker
