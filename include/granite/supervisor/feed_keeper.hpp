#pragma once

// The leader's keeper of the instance's change feed (store/change_feed.hpp):
// one process, supervised like a worker (respawned with backoff, watched
// through its heartbeat, stopped last), that serves no HTTP. Its exits come
// from the worker table's reaping, as exits of no worker.
#include <functional>
#include <optional>

#include "granite/config/config.hpp"
#include "granite/supervisor/process_ops.hpp"
#include "granite/supervisor/worker_table.hpp"

namespace granite::supervisor {

// The feed's "slot" for process_ops::spawn and last_heartbeat: past every
// worker's.
inline constexpr int feed_slot = config::max_workers;

class feed_keeper {
 public:
  // `lost`: the feed exited (its ring is no longer proven current);
  // `planned` when it was told to stop.
  feed_keeper(process_ops& ops, timings t, std::function<void(bool planned)> lost = {});

  void start();
  bool running() const { return pid_ != 0; }
  bool owns(pid_t pid) const { return pid != 0 && pid == pid_; }
  void on_exit(int status);
  // Respawns when due; past the stop deadline, SIGKILLs.
  void manage();
  // Silent longer than worker_timeout: SIGABRT, then SIGKILL after abort_grace.
  void watchdog();
  // Stops it (SIGTERM, then SIGKILL after a second and a half) and starts
  // no other.
  void stop();
  // A new one with the configuration in force: this one stops, the next
  // starts once it is reaped.
  void restart();
  void retime(const timings& t) { timings_ = t; }
  std::optional<clock::time_point> next_deadline() const;

 private:
  process_ops& ops_;
  timings timings_;
  std::function<void(bool planned)> lost_;
  pid_t pid_ = 0;
  bool wanted_ = false;
  bool stopping_ = false;
  clock::time_point started_at_{};
  clock::time_point respawn_at_{};
  clock::time_point kill_at_{};
  clock::time_point aborted_at_{};
  int quick_failures_ = 0;
};

}  // namespace granite::supervisor
