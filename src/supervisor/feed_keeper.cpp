#include "granite/supervisor/feed_keeper.hpp"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace granite::supervisor {

feed_keeper::feed_keeper(process_ops& ops, timings t, std::function<void(bool)> lost)
    : ops_(ops), timings_(t), lost_(std::move(lost)) {}

void feed_keeper::start() {
  wanted_ = true;
  stopping_ = false;
  if (pid_) return;
  pid_t pid = ops_.spawn(feed_slot);
  if (pid < 0) {
    spdlog::error("cannot fork the change feed; retrying");
    respawn_at_ = ops_.now() + timings_.backoff_max;
    return;
  }
  pid_ = pid;
  started_at_ = ops_.now();
  aborted_at_ = {};
  spdlog::info("change feed pid={} started", pid);
}

void feed_keeper::on_exit(int status) {
  pid_t pid = pid_;
  pid_ = 0;
  if (lost_) lost_(!wanted_ || stopping_);
  ops_.forget(pid);
  if (!wanted_ || stopping_) {
    spdlog::info("change feed pid={} {}", pid, describe_exit(status));
    stopping_ = false;
    return;
  }
  spdlog::warn("change feed pid={} {}; the workers bypass their read caches until its successor proves them current",
               pid, describe_exit(status));
  if (ops_.now() - started_at_ >= timings_.stable_after) quick_failures_ = 0;
  auto delay = quick_failures_ == 0 ? std::chrono::milliseconds(0)
                                    : std::min(timings_.backoff_first * (1 << std::min(quick_failures_, 16)),
                                               timings_.backoff_max);
  quick_failures_++;
  respawn_at_ = ops_.now() + delay;
}

void feed_keeper::manage() {
  auto now = ops_.now();
  if (pid_ && stopping_ && now >= kill_at_) {
    spdlog::warn("change feed pid={} still running at its stop deadline; killing it", pid_);
    ops_.signal(pid_, SIGKILL);
    kill_at_ = now + std::chrono::seconds(1);
  }
  if (!pid_ && wanted_ && now >= respawn_at_) start();
}

void feed_keeper::watchdog() {
  if (!pid_ || stopping_ || timings_.worker_timeout.count() == 0) return;
  auto now = ops_.now();
  if (aborted_at_ != clock::time_point{}) {
    if (now - aborted_at_ >= timings_.abort_grace) {
      ops_.signal(pid_, SIGKILL);
      aborted_at_ = now;
    }
    return;
  }
  auto silent = now - std::max(ops_.last_heartbeat(feed_slot), started_at_);
  if (silent >= timings_.worker_timeout) {
    spdlog::error("change feed pid={} silent for {} ms (worker.timeout_s); aborting it", pid_,
                  std::chrono::duration_cast<std::chrono::milliseconds>(silent).count());
    ops_.signal(pid_, SIGABRT);
    aborted_at_ = now;
  }
}

void feed_keeper::stop() {
  wanted_ = false;
  if (!pid_ || stopping_) return;
  stopping_ = true;
  ops_.signal(pid_, SIGTERM);
  kill_at_ = ops_.now() + timings_.fast_stop_timeout;
}

void feed_keeper::restart() {
  if (!pid_) return start();
  spdlog::info("change feed pid={} replaced: its settings changed", pid_);
  stopping_ = true;
  ops_.signal(pid_, SIGTERM);
  kill_at_ = ops_.now() + timings_.fast_stop_timeout;
  wanted_ = true;
  respawn_at_ = ops_.now();
}

std::optional<clock::time_point> feed_keeper::next_deadline() const {
  if (pid_ && stopping_) return kill_at_;
  if (!pid_ && wanted_) return respawn_at_;
  return std::nullopt;
}

}  // namespace granite::supervisor
