#include "granite/supervisor/leader.hpp"

#include <signal.h>
#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>

namespace granite::supervisor {

timings timings_for(const config::config& cfg) {
  timings t;
  // Workers stop by themselves within these; SIGKILL only after.
  t.stop_timeout = std::chrono::seconds(cfg.drain.delay_s + cfg.drain.timeout_s + 1);
  t.retire_timeout = std::chrono::seconds(cfg.drain.timeout_s + 1);
  t.worker_timeout = std::chrono::seconds(cfg.worker.timeout_s);
  t.abort_grace = std::min<std::chrono::milliseconds>(std::chrono::seconds(5), t.worker_timeout);
  return t;
}

leader::leader(const config::config& cfg, leader_io& io, process_ops& ops, worker_table& table, pid_t upgrade_from,
               feed_keeper* feed)
    : current_(cfg), io_(io), ops_(ops), table_(table), feed_(feed), predecessor_(upgrade_from) {}

namespace {
// What the change feed runs with: a change of these replaces it (and if it
// held the stream, every instance's cache is emptied once). Its log level
// stays until it is replaced for another reason.
bool feed_settings_differ(const config::config& a, const config::config& b) {
  return a.database.url != b.database.url || a.database.listen_url != b.database.listen_url ||
         a.database.pooler != b.database.pooler ||
         a.database.connect_timeout_s != b.database.connect_timeout_s ||
         a.database.statement_timeout_ms != b.database.statement_timeout_ms || a.cache.changes != b.cache.changes;
}
}  // namespace

int leader::run() {
  spdlog::info("granite leader starting {} workers on {}:{}", table_.slots().size(), current_.listen.host,
               current_.listen.port);
  if (feed_ && current_.cache.enabled && !feed_->running() && !table_.stopping()) feed_->start();
  table_.manage_workers();
  // The feed goes last: the workers' caches follow it while they drain.
  while (!table_.finished() || (feed_ && feed_->running())) turn();
  table_.close_sockets();
  spdlog::info("granite leader exiting with status {}", table_.exit_code());
  return table_.exit_code();
}

void leader::turn() {
  auto events = io_.wait(wait_timeout());
  if (events.has(SIGTERM)) handle_term();
  if (events.has(SIGINT) || events.has(SIGQUIT)) handle_int();
  if (events.has(SIGHUP)) handle_hup();
  if (events.has(SIGUSR2)) handle_usr2();
  if (events.has(SIGWINCH)) handle_winch();
  if (events.has(SIGTTIN)) handle_ttin();
  if (events.has(SIGTTOU)) handle_ttou();
  if (events.has(SIGUSR1)) handle_usr1();
  for (const auto& m : events.messages)
    if (m.kind == 'R') table_.mark_ready(m.slot, m.pid);
  table_.reap_workers();
  watch_successor();
  tell_predecessor();
  table_.watchdog();
  table_.manage_workers();
  if (feed_) {
    // It stops once every worker has (their caches follow it while they
    // drain), and none starts again while the instance stops.
    if (table_.finished() || (table_.stopping() && !feed_->running())) feed_->stop();
    feed_->watchdog();
    feed_->manage();
  }
  sample_sockets();
  report_state();
}

// For the metrics, at least once a second (the loop's longest wait).
void leader::sample_sockets() {
  for (const auto& w : table_.slots()) ops_.sample_accept_queue(w.slot, w.socket);
}

std::chrono::milliseconds leader::wait_timeout() const {
  auto next = table_.next_deadline();
  if (feed_)
    if (auto f = feed_->next_deadline(); f && (!next || *f < *next)) next = f;
  if (!next) return std::chrono::milliseconds(1000);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*next - ops_.now()).count();
  return std::chrono::milliseconds(std::clamp<long long>(ms + 1, 0, 1000));
}

// --- the signals -------------------------------------------------------------

void leader::handle_term() {
  if (!table_.stopping())
    spdlog::info("SIGTERM: draining ({} s with /health 503, then up to {} s for in-flight requests)",
                 current_.drain.delay_s, current_.drain.timeout_s);
  table_.stop(stop_mode::graceful);
  stopping("draining");
}

void leader::handle_int() {
  table_.stop(stop_mode::fast);
  stopping("stopping");
}

void leader::handle_hup() {
  if (successor_) return spdlog::warn("SIGHUP: ignored while an upgrade is under way");
  if (table_.stopping()) return;
  reload_announced_ = true;
  io_.notify("RELOADING=1\nSTATUS=reloading: replacing the workers one at a time");
  reload();
}

// The new binary is exec'd with the listening sockets; both generations
// accept on them until the new leader, once its workers are ready, sends
// SIGWINCH: then the old workers retire and the old leader exits. If the new
// leader exits or is not ready in time, the old one keeps serving and says
// why (watch_successor).
void leader::handle_usr2() {
  if (table_.stopping()) return;
  if (successor_) return spdlog::warn("SIGUSR2: an upgrade is already under way (pid {})", successor_);
  if (table_.reloading()) return spdlog::warn("SIGUSR2: a reload is under way; send it again once it completes");
  pid_t pid = io_.start_successor(table_.sockets());
  if (pid < 0) return;
  successor_ = pid;
  successor_deadline_ = ops_.now() + successor_timeout;
}

void leader::handle_winch() {
  if (!successor_ || table_.stopping()) return;
  spdlog::info("upgrade: new leader pid={} serves; retiring this leader's workers", successor_);
  table_.stop(stop_mode::retire);
}

void leader::handle_ttin() { add_worker(); }

void leader::handle_ttou() { remove_worker(); }

// The nginx convention: after logrotate has moved the access log away,
// every worker opens it again (lines buffered meanwhile go to the old one).
void leader::handle_usr1() {
  spdlog::info("SIGUSR1: the workers open their access log files again");
  table_.signal_all(reopen_logs_signal);
}

// --- what the verbs share ----------------------------------------------------

// An invalid configuration changes nothing. What the sockets were opened
// with stays until a restart.
void leader::reload() {
  config::config next;
  try {
    next = io_.reload_config();
  } catch (const config::config_error& e) {
    return spdlog::error("SIGHUP: configuration refused, the workers keep serving with the old one: {}", e.what());
  }
  if (next.listen.host != current_.listen.host || next.listen.port != current_.listen.port ||
      next.listen.backlog != current_.listen.backlog) {
    spdlog::warn("SIGHUP: listen.* changes need a restart; keeping {}:{}", current_.listen.host, current_.listen.port);
    next.listen = current_.listen;
  }
  if (next.metrics.listen != current_.metrics.listen) {
    spdlog::warn("SIGHUP: metrics.listen changes need a restart; keeping \"{}\"", current_.metrics.listen);
    next.metrics = current_.metrics;
  }
  spdlog::set_level(spdlog::level::from_str(next.log.level));
  bool feed_changed = feed_settings_differ(current_, next) || current_.cache.enabled != next.cache.enabled;
  current_ = next;
  table_.retime(timings_for(next));
  if (feed_) {
    feed_->retime(timings_for(next));
    if (!next.cache.enabled) feed_->stop();
    else if (feed_changed) feed_->restart();
  }
  // Workers first, at the new count: new slots start with the new configuration.
  auto target = static_cast<std::size_t>(next.worker_count());
  while (table_.slots().size() < target && add_worker()) {
  }
  while (table_.slots().size() > target && remove_worker()) {
  }
  table_.reload();
}

bool leader::add_worker() {
  if (table_.stopping()) return false;
  if (table_.slots().size() >= static_cast<std::size_t>(config::max_workers)) {
    spdlog::warn("already {} workers, the most allowed", config::max_workers);
    return false;
  }
  return table_.add_slot();
}

bool leader::remove_worker() {
  if (table_.stopping()) return false;
  if (table_.retire_slot()) return true;
  spdlog::warn("one worker left; not removing it");
  return false;
}

void leader::watch_successor() {
  for (const auto& e : table_.take_other_exits()) {
    if (feed_ && feed_->owns(e.pid)) {
      feed_->on_exit(e.status);
      continue;
    }
    if (e.pid != successor_) continue;
    if (!table_.stopping())
      spdlog::error("upgrade failed: new leader pid={} {} before it was ready; still serving (its log above says why)",
                    e.pid, describe_exit(e.status));
    successor_ = 0;
  }
  if (successor_ && !table_.stopping() && ops_.now() >= successor_deadline_) {
    spdlog::error("upgrade failed: new leader pid={} not ready within {} s; stopping it, still serving", successor_,
                  successor_timeout.count());
    ops_.signal(successor_, SIGINT);
    successor_deadline_ = ops_.now() + successor_timeout;
  }
}

// We are the new binary of an upgrade: once every worker serves, the old
// leader may retire.
void leader::tell_predecessor() {
  if (!predecessor_ || !table_.all_ready()) return;
  spdlog::info("upgrade: every worker ready; telling the old leader pid={} to retire", predecessor_);
  ops_.signal(predecessor_, SIGWINCH);
  predecessor_ = 0;
}

// What systemd (Type=notify) is told, and when: ready once every worker
// serves, so that `systemctl start` returns only then; reloading from HUP
// until every worker was replaced and the old ones have exited (until they
// have closed their sockets they may still accept); stopping from the first
// TERM/INT. A new binary started by SIGUSR2 names itself the main process
// once its workers serve.
void leader::report_state() {
  if (table_.stopping() || !table_.all_ready() || table_.reloading()) return;
  if (announced_ && !reload_announced_) return;
  if (reload_announced_ && !table_.retiring().empty()) return;
  io_.notify(fmt::format("READY=1\nMAINPID={}\nSTATUS=serving on {}:{} with {} workers", getpid(),
                         current_.listen.host, current_.listen.port, current_.worker_count()));
  announced_ = true;
  reload_announced_ = false;
}

void leader::stopping(const char* how) {
  if (stop_announced_) return;
  stop_announced_ = true;
  io_.notify(fmt::format("STOPPING=1\nSTATUS={}", how));
}

}  // namespace granite::supervisor
