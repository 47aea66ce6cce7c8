#include "granite/worker/worker.hpp"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <coroutine>
#include <cstring>
#include <memory>
#include <optional>

#include "acceptor.hpp"
#include "granite/config/config.hpp"
#include "granite/exit_codes.hpp"
#include "granite/features/cached.hpp"
#include "granite/features/features.hpp"
#include "granite/http/bulkhead.hpp"
#include "granite/http/cache.hpp"
#include "granite/http/session.hpp"
#include "granite/obs/access_log.hpp"
#include "granite/obs/log.hpp"
#include "granite/shm/metrics.hpp"
#include "granite/store/event_loop.hpp"
#include "granite/store/migrate.hpp"
#include "granite/worker/service_routes.hpp"
#include "metrics_server.hpp"
#include "stopper.hpp"

namespace granite::worker {

namespace asio = boost::asio;

static_assert(config::max_replicas + 1 == shm::metric_sources, "a metrics cell for the primary and each replica");

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
  // The database's connections, logs, sockets.
  std::size_t reserve = static_cast<std::size_t>(cfg.database.read_connections + cfg.database.write_connections) +
                        cfg.database.replicas.size() * static_cast<std::size_t>(cfg.database.replica_connections) + 64;
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

// The schema is the one this binary knows (on a connection of its own,
// while the worker boots). False (logged) when not.
bool check_schema(const config::config& cfg, int slot) {
  try {
    auto o = connect_options(cfg, slot);
    o.url = cfg.session_url();  // it sets the session's statement timeout: never on a pooler's connection
    store::require_current_schema(o);
    return true;
  } catch (const std::exception& e) {
    spdlog::error("cannot boot: {}", e.what());
    return false;
  }
}

store::database_options database_options(const config::config& cfg, int slot, const http::read_cache& cache) {
  store::database_options o;
  o.connect = connect_options(cfg, slot);
  o.read_connections = cfg.database.read_connections;
  o.write_connections = cfg.database.write_connections;
  o.queue_limit = cfg.database.queue_limit;
  o.pooled = cfg.database.pooler == "transaction";
  o.replicas = cfg.database.replicas;
  o.replica_connections = cfg.database.replica_connections;
  o.replica_max_lag_ms = cfg.database.replica_max_lag_ms;
  o.replica_lifetime = std::chrono::seconds(cfg.database.replica_connection_lifetime_s);
  o.floor = [&cache] { return cache.replica_floor(); };
  o.statements = features::statements();
  return o;
}

// A slot's socket may be out of the instance's SO_REUSEPORT group (a slot
// added at run time, or one whose last worker could not boot): the kernel
// hands it connections only once this worker, booted, listens. On a socket
// that listens already this only restates the backlog.
std::optional<std::string> take_slot_socket(int fd, int backlog) {
  if (::listen(fd, backlog) == 0) return std::nullopt;
  return std::string("cannot listen on the slot's socket: ") + std::strerror(errno);
}

// Ready to serve means connected: the loop runs until every connection has
// been opened, or until one could not be (why, then).
std::optional<std::string> open_database(asio::io_context& ioc, store::database& db) {
  std::optional<std::optional<std::string>> opened;
  db.start([&opened](std::optional<std::string> error) { opened = std::move(error); });
  {
    auto busy = asio::make_work_guard(ioc);  // the connections open on threads of their own
    while (!opened) ioc.run_one();
  }
  ioc.restart();
  return *opened;
}

// Requests still waiting for the database are answered (unavailable), and
// the loop runs once more for what that resumes, so that every request's
// coroutine ends before the loop goes.
void close_database(asio::io_context& ioc, std::unique_ptr<store::database> db) {
  db->stop();
  ioc.restart();
  ioc.poll();
  db.reset();
}

// The access log (none with log.access off), and the proxies whose
// X-Forwarded-For is believed.
std::unique_ptr<obs::access_log> open_access_log(const config::config& cfg, int slot) {
  if (!cfg.log.access) return nullptr;
  obs::access_log::options o;
  o.path = cfg.log.access_file;
  o.format = cfg.log.format == "json" ? obs::access_format::json : obs::access_format::plain;
  o.slot = slot;
  o.pid = getpid();
  return std::make_unique<obs::access_log>(std::move(o));
}

std::vector<ip_network> trusted_proxies(const config::config& cfg) {
  std::vector<ip_network> out;
  for (const auto& text : cfg.http.trusted_proxies)
    if (auto n = ip_network::parse(text)) out.push_back(*n);  // the configuration checked each
  return out;
}

// Access lines wait in their chunk at most log.flush_ms; SIGUSR1 (from the
// leader, after logrotate) opens the file again. The signal is caught with
// the log off too: it must never end a worker.
class access_log_keeper {
 public:
  access_log_keeper(asio::io_context& ioc, obs::access_log* log, std::chrono::milliseconds every,
                    shm::counter* dropped)
      : log_(log), every_(every), timer_(ioc), reopen_(ioc, SIGUSR1), dropped_(dropped) {
    if (!log_) return;
    tick();
    wait_for_reopen();
  }
  ~access_log_keeper() {
    if (log_) log_->flush();
  }

 private:
  void tick() {
    timer_.expires_after(every_);
    timer_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      log_->flush();
      count_dropped();
      tick();
    });
  }
  void wait_for_reopen() {
    reopen_.async_wait([this](boost::system::error_code ec, int) {
      if (ec) return;
      log_->reopen();
      wait_for_reopen();
    });
  }

  // Lines dropped since the last tick, into the instance's metrics.
  void count_dropped() {
    if (!dropped_) return;
    auto now = log_->totals().dropped;
    if (now > counted_) dropped_->fetch_add(now - counted_, std::memory_order_relaxed);
    counted_ = now;
  }

  obs::access_log* log_;
  std::chrono::milliseconds every_;
  asio::steady_timer timer_;
  asio::signal_set reopen_;
  shm::counter* dropped_;
  std::uint64_t counted_ = 0;
};

void report_ready(int status_fd, int slot) {
  status_message m{'R', slot, getpid()};
  if (write(status_fd, &m, sizeof m) != static_cast<ssize_t>(sizeof m))
    spdlog::warn("could not tell the leader that this worker is ready");
}

// The event loop, until a stop signal has run its course. The heartbeat
// comes from the loop itself: a loop that is stuck (a CPU hog, a deadlock)
// stops it, and the leader's watchdog acts. The same tick sweeps the
// connections' deadlines.
void serve(asio::io_context& ioc, const config::config& cfg, int slot, const inherited& from,
           const std::function<void()>& heartbeat, http::server_context& ctx, metrics_server* metrics) {
  metrics_copier copier(ctx.metrics, ctx.gauges, ctx.svc.db, ctx.cache, ctx.svc.cpu);
  access_log_keeper log_keeper(ioc, ctx.access_log, std::chrono::milliseconds(cfg.log.flush_ms),
                               ctx.metrics ? &ctx.metrics->access_lines_dropped : nullptr);
  acceptor_loop acceptor(ioc, from.listen_fd, ctx);
  std::optional<acceptor_loop> metrics_acceptor;
  if (metrics) metrics_acceptor.emplace(ioc, from.metrics_fd, metrics->context());
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
  bool stopped = false;
  std::function<void()> beat = [&] {
    heartbeat();
    ctx.sweep();
    if (metrics) metrics->context().sweep();
    copier.tick();
    beat_timer.expires_after(std::chrono::milliseconds(250));
    beat_timer.async_wait([&](boost::system::error_code ec) {
      if (!ec && !stopped) beat();
    });
  };
  beat();

  acceptor.do_accept();
  if (metrics_acceptor) metrics_acceptor->do_accept();
  spdlog::info("serving with {} database connections ({} for reads, {} for writes; {} to each of {} replicas)",
               cfg.database.read_connections + cfg.database.write_connections, cfg.database.read_connections,
               cfg.database.write_connections, cfg.database.replica_connections, cfg.database.replicas.size());
  report_ready(from.status_fd, slot);
  ioc.run();
  // The worker is stopping. A stop signal that comes now (Ctrl-C reaches
  // every process of the group, and the leader passes it on) waits, blocked,
  // instead of finding no handler and cutting short what is left: the
  // database's last answers, the access log's last lines.
  block_stop_signals(true);
  // A beat or a signal whose wait completed in the loop's last turn is
  // still queued, and holds this function's locals: it runs now, while
  // they live, not in close_database()'s last runs of the loop.
  stopped = true;
  beat_timer.cancel();
  signals.cancel();
  for (int round = 0; round < 2; ++round) {  // a second, should a handler have stopped the first
    ioc.restart();
    ioc.poll();
  }
}

}  // namespace

namespace {
sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGTERM, SIGQUIT, SIGINT, SIGUSR1}) sigaddset(&set, sig);
  return set;
}
}  // namespace

void block_stop_signals(bool block) {
  auto set = stop_signals();
  pthread_sigmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, nullptr);
}

void block_only_stop_signals() {
  auto set = stop_signals();
  pthread_sigmask(SIG_SETMASK, &set, nullptr);
}

int run(const config::config& cfg, int slot, const inherited& from, std::function<void()> heartbeat) {
  obs::init_worker(slot, cfg.log.level);
  heartbeat();
  if (!check_schema(cfg, slot)) {
    obs::shutdown();
    return exit_code::worker_boot_failure;
  }

  // The loop first: the database and the bulkhead hand it their answers.
  // It goes last, after the database (whose sockets and timers are its) and
  // while the context still is (the sessions its handlers hold find it).
  auto ioc = std::make_unique<asio::io_context>(1);
  http::read_cache cache(static_cast<std::size_t>(cfg.cache.size_mib) * 1024 * 1024, cfg.cache.enabled,
                         features::read_notice);
  cache.attach(from.notices);
  auto db = store::make_database(*ioc, database_options(cfg, slot, cache));
  auto error = open_database(*ioc, *db);
  if (!error) error = take_slot_socket(from.listen_fd, cfg.listen.backlog);
  if (error) {
    spdlog::error("cannot boot: {}", *error);
    close_database(*ioc, std::move(db));
    obs::shutdown();
    return exit_code::worker_boot_failure;
  }
  http::bulkhead hashing(hashing_options(cfg));
  hashing.resume_on([&ioc](std::coroutine_handle<> h) { asio::post(*ioc, [h] { h.resume(); }); });
  hashing.start();
  hashing.submit([&cfg](bool expired) {
    if (!expired) features::warm_up(cfg);
  });

  auto access_log = open_access_log(cfg, slot);
  shm::slot_metrics* counters = from.metrics ? &from.metrics->slot(static_cast<std::size_t>(slot)) : nullptr;
  shm::gauge_cell* gauges = from.metrics ? from.metrics->claim(static_cast<std::size_t>(slot), getpid()) : nullptr;
  http::router routes;
  http::server_context ctx{routes,   {*db, hashing},       cache, limits_of(cfg), access_log.get(),
                           counters, gauges, trusted_proxies(cfg), {}};
  ctx.svc.attempts = http::attempt_limit(from.attempts, cfg.auth.attempts_per_minute, cfg.auth.attempts_burst,
                                         counters ? &counters->attempts_refused : nullptr,
                                         counters ? &counters->sign_ins_blocked : nullptr);
  ctx.svc.idempotency_ttl_s = cfg.http.idempotency_ttl_s;
  ctx.svc.require_if_match = cfg.http.require_if_match;
  if (counters) ctx.svc.key_outcomes = counters->idempotency;
  features::register_routes(routes, features::deps{cfg});
  add_service_routes(routes, ctx.closing, cache, *db);

  // The metrics' own sessions, like the public ones, end with the loop.
  std::optional<metrics_server> metrics;
  if (from.metrics && from.metrics_fd >= 0) metrics.emplace(from, routes, ctx);

  serve(*ioc, cfg, slot, from, heartbeat, ctx, metrics ? &*metrics : nullptr);

  // The hashing threads' last jobs resume their requests on the loop, which
  // close_database() runs once more.
  hashing.stop();
  close_database(*ioc, std::move(db));
  ioc.reset();
  access_log.reset();  // what is buffered is written
  spdlog::info("stopped");
  obs::shutdown();
  return exit_code::ok;
}

}  // namespace granite::worker
