#include "granite/supervisor/worker_table.hpp"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>

#include <algorithm>

#include "granite/exit_codes.hpp"

namespace granite::supervisor {

worker_table::worker_table(process_ops& ops, int workers, timings t) : ops_(ops), timings_(t) {
  for (int i = 0; i < workers; ++i) slots_.push_back(worker_slot{.slot = i});
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

void worker_table::mark_ready(int slot, pid_t pid) {
  if (slot < 0 || slot >= static_cast<int>(slots_.size())) return;
  auto& w = slots_[slot];
  if (w.pid != pid || w.state != worker_state::starting) return;
  w.state = worker_state::ready;
  w.ever_ready = true;
  spdlog::info("worker slot={} pid={} ready", slot, pid);
  if (all_ready() && !stopping_) spdlog::info("all {} workers ready", slots_.size());
}

void worker_table::reap_workers() {
  while (auto exited = ops_.reap()) {
    if (auto r = std::find(retiring_.begin(), retiring_.end(), exited->pid); r != retiring_.end()) {
      spdlog::info("retired worker pid={} {}", exited->pid, describe_exit(exited->status));
      retiring_.erase(r);
      continue;
    }
    auto it = std::find_if(slots_.begin(), slots_.end(), [&](const worker_slot& w) {
      return w.pid == exited->pid && w.state != worker_state::empty;
    });
    if (it != slots_.end()) on_exit(*it, exited->status);
  }
}

void worker_table::add_slot() {
  slots_.push_back(worker_slot{.slot = static_cast<int>(slots_.size())});
  spdlog::info("workers: {} (one more)", slots_.size());
}

bool worker_table::retire_slot() {
  if (slots_.size() <= 1) return false;
  auto& w = slots_.back();
  if (w.state != worker_state::empty) {
    ops_.signal(w.pid, retire_signal);
    retiring_.push_back(w.pid);
    spdlog::info("worker slot={} pid={} retiring", w.slot, w.pid);
  }
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
  if (boot_failure && !w.ever_ready) {
    // Nothing in this slot ever served: respawning would fail the same way.
    spdlog::critical("worker slot={} could not boot (see its error above); stopping granite", w.slot);
    return fail(exit_code::worker_boot_failure);
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
  if (stopping_ || timings_.worker_timeout.count() == 0) return;
  auto now = ops_.now();
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
    for (auto& w : slots_)
      if (w.state != worker_state::empty) {
        spdlog::warn("worker slot={} pid={} still running at the stop deadline; killing it", w.slot, w.pid);
        ops_.signal(w.pid, SIGKILL);
      }
    for (pid_t pid : retiring_) ops_.signal(pid, SIGKILL);
    kill_at_ = now + std::chrono::seconds(1);  // not again until SIGCHLD had its chance
    return;
  }
  for (auto& w : slots_) {
    if (w.state == worker_state::empty && now >= w.respawn_at) spawn_worker(w.slot);
    // A worker that stays up ends its slot's run of failures.
    if (w.state == worker_state::ready && now - w.started_at >= timings_.stable_after) w.quick_failures = 0;
  }
}

void worker_table::stop(stop_mode mode) {
  if (mode_ == stop_mode::fast) {
    spdlog::warn("asked to stop again: killing every worker now");
    kill_at_ = ops_.now();
    manage_workers();
    return;
  }
  if (mode_ == stop_mode::graceful) mode = stop_mode::fast;  // asked twice: skip the drain
  if (mode == stop_mode::fast) spdlog::info("stopping now: in-flight requests get a second");
  stopping_ = true;
  mode_ = mode;
  auto deadline = ops_.now() + (mode == stop_mode::fast ? timings_.fast_stop_timeout : timings_.stop_timeout);
  kill_at_ = kill_at_ == clock::time_point{} ? deadline : std::min(kill_at_, deadline);
  int sig = mode == stop_mode::fast ? fast_stop_signal : drain_signal;
  for (auto& w : slots_) kill_worker(w.slot, sig);
  for (pid_t pid : retiring_) ops_.signal(pid, sig);
}

bool worker_table::finished() const {
  return stopping_ && retiring_.empty() &&
         std::all_of(slots_.begin(), slots_.end(), [](const worker_slot& w) { return w.state == worker_state::empty; });
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
