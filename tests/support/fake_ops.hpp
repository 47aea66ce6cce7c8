#pragma once

// The system as the supervisor's unit tests see it: processes and sockets on
// paper. spawn hands out pids, exits are queued by the test, sockets are
// numbers, and time moves only when the test says so.
#include <deque>
#include <map>
#include <utility>
#include <vector>

#include "granite/supervisor/process_ops.hpp"

namespace granite::testkit {

class fake_ops : public supervisor::process_ops {
 public:
  pid_t spawn(int slot) override {
    if (fail_forks > 0) {
      --fail_forks;
      return -1;
    }
    spawned.push_back(slot);
    return next_pid++;
  }
  void signal(pid_t pid, int sig) override { signals.emplace_back(pid, sig); }
  std::optional<supervisor::exit_info> reap() override {
    if (exits.empty()) return std::nullopt;
    auto e = exits.front();
    exits.pop_front();
    return e;
  }
  supervisor::clock::time_point now() override { return t; }
  supervisor::clock::time_point last_heartbeat(int slot) override {
    return beats.count(slot) ? beats[slot] : supervisor::clock::time_point{};
  }
  int open_socket() override {
    if (fail_sockets > 0) {
      --fail_sockets;
      return -1;
    }
    return next_fd++;
  }
  void close_socket(int fd) override { closed.push_back(fd); }
  void pause_socket(int fd) override { paused.push_back(fd); }
  void forget(pid_t pid) override { forgotten.push_back(pid); }
  void count_restart(int slot, shm::exit_cause cause) override { restarts.emplace_back(slot, cause); }

  void exit(pid_t pid, int code) { exits.push_back({pid, code << 8}); }  // WIFEXITED encoding
  void killed(pid_t pid, int sig) { exits.push_back({pid, sig}); }       // WIFSIGNALED encoding

  supervisor::clock::time_point t{};
  pid_t next_pid = 100;
  int fail_forks = 0;
  int next_fd = 20, fail_sockets = 0;
  std::vector<int> closed;
  std::vector<int> paused;
  std::vector<int> spawned;
  std::vector<std::pair<pid_t, int>> signals;
  std::deque<supervisor::exit_info> exits;
  std::map<int, supervisor::clock::time_point> beats;
  std::vector<pid_t> forgotten;                        // reaped, their gauges released
  std::vector<std::pair<int, shm::exit_cause>> restarts;  // counted in the metrics
};

}  // namespace granite::testkit
