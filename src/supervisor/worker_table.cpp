#include "granite/supervisor/worker_table.hpp"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>

#include <algorithm>

#include "granite/exit_codes.hpp"

namespace granite::supervisor {

worker_table::worker_table(process_ops& ops, std::vector<int> sockets, timings t) : ops_(ops), timings_(t) {
  for (int fd : sockets) slots_.push_back(worker_slot{.slot = static_cast<int>(slots_.size()), .socket = fd});
}

std::vector<int> worker_table::sockets() const {
  std::vector<int> out;
  for (const auto& w : slots_) out.push_back(w.socket);
  return out;
}

void worker_table::close_sockets() {
  for (auto& w : slots_) {
    if (w.socket >= 0) ops_.close_socket(w.socket);
    w.socket = -1;
  }
}

void worker_table::spawn_worker(int slot) {
  auto& w = slots_.at(slot);
  pid_t pid = ops_.spawn(slot);
  if (pid < 0) {
    spdlog::error("cannot fork a worker for slot {}; retrying", slot);
    w.quick_failures++;
    w.respawn_at = ops_.now() + timings_.backoff_max;
    return;
  }
  w.pid = pid;
  w.generation++;
  w.aborted_at = {};
  w.state = worker_state::starting;
  w.started_at = ops_.now();
  if (w.last_pid)
    spdlog::info("worker slot={} pid={} started (generation {}), replacing pid {}", slot, pid, w.generation,
                 w.last_pid);
  else
    spdlog::info("worker slot={} pid={} started (generation {})", slot, pid, w.generation);
}

void worker_table::kill_worker(int slot, int sig) {
  auto& w = slots_.at(slot);
  if (w.state != worker_state::empty) ops_.signal(w.pid, sig);
}

void worker_table::signal_all(int sig) {
  for (const auto& w : slots_) {
    if (w.state != worker_state::empty) ops_.signal(w.pid, sig);
    if (w.outgoing) ops_.signal(w.outgoing, sig);
  }
  for (const auto& r : retiring_) ops_.signal(r.pid, sig);
}

void worker_table::mark_ready(int slot, pid_t pid) {
  if (slot < 0 || slot >= static_cast<int>(slots_.size())) return;
  auto& w = slots_[slot];
  if (w.pid != pid || w.state != worker_state::starting) return;
  w.state = worker_state::ready;
  spdlog::info("worker slot={} pid={} ready", slot, pid);
  if (w.outgoing) {
    spdlog::info("worker slot={} pid={} replaces pid {}", slot, pid, w.outgoing);
    retire(w.outgoing);
    w.outgoing = 0;
    if (to_replace_.empty()) spdlog::info("reload complete: every worker runs the new configuration");
  }
  if (all_ready() && !stopping_ && !reloading()) {
    spdlog::info("all {} workers ready", slots_.size());
    started_ = true;
  }
}

void worker_table::retire(pid_t pid) {
  ops_.signal(pid, retire_signal);
  retiring_.push_back({pid, ops_.now() + timings_.retire_timeout});
}

void worker_table::reap_workers() {
  while (auto exited = ops_.reap()) {
    ops_.forget(exited->pid);
    auto r = std::find_if(retiring_.begin(), retiring_.end(),
                          [&](const retiring_worker& x) { return x.pid == exited->pid; });
    if (r != retiring_.end()) {
      spdlog::info("retired worker pid={} {}", exited->pid, describe_exit(exited->status));
      retiring_.erase(r);
      continue;
    }
    auto old = std::find_if(slots_.begin(), slots_.end(), [&](const worker_slot& w) { return w.outgoing == exited->pid; });
    if (old != slots_.end()) {
      // The old worker died while its replacement was starting: the
      // replacement takes over (or, if it fails too, the slot is refilled).
      spdlog::warn("worker slot={} pid={} {} while being replaced", old->slot, exited->pid,
                   describe_exit(exited->status));
      old->outgoing = 0;
      continue;
    }
    auto it = std::find_if(slots_.begin(), slots_.end(), [&](const worker_slot& w) {
      return w.pid == exited->pid && w.state != worker_state::empty;
    });
    if (it != slots_.end())
      on_exit(*it, exited->status);
    else
      other_exits_.push_back(*exited);
  }
}

bool worker_table::add_slot() {
  int fd = ops_.open_socket();
  if (fd < 0) return false;
  slots_.push_back(worker_slot{.slot = static_cast<int>(slots_.size()), .socket = fd});
  spdlog::info("workers: {} (one more)", slots_.size());
  return true;
}

bool worker_table::retire_slot() {
  if (slots_.size() <= 1) return false;
  auto& w = slots_.back();
  if (w.state != worker_state::empty) {
    spdlog::info("worker slot={} pid={} retiring", w.slot, w.pid);
    retire(w.pid);
  }
  if (w.outgoing) retire(w.outgoing);
  std::erase(to_replace_, w.slot);
  // With net.ipv4.tcp_migrate_req=1 the kernel also hands the connections
  // already queued on it to the other sockets.
  if (w.socket >= 0) ops_.close_socket(w.socket);
  slots_.pop_back();
  spdlog::info("workers: {} (one fewer)", slots_.size());
  return true;
}

void worker_table::on_exit(worker_slot& w, int status) {
  pid_t pid = w.pid;
  auto lived = ops_.now() - w.started_at;
  bool was_ready = w.state == worker_state::ready;
  w.state = worker_state::empty;
  w.last_pid = pid;
  w.pid = 0;
  if (stopping_) {
    spdlog::info("worker slot={} pid={} {}", w.slot, pid, describe_exit(status));
    return;
  }
  spdlog::warn("worker slot={} pid={} {}", w.slot, pid, describe_exit(status));
  bool boot_failure = WIFEXITED(status) && WEXITSTATUS(status) == exit_code::worker_boot_failure;
  ops_.count_restart(w.slot, w.aborted_at != clock::time_point{} ? shm::exit_cause::watchdog
                             : WIFSIGNALED(status)            ? shm::exit_cause::signaled
                             : boot_failure                   ? shm::exit_cause::boot
                                                              : shm::exit_cause::exited);

  if (w.outgoing && !was_ready) {
    spdlog::error("reload abandoned: the new worker in slot {} {} before it was ready; pid {} and the other "
                  "workers keep serving with the configuration they have",
                  w.slot, describe_exit(status), w.outgoing);
    w.pid = w.outgoing;
    w.outgoing = 0;
    w.state = worker_state::ready;
    to_replace_.clear();
    return;
  }

  if (boot_failure && !started_) {
    // The instance is starting: a worker that cannot boot (a bad
    // configuration, a schema too new, no database) means none will, and
    // systemd should say so rather than respawn for ever.
    spdlog::critical("worker slot={} could not boot (see its error above); stopping granite", w.slot);
    return fail(exit_code::worker_boot_failure);
  }
  if (boot_failure) {
    // Once started, only this slot waits, and takes no connections
    // meanwhile: the others serve them.
    spdlog::error("worker slot={} could not boot (see its error above); its socket takes no connections and the "
                  "other workers serve them while it is retried",
                  w.slot);
    ops_.pause_socket(w.socket);
  }

  if (lived >= timings_.stable_after && was_ready) {
    w.quick_failures = 0;
    w.respawn_at = ops_.now();
  } else {
    auto delay = timings_.backoff_first * (1 << std::min(w.quick_failures, 16));
    delay = std::min(delay, timings_.backoff_max);
    w.quick_failures++;
    w.respawn_at = ops_.now() + delay;
    spdlog::warn("slot {} failed {} times in a row; next worker in {} ms", w.slot, w.quick_failures,
                 std::chrono::duration_cast<std::chrono::milliseconds>(delay).count());
  }

  // One bad slot is retried for ever; when every slot keeps failing, the
  // instance is broken and systemd (and the Auto Scaling group) should know.
  bool all_looping = std::all_of(slots_.begin(), slots_.end(), [&](const worker_slot& s) {
    return s.quick_failures >= timings_.crash_loop_after;
  });
  if (all_looping) {
    spdlog::critical("every worker slot failed {} times in a row; stopping granite", timings_.crash_loop_after);
    fail(exit_code::workers_crash_looping);
  }
}

void worker_table::watchdog() {
  auto now = ops_.now();
  for (auto& r : retiring_)
    if (!stopping_ && now >= r.kill_at) {
      spdlog::warn("retiring worker pid={} still running at its deadline; killing it", r.pid);
      ops_.signal(r.pid, SIGKILL);
      r.kill_at = now + std::chrono::seconds(1);
    }
  if (stopping_ || timings_.worker_timeout.count() == 0) return;
  for (auto& w : slots_) {
    if (w.state != worker_state::ready) continue;
    if (w.aborted_at != clock::time_point{}) {
      if (now - w.aborted_at >= timings_.abort_grace) {
        spdlog::error("worker slot={} pid={} still there {} ms after SIGABRT; killing it", w.slot, w.pid,
                      timings_.abort_grace.count());
        ops_.signal(w.pid, SIGKILL);
        w.aborted_at = now;  // again only after another grace
      }
      continue;
    }
    auto silent = now - std::max(ops_.last_heartbeat(w.slot), w.started_at);
    if (silent >= timings_.worker_timeout) {
      spdlog::error("worker slot={} pid={} silent for {} ms (worker.timeout_s); aborting it", w.slot, w.pid,
                    std::chrono::duration_cast<std::chrono::milliseconds>(silent).count());
      ops_.signal(w.pid, SIGABRT);
      w.aborted_at = now;
    }
  }
}

void worker_table::fail(int code) {
  if (exit_code_ == 0) exit_code_ = code;
  stop(stop_mode::graceful);
}

void worker_table::manage_workers() {
  auto now = ops_.now();
  if (stopping_) {
    if (now < kill_at_) return;
    for (auto& w : slots_) {
      if (w.state != worker_state::empty) {
        spdlog::warn("worker slot={} pid={} still running at the stop deadline; killing it", w.slot, w.pid);
        ops_.signal(w.pid, SIGKILL);
      }
      if (w.outgoing) ops_.signal(w.outgoing, SIGKILL);
    }
    for (const auto& r : retiring_) ops_.signal(r.pid, SIGKILL);
    kill_at_ = now + std::chrono::seconds(1);  // not again until SIGCHLD had its chance
    return;
  }
  for (auto& w : slots_) {
    if (w.state == worker_state::empty && now >= w.respawn_at) spawn_worker(w.slot);
    // A worker that stays up ends its slot's run of failures.
    if (w.state == worker_state::ready && now - w.started_at >= timings_.stable_after) w.quick_failures = 0;
  }
  replace_next();
}

void worker_table::reload() {
  if (stopping_) return;
  to_replace_.clear();
  for (const auto& w : slots_) to_replace_.push_back(w.slot);
  spdlog::info("reload: replacing {} workers one slot at a time", to_replace_.size());
  replace_next();
}

bool worker_table::reloading() const {
  return !to_replace_.empty() ||
         std::any_of(slots_.begin(), slots_.end(), [](const worker_slot& w) { return w.outgoing != 0; });
}

// One slot at a time: the next only once the previous replacement is ready.
void worker_table::replace_next() {
  if (stopping_ || to_replace_.empty()) return;
  if (std::any_of(slots_.begin(), slots_.end(), [](const worker_slot& w) { return w.outgoing != 0; })) return;
  int slot = to_replace_.front();
  auto& w = slots_.at(slot);
  if (w.state == worker_state::starting) return;  // wait: it may have been forked before the reload
  to_replace_.erase(to_replace_.begin());
  if (w.state == worker_state::empty) return replace_next();  // it will be forked with the new configuration
  w.outgoing = w.pid;
  w.last_pid = w.pid;  // for the log line: "replacing pid ..."
  spawn_worker(slot);
  if (w.state != worker_state::starting) {  // fork failed: keep the old worker
    w.pid = w.outgoing;
    w.outgoing = 0;
    w.state = worker_state::ready;
  }
}

void worker_table::stop(stop_mode mode) {
  if (mode_ == stop_mode::fast) {
    spdlog::warn("asked to stop again: killing every worker now");
    kill_at_ = ops_.now();
    manage_workers();
    return;
  }
  if (mode_) mode = stop_mode::fast;  // asked again: skip the drain
  if (mode == stop_mode::fast) spdlog::info("stopping now: in-flight requests get a second");
  stopping_ = true;
  mode_ = mode;
  // A stopping leader starts no worker: its copies of the listening sockets
  // go now, so that each socket closes once its worker stops accepting, and
  // a connection that comes later is refused (a load balancer tries another
  // target) instead of waiting in a queue nobody reads until the last
  // process exits and resets it.
  close_sockets();
  auto timeout = mode == stop_mode::fast     ? timings_.fast_stop_timeout
                 : mode == stop_mode::retire ? timings_.retire_timeout
                                             : timings_.stop_timeout;
  auto deadline = ops_.now() + timeout;
  kill_at_ = kill_at_ == clock::time_point{} ? deadline : std::min(kill_at_, deadline);
  int sig = mode == stop_mode::fast ? fast_stop_signal : mode == stop_mode::retire ? retire_signal : drain_signal;
  to_replace_.clear();
  for (auto& w : slots_) {
    kill_worker(w.slot, sig);
    if (w.outgoing) ops_.signal(w.outgoing, sig);
  }
  for (const auto& r : retiring_) ops_.signal(r.pid, sig);
}

bool worker_table::finished() const {
  return stopping_ && retiring_.empty() && std::all_of(slots_.begin(), slots_.end(), [](const worker_slot& w) {
           return w.state == worker_state::empty && w.outgoing == 0;
         });
}

bool worker_table::all_ready() const {
  return std::all_of(slots_.begin(), slots_.end(), [](const worker_slot& w) { return w.state == worker_state::ready; });
}

std::optional<clock::time_point> worker_table::next_deadline() const {
  if (stopping_) return finished() ? std::nullopt : std::optional(kill_at_);
  std::optional<clock::time_point> next;
  for (const auto& w : slots_)
    if (w.state == worker_state::empty && (!next || w.respawn_at < *next)) next = w.respawn_at;
  return next;
}

}  // namespace granite::supervisor
