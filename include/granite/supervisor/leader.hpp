#pragma once

// The leader's loop, in the manner of Gunicorn's arbiter: wait for a signal
// or a deadline, handle each signal that came (one verb each), reap the
// workers that exited, run the watchdog, and bring the workers back to
// target. What the leader does to the world beyond its children goes
// through leader_io, so that unit tests drive every decision of the loop.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "granite/config/config.hpp"
#include "granite/supervisor/feed_keeper.hpp"
#include "granite/supervisor/process_ops.hpp"
#include "granite/supervisor/worker_table.hpp"
#include "granite/worker/worker.hpp"

namespace granite::supervisor {

// What one wait brought: the signals that arrived (bit n for signal n) and
// the workers' messages.
struct leader_events {
  std::uint64_t signals = 0;
  std::vector<worker::status_message> messages;
  bool has(int sig) const { return (signals >> sig) & 1; }
};

class leader_io {
 public:
  virtual ~leader_io() = default;
  // Waits up to `timeout` for signals or messages (maybe none came).
  virtual leader_events wait(std::chrono::milliseconds timeout) = 0;
  // The configuration read again from where it came (SIGHUP): the file
  // again, the environment and flags of the start. Throws config_error.
  virtual config::config reload_config() = 0;
  // The binary run again as a new leader that inherits these sockets
  // (SIGUSR2): its pid, or -1 when it cannot be started.
  virtual pid_t start_successor(const std::vector<int>& sockets) = 0;
  // Tells the service manager (systemd) how the leader is.
  virtual void notify(std::string_view state) = 0;
};

// How long a new binary may take to serve before the old leader gives up on
// it (its migrations run first).
inline constexpr std::chrono::seconds successor_timeout{120};

// The leader's timings from the configuration.
timings timings_for(const config::config& cfg);

class leader {
 public:
  // `upgrade_from`: the leader this one replaces (binary upgrade), to be told
  // once every worker serves; 0 for none.
  // `feed`: the instance's change feed (null: none, the read cache is off).
  leader(const config::config& cfg, leader_io& io, process_ops& ops, worker_table& table, pid_t upgrade_from,
         feed_keeper* feed = nullptr);

  // The loop, until every worker is gone; the process's exit code.
  int run();
  // One turn of the loop: wait, handle, reap, watch, manage.
  void turn();
  // The configuration in force: what a worker forked now runs with.
  const config::config& current() const { return current_; }

 private:
  void handle_term();   // drain, as a load balancer needs it
  void handle_int();    // INT or QUIT: stop now
  void handle_hup();    // reload the configuration
  void handle_usr2();   // binary upgrade: start the successor
  void handle_winch();  // the successor serves: retire
  void handle_ttin();   // one worker more
  void handle_ttou();   // one worker fewer
  void handle_usr1();   // reopen the access logs (after a rotation)

  void reload();
  bool add_worker();
  bool remove_worker();
  void watch_successor();
  void tell_predecessor();
  void report_state();
  void sample_sockets();  // the slots' accept queues, for the metrics
  void stopping(const char* how);
  std::chrono::milliseconds wait_timeout() const;

  config::config current_;
  leader_io& io_;
  process_ops& ops_;
  worker_table& table_;
  feed_keeper* feed_;
  pid_t predecessor_;                   // told (SIGWINCH) once every worker serves
  pid_t successor_ = 0;                 // a new binary starting (SIGUSR2)
  clock::time_point successor_deadline_{};
  bool announced_ = false;              // READY=1 sent
  bool reload_announced_ = false;       // RELOADING=1 sent, READY=1 not yet again
  bool stop_announced_ = false;         // STOPPING=1 sent
};

}  // namespace granite::supervisor
