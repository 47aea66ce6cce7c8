#include "granite/worker/worker.hpp"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>

#include "acceptor.hpp"
#include "granite/config/config.hpp"
#include "granite/exit_codes.hpp"
#include "granite/features/cached.hpp"
#include "granite/features/features.hpp"
#include "granite/http/bulkhead.hpp"
#include "granite/http/cache.hpp"
#include "granite/http/session.hpp"
#include "granite/obs/log.hpp"
#include "granite/store/migrate.hpp"
#include "granite/store/pool.hpp"
#include "granite/worker/service_routes.hpp"
#include "notice_listener.hpp"
#include "stopper.hpp"

namespace granite::worker {

namespace asio = boost::asio;

namespace {

store::connect_options connect_options(const config::config& cfg, int slot) {
  return {cfg.database.url, cfg.database.statement_timeout_ms, cfg.database.connect_timeout_s,
          "granite worker " + std::to_string(slot)};
}

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

http::limits limits_of(const config::config& cfg) {
  return {static_cast<std::uint64_t>(cfg.http.header_limit_bytes),
          static_cast<std::uint64_t>(cfg.http.body_limit_bytes),
          std::chrono::seconds(cfg.http.idle_timeout_s),
          std::chrono::seconds(cfg.http.header_timeout_s),
          std::chrono::seconds(cfg.http.body_timeout_s),
          connection_limit(cfg),
          static_cast<std::uint64_t>(cfg.http.max_requests_per_connection)};
}

// Password hashing is slow on purpose: it gets threads of its own, at the
// lowest priority, with a bounded queue (the bulkhead).
http::bulkhead::options hashing_options(const config::config& cfg) {
  return {"password hashing",
          cfg.auth.hash_threads,
          cfg.auth.hash_queue_limit,
          std::chrono::milliseconds(cfg.auth.hash_wait_limit_ms),
          cfg.auth.hash_priority == "low" ? http::bulkhead::priority::low : http::bulkhead::priority::idle,
          cfg.auth.hash_cpu_percent};
}

// The schema is the one this binary knows, and the pool's connections are
// open with their statements prepared. False (logged) when not.
bool boot_database(const config::config& cfg, int slot, store::pool& db) {
  try {
    store::require_current_schema(connect_options(cfg, slot));
    db.start();
    return true;
  } catch (const std::exception& e) {
    spdlog::error("cannot boot: {}", e.what());
    return false;
  }
}

// The cache's change notices; without the cache there is nothing to listen for.
std::unique_ptr<notice_listener> listen_for_notices(asio::io_context& ioc, const config::config& cfg, int slot,
                                                   http::read_cache& cache) {
  if (!cfg.cache.enabled) return nullptr;
  auto options = connect_options(cfg, slot);
  options.application_name = "granite worker " + std::to_string(slot) + " notices";
  // A connection that dies silently (a network partition) is noticed
  // within seconds, not at the kernel's two hours.
  auto listener = std::make_unique<notice_listener>(
      ioc, store::conninfo(options) + " keepalives=1 keepalives_idle=5 keepalives_interval=2 keepalives_count=3",
      cache);
  listener->start();
  return listener;
}

void report_ready(int status_fd, int slot) {
  status_message m{'R', slot, getpid()};
  if (write(status_fd, &m, sizeof m) != static_cast<ssize_t>(sizeof m))
    spdlog::warn("could not tell the leader that this worker is ready");
}

// The event loop, until a stop signal has run its course. The heartbeat
// comes from the loop itself: a loop that is stuck (a CPU hog, a deadlock)
// stops it, and the leader's watchdog acts. The same tick sweeps the
// connections' deadlines.
void serve(asio::io_context& ioc, const config::config& cfg, int slot, int listen_fd, int status_fd,
           const std::function<void()>& heartbeat, http::server_context& ctx) {
  auto listener = listen_for_notices(ioc, cfg, slot, ctx.cache);
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
}

}  // namespace

void block_stop_signals(bool block) {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGTERM, SIGQUIT, SIGINT}) sigaddset(&set, sig);
  pthread_sigmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, nullptr);
}

int run(const config::config& cfg, int slot, int listen_fd, int status_fd, std::function<void()> heartbeat,
        shm::notice_ring* notices) {
  obs::init_worker(slot, cfg.log.level);
  heartbeat();

  store::pool db(connect_options(cfg, slot), cfg.database.pool_size, cfg.database.queue_limit,
                 features::prepare_statements);
  if (!boot_database(cfg, slot, db)) {
    obs::shutdown();
    return exit_code::worker_boot_failure;
  }
  http::bulkhead hashing(hashing_options(cfg));
  hashing.start();
  hashing.submit([&cfg](bool) { features::warm_up(cfg); });

  http::read_cache cache(static_cast<std::size_t>(cfg.cache.size_mib) * 1024 * 1024, cfg.cache.enabled,
                         features::read_notice);
  cache.attach(notices);
  http::router routes;
  http::server_context ctx{routes, db, hashing, cache, limits_of(cfg), cfg.log.access, {}};
  features::register_routes(routes, features::deps{cfg});
  add_service_routes(routes, ctx.closing, cache);

  // Declared after the context, so that it goes first (the sessions its
  // pending handlers hold still find their context); the pools that post to
  // it are stopped before it goes.
  asio::io_context ioc(1);
  serve(ioc, cfg, slot, listen_fd, status_fd, heartbeat, ctx);

  hashing.stop();  // its last steps may still hand work to the database pool
  db.stop();       // whose last jobs post to the loop, which is still there
  spdlog::info("stopped");
  obs::shutdown();
  return exit_code::ok;
}

}  // namespace granite::worker
