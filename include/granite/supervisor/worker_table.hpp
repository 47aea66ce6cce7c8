#pragma once

#include <csignal>
#include <optional>
#include <utility>
#include <vector>

#include "granite/supervisor/process_ops.hpp"

namespace granite::supervisor {

enum class worker_state { empty, starting, ready };

// One row per worker slot, in the spirit of nginx's ngx_processes[]: the
// slot's listening socket lives here, for the slot's whole life, whichever
// worker serves it.
struct worker_slot {
  int slot = 0;
  int socket = -1;
  pid_t pid = 0;
  pid_t last_pid = 0;  // the slot's previous worker, for the log
  int generation = 0;  // how many workers this slot has had
  worker_state state = worker_state::empty;
  clock::time_point started_at{};
  clock::time_point respawn_at{};  // an empty slot is filled from then on
  int quick_failures = 0;          // consecutive exits soon after start
  clock::time_point aborted_at{};  // when the watchdog sent SIGABRT (epoch: not yet)
  pid_t outgoing = 0;              // during a reload: the old worker, serving until `pid` is ready
};

// A worker of a removed or replaced slot, finishing its in-flight requests.
struct retiring_worker {
  pid_t pid;
  clock::time_point kill_at;
};

// What the leader tells a worker with each signal.
inline constexpr int drain_signal = SIGTERM;     // load-balancer drain: delay, then finish in-flight
inline constexpr int retire_signal = SIGQUIT;    // stop accepting now, finish in-flight
inline constexpr int fast_stop_signal = SIGINT;  // stop accepting now, in-flight get a second
inline constexpr int reopen_logs_signal = SIGUSR1;  // open the access log file again (after a rotation)

// graceful: the load-balancer drain. fast: now. retire: a successor serves
// the same sockets, so no drain delay: stop accepting, finish in-flight.
enum class stop_mode { graceful, fast, retire };

struct timings {
  std::chrono::milliseconds stop_timeout{26000};  // graceful stop (drain), then SIGKILL
  std::chrono::milliseconds fast_stop_timeout{1500};  // fast stop, then SIGKILL
  std::chrono::milliseconds retire_timeout{11000};    // a retiring worker, then SIGKILL
  std::chrono::milliseconds stable_after{1000};   // a worker living this long was not crash-looping
  std::chrono::milliseconds backoff_first{100};
  std::chrono::milliseconds backoff_max{10000};
  std::chrono::milliseconds worker_timeout{30000};  // silent this long: SIGABRT; zero: no watchdog
  std::chrono::milliseconds abort_grace{5000};      // then SIGKILL after this
  int crash_loop_after = 5;  // consecutive quick failures that make a slot crash-looping
};

// The leader's decisions: which slot to fill, when, and when to give up.
// The verbs are the leader loop's: spawn_worker, kill_worker, reap_workers,
// manage_workers, add_slot, retire_slot, reload, stop.
class worker_table {
 public:
  // One slot per listening socket; the table owns them from now on.
  worker_table(process_ops& ops, std::vector<int> sockets, timings t = {});

  void spawn_worker(int slot);
  void kill_worker(int slot, int sig);
  // Every worker alive: serving, starting, outgoing and retiring ones.
  void signal_all(int sig);
  // Collects every exited worker and decides each slot's next step.
  void reap_workers();
  // Fills empty slots whose time has come; past the stop deadline, SIGKILLs.
  void manage_workers();
  // A ready worker whose heartbeat is older than worker_timeout is stuck:
  // SIGABRT (a core dump shows where), then SIGKILL after abort_grace.
  void watchdog();
  // One slot more, with a socket of its own; manage_workers fills it. False
  // when its socket cannot be opened.
  bool add_slot();
  // The last slot goes: its socket closes at once, so that new connections
  // go to the other slots' sockets, and its worker is told to retire (finish
  // in-flight requests) and is reaped without being replaced. False with one
  // slot left.
  bool retire_slot();
  // graceful: every worker drains (SIGTERM). fast: every worker stops now
  // (SIGINT). Each has its deadline, then SIGKILL. A fast stop asked again
  // kills at once.
  void stop(stop_mode mode);
  // Replaces every worker, one slot at a time: a new worker is forked into
  // the slot while the old one keeps serving on the same socket; once the new
  // one is ready the old one retires. If a new worker exits before it is
  // ready, the old one keeps the slot and the reload is abandoned.
  void reload();
  bool reloading() const;
  // New timings (after a reload of the configuration).
  void retime(const timings& t) { timings_ = t; }
  void mark_ready(int slot, pid_t pid);

  bool stopping() const { return stopping_; }
  // Children that are not workers (a new leader during an upgrade) which
  // reap_workers collected; the caller decides what their exit means.
  std::vector<exit_info> take_other_exits() { return std::exchange(other_exits_, {}); }
  bool finished() const;  // stopping and no worker left, retiring ones included
  int exit_code() const { return exit_code_; }
  bool all_ready() const;
  // When manage_workers() next has something to do (a respawn or the kill
  // deadline), for the loop's poll timeout.
  std::optional<clock::time_point> next_deadline() const;
  const std::vector<worker_slot>& slots() const { return slots_; }
  // Every slot's socket, in slot order (what a new binary inherits).
  std::vector<int> sockets() const;
  // Closes every slot's socket (the leader is about to exit).
  void close_sockets();
  const std::vector<retiring_worker>& retiring() const { return retiring_; }

 private:
  void on_exit(worker_slot& w, int status);
  void fail(int code);
  void retire(pid_t pid);
  void replace_next();

  process_ops& ops_;
  timings timings_;
  std::vector<worker_slot> slots_;
  std::vector<retiring_worker> retiring_;
  std::vector<int> to_replace_;  // slots a reload has yet to replace, in order
  std::vector<exit_info> other_exits_;
  bool stopping_ = false;
  std::optional<stop_mode> mode_;
  clock::time_point kill_at_{};
  int exit_code_ = 0;
  // Every slot has served at once: the instance's start is over, and a
  // worker that cannot boot from now on is retried, not fatal.
  bool started_ = false;
};

}  // namespace granite::supervisor
