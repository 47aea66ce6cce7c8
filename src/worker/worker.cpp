#include "granite/worker/worker.hpp"

#include <spdlog/spdlog.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "granite/config/config.hpp"
#include "granite/exit_codes.hpp"
#include "granite/features/features.hpp"
#include "granite/http/bulkhead.hpp"
#include "granite/http/cache.hpp"
#include "granite/http/session.hpp"
#include "granite/obs/log.hpp"
#include "granite/store/migrate.hpp"
#include "granite/store/pool.hpp"
#include "granite/worker/service_routes.hpp"
#include "notice_listener.hpp"

namespace granite::worker {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

store::connect_options connect_options(const config::config& cfg, int slot) {
  return {cfg.database.url, cfg.database.statement_timeout_ms, cfg.database.connect_timeout_s,
          "granite worker " + std::to_string(slot)};
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

  // Stops accepting. What is already queued is taken first: those clients
  // have reached granite.
  void close() {
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
    if (!http::start_session(std::move(socket), ctx_)) refused();
    do_accept();
  }

  // Over http.max_connections: logged at most once a second.
  void refused() {
    ++refused_;
    auto now = std::chrono::steady_clock::now();
    if (now - last_refusal_log_ < std::chrono::seconds(1)) return;
    last_refusal_log_ = now;
    spdlog::warn("{} connections open (http.max_connections); closed {} new ones", ctx_.sessions.size(), refused_);
    refused_ = 0;
  }

  tcp::acceptor acceptor_;
  asio::steady_timer retry_;
  http::server_context& ctx_;
  std::uint64_t refused_ = 0;
  std::chrono::steady_clock::time_point last_refusal_log_{};
};

// Connections this worker may hold: the configured limit, or fewer when the
// descriptor limit would be reached first (accept would then fail instead of
// closing the excess cleanly).
std::size_t connection_limit(const config::config& cfg) {
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  auto wanted = static_cast<std::size_t>(cfg.http.max_connections);
  std::size_t reserve = static_cast<std::size_t>(cfg.database.pool_size) + 64;  // database, logs, sockets
  if (nofile.rlim_cur == RLIM_INFINITY || nofile.rlim_cur >= wanted + reserve) return wanted;
  std::size_t allowed = nofile.rlim_cur > reserve * 2 ? nofile.rlim_cur - reserve : nofile.rlim_cur / 2;
  spdlog::warn("open files are limited to {} (RLIMIT_NOFILE): at most {} connections instead of {} "
               "(http.max_connections)",
               nofile.rlim_cur, allowed, wanted);
  return allowed;
}

// How a worker stops. SIGTERM, a load-balancer drain: /health turns 503 and
// every response closes its connection, but the worker keeps accepting for
// drain.delay_s; then it closes the idle connections, stops accepting and
// gives in-flight requests drain.timeout_s. Idle keep-alive connections stay
// open through the delay: the load balancer may still send a request on one
// until it has seen /health fail, and closing it under that request would
// fail it. SIGQUIT (retire): the same without the
// delay. SIGINT, or any signal during a stop: stop accepting now, in-flight
// requests get one second.
class stopper {
 public:
  stopper(asio::io_context& ioc, acceptor_loop& acceptor, http::server_context& ctx, const config::config::drain_t& d)
      : ioc_(ioc), acceptor_(acceptor), ctx_(ctx), drain_(d), delay_(ioc), poll_(ioc) {}

  void on_signal(int sig) {
    if (phase_ == phase::serving && sig == SIGTERM) return drain();
    auto grace = phase_ == phase::serving && sig == SIGQUIT ? std::chrono::seconds(drain_.timeout_s)
                                                            : std::chrono::seconds(1);
    stop_accepting(grace);
  }

 private:
  enum class phase { serving, draining, stopping };
  using clock = std::chrono::steady_clock;

  void drain() {
    phase_ = phase::draining;
    spdlog::info("draining: /health answers 503; accepting for {} s more", drain_.delay_s);
    ctx_.closing = true;
    delay_.expires_after(std::chrono::seconds(drain_.delay_s));
    delay_.async_wait([this](boost::system::error_code ec) {
      if (!ec) stop_accepting(std::chrono::seconds(drain_.timeout_s));
    });
  }

  void stop_accepting(clock::duration grace) {
    deadline_ = std::min(deadline_, clock::now() + grace);
    if (phase_ == phase::stopping) return;
    phase_ = phase::stopping;
    delay_.cancel();
    acceptor_.close();
    spdlog::info("stopped accepting; {} connections open, at most {} ms for their requests", ctx_.sessions.size(),
                 std::chrono::duration_cast<std::chrono::milliseconds>(grace).count());
    wait_for_sessions();
  }

  void wait_for_sessions() {
    ctx_.close_connections();
    if (ctx_.sessions.empty()) return ioc_.stop();
    if (clock::now() >= deadline_) {
      spdlog::warn("stop deadline reached with {} connections still open; closing them", ctx_.sessions.size());
      return ioc_.stop();
    }
    poll_.expires_after(std::chrono::milliseconds(20));
    poll_.async_wait([this](boost::system::error_code ec) {
      if (!ec) wait_for_sessions();
    });
  }

  asio::io_context& ioc_;
  acceptor_loop& acceptor_;
  http::server_context& ctx_;
  config::config::drain_t drain_;
  asio::steady_timer delay_;
  asio::steady_timer poll_;
  phase phase_ = phase::serving;
  clock::time_point deadline_ = clock::time_point::max();
};

void report_ready(int status_fd, int slot) {
  status_message m{'R', slot, getpid()};
  if (write(status_fd, &m, sizeof m) != static_cast<ssize_t>(sizeof m))
    spdlog::warn("could not tell the leader that this worker is ready");
}

}  // namespace

void block_stop_signals(bool block) {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGTERM, SIGQUIT, SIGINT}) sigaddset(&set, sig);
  pthread_sigmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, nullptr);
}

int run(const config::config& cfg, int slot, int listen_fd, int status_fd, std::function<void()> heartbeat,
        http::notice_ring* notices) {
  obs::init_worker(slot, cfg.log.level);
  heartbeat();

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

  // Password hashing is slow on purpose: it gets threads of its own, at the
  // lowest priority, with a bounded queue (the bulkhead).
  http::bulkhead hashing({"password hashing", cfg.auth.hash_threads, cfg.auth.hash_queue_limit,
                          std::chrono::milliseconds(cfg.auth.hash_wait_limit_ms),
                          cfg.auth.hash_priority == "low" ? http::bulkhead::priority::low
                                                          : http::bulkhead::priority::idle,
                          cfg.auth.hash_cpu_percent});
  hashing.start();
  hashing.submit([&cfg](bool) { features::warm_up(cfg); });

  http::read_cache cache(static_cast<std::size_t>(cfg.cache.size_mib) * 1024 * 1024, cfg.cache.enabled);
  cache.attach(notices);
  http::router routes;
  http::server_context ctx{routes,
                           db,
                           hashing,
                           cache,
                           {static_cast<std::uint64_t>(cfg.http.header_limit_bytes),
                            static_cast<std::uint64_t>(cfg.http.body_limit_bytes),
                            std::chrono::seconds(cfg.http.idle_timeout_s),
                            std::chrono::seconds(cfg.http.header_timeout_s),
                            std::chrono::seconds(cfg.http.body_timeout_s),
                            connection_limit(cfg),
                            static_cast<std::uint64_t>(cfg.http.max_requests_per_connection)},
                           cfg.log.access,
                           {}};
  features::register_routes(routes, features::deps{cfg});
  add_service_routes(routes, ctx.closing, cache);

  asio::io_context ioc(1);
  // The cache's change notices; without the cache there is nothing to listen for.
  std::optional<notice_listener> listener;
  if (cfg.cache.enabled) {
    auto options = connect_options(cfg, slot);
    options.application_name = "granite worker " + std::to_string(slot) + " notices";
    // A connection that dies silently (a network partition) is noticed
    // within seconds, not at the kernel's two hours.
    listener.emplace(ioc, store::conninfo(options) + " keepalives=1 keepalives_idle=5 keepalives_interval=2 keepalives_count=3",
                    cache);
    listener->start();
  }
  acceptor_loop acceptor(ioc, listen_fd, ctx);
  stopper stop(ioc, acceptor, ctx, cfg.drain);
  asio::signal_set signals(ioc, SIGTERM, SIGQUIT, SIGINT);
  std::function<void(boost::system::error_code, int)> on_signal = [&](boost::system::error_code ec, int sig) {
    if (ec) return;
    stop.on_signal(sig);
    signals.async_wait(on_signal);
  };
  signals.async_wait(on_signal);
  block_stop_signals(false);  // the handlers are in place: let them in

  // The heartbeat comes from the event loop itself: a loop that is stuck
  // (a CPU hog, a deadlock) stops it, and the leader's watchdog acts. The
  // same tick sweeps the connections' deadlines.
  asio::steady_timer beat_timer(ioc);
  std::function<void()> beat = [&] {
    heartbeat();
    ctx.sweep();
    beat_timer.expires_after(std::chrono::milliseconds(250));
    beat_timer.async_wait([&](boost::system::error_code ec) {
      if (!ec) beat();
    });
  };
  beat();

  acceptor.do_accept();
  spdlog::info("serving with {} database connections", cfg.database.pool_size);
  report_ready(status_fd, slot);
  ioc.run();

  if (listener) listener->stop();
  hashing.stop();  // its last steps may still hand work to the database pool
  db.stop();
  spdlog::info("stopped");
  obs::shutdown();
  return exit_code::ok;
}

}  // namespace granite::worker
