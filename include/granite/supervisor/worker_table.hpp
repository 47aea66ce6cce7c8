#pragma once

#include <optional>
#include <vector>

#include "granite/supervisor/process_ops.hpp"

namespace granite::supervisor {

enum class worker_state { empty, starting, ready };

// One row per worker slot, in the spirit of nginx's ngx_processes[].
struct worker_slot {
  int slot = 0;
  pid_t pid = 0;
  pid_t last_pid = 0;  // the slot's previous worker, for the log
  int generation = 0;  // how many workers this slot has had
  worker_state state = worker_state::empty;
  clock::time_point started_at{};
  clock::time_point respawn_at{};  // an empty slot is filled from then on
  int quick_failures = 0;          // consecutive exits soon after start
  bool ever_ready = false;         // some worker of this slot has served
};

struct timings {
  std::chrono::milliseconds stop_timeout{4000};   // graceful stop, then SIGKILL
  std::chrono::milliseconds stable_after{1000};   // a worker living this long was not crash-looping
  std::chrono::milliseconds backoff_first{100};
  std::chrono::milliseconds backoff_max{10000};
};

// The leader's decisions: which slot to fill, when, and when to give up.
// The verbs are the leader loop's: spawn_worker, kill_worker, reap_workers,
// manage_workers, stop.
class worker_table {
 public:
  worker_table(process_ops& ops, int workers, timings t = {});

  void spawn_worker(int slot);
  void kill_worker(int slot, int sig);
  // Collects every exited worker and decides each slot's next step.
  void reap_workers();
  // Fills empty slots whose time has come; past the stop deadline, SIGKILLs.
  void manage_workers();
  // Graceful: SIGTERM to every worker, SIGKILL at the deadline. Asked again
  // while stopping, it SIGKILLs at once.
  void stop();
  void mark_ready(int slot, pid_t pid);

  bool stopping() const { return stopping_; }
  bool finished() const;  // stopping and no worker left
  int exit_code() const { return exit_code_; }
  bool all_ready() const;
  // When manage_workers() next has something to do (a respawn or the kill
  // deadline), for the loop's poll timeout.
  std::optional<clock::time_point> next_deadline() const;
  const std::vector<worker_slot>& slots() const { return slots_; }

 private:
  void on_exit(worker_slot& w, int status);
  void fail(int code);

  process_ops& ops_;
  timings timings_;
  std::vector<worker_slot> slots_;
  bool stopping_ = false;
  clock::time_point kill_at_{};
  int exit_code_ = 0;
};

}  // namespace granite::supervisor
