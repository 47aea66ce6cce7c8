#include "granite/worker/worker.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "granite/config/config.hpp"
#include "granite/exit_codes.hpp"
#include "granite/features/features.hpp"
#include "granite/http/session.hpp"
#include "granite/obs/log.hpp"
#include "granite/store/migrate.hpp"
#include "granite/store/pool.hpp"

namespace granite::worker {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

store::connect_options connect_options(const config::config& cfg, int slot) {
  return {cfg.database.url, cfg.database.statement_timeout_ms, cfg.database.connect_timeout_s,
          "granite worker " + std::to_string(slot)};
}

// The routes that belong to the process rather than to a feature.
void add_service_routes(http::router& router, const http::server_context* ctx) {
  router.add(http::verb::get, "/health", http::plain_handler([ctx](const http::request&, const http::params&) {
               if (ctx->closing) return http::text(503, "draining\n");
               return http::text(200, "ok\n");
             }));
}

class acceptor_loop {
 public:
  acceptor_loop(asio::io_context& ioc, int fd, http::server_context& ctx) : acceptor_(ioc), retry_(ioc), ctx_(ctx) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    acceptor_.assign(addr.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), fd);
  }

  void do_accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) { on_accept(ec, std::move(socket)); });
  }

  void close() {
    boost::system::error_code ec;
    acceptor_.close(ec);
    retry_.cancel();
  }

 private:
  void on_accept(boost::system::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
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
    http::start_session(std::move(socket), ctx_);
    do_accept();
  }

  tcp::acceptor acceptor_;
  asio::steady_timer retry_;
  http::server_context& ctx_;
};

void report_ready(int status_fd, int slot) {
  status_message m{'R', slot, getpid()};
  if (write(status_fd, &m, sizeof m) != static_cast<ssize_t>(sizeof m))
    spdlog::warn("could not tell the leader that this worker is ready");
}

}  // namespace

int run(const config::config& cfg, int slot, int listen_fd, int status_fd) {
  obs::init_worker(slot, cfg.log.level);

  store::pool db(connect_options(cfg, slot), cfg.database.pool_size, cfg.database.queue_limit,
                 features::prepare_statements);
  try {
    store::connection probe(connect_options(cfg, slot));
    store::require_current_schema(probe);
    db.start();
  } catch (const std::exception& e) {
    spdlog::error("cannot boot: {}", e.what());
    obs::shutdown();
    return exit_code::worker_boot_failure;
  }

  http::router routes;
  http::server_context ctx{routes,
                           db,
                           {static_cast<std::uint64_t>(cfg.http.header_limit_bytes),
                            static_cast<std::uint64_t>(cfg.http.body_limit_bytes),
                            std::chrono::seconds(cfg.http.idle_timeout_s)},
                           cfg.log.access,
                           {}};
  features::register_routes(routes, features::deps{cfg});
  add_service_routes(routes, &ctx);

  asio::io_context ioc(1);
  acceptor_loop acceptor(ioc, listen_fd, ctx);
  asio::steady_timer stop_timer(ioc);
  auto deadline = std::chrono::steady_clock::time_point::max();

  // Stop: no new connections, idle ones closed, busy ones finish their
  // request; the loop ends when none is left or at the deadline.
  std::function<void()> wait_for_sessions = [&] {
    if (ctx.sessions.empty() || std::chrono::steady_clock::now() >= deadline) return ioc.stop();
    ctx.close_connections();
    stop_timer.expires_after(std::chrono::milliseconds(20));
    stop_timer.async_wait([&](boost::system::error_code ec) {
      if (!ec) wait_for_sessions();
    });
  };
  asio::signal_set signals(ioc, SIGTERM, SIGINT);
  signals.async_wait([&](boost::system::error_code ec, int sig) {
    if (ec) return;
    spdlog::info("stopping on signal {} with {} open connections", sig, ctx.sessions.size());
    deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(cfg.shutdown.timeout_ms);
    acceptor.close();
    ctx.close_connections();
    wait_for_sessions();
  });

  acceptor.do_accept();
  spdlog::info("serving with {} database connections", cfg.database.pool_size);
  report_ready(status_fd, slot);
  ioc.run();

  db.stop();
  spdlog::info("stopped");
  obs::shutdown();
  return exit_code::ok;
}

}  // namespace granite::worker
