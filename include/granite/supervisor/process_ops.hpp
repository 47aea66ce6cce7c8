#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "granite/shm/heartbeats.hpp"
#include "granite/shm/metrics.hpp"

namespace granite::supervisor {

using clock = std::chrono::steady_clock;

struct exit_info {
  pid_t pid;
  int status;  // as waitpid(2) reports it
};

// Everything the worker table does to the system (processes, and the slots'
// listening sockets) behind one small interface, so that unit tests drive
// respawn, backoff, resizing and shutdown without forking.
class process_ops {
 public:
  virtual ~process_ops() = default;
  virtual pid_t spawn(int slot) = 0;  // -1 when fork failed
  virtual void signal(pid_t pid, int sig) = 0;
  virtual std::optional<exit_info> reap() = 0;  // one exited child, without waiting
  virtual clock::time_point now() = 0;
  // When the worker of this slot last showed that its event loop runs.
  virtual clock::time_point last_heartbeat(int slot) = 0;
  // One more socket for the instance's SO_REUSEPORT group, for a new slot:
  // bound, not yet listening (its worker listens once it has booted); -1
  // (logged) when it cannot be opened.
  virtual int open_socket() = 0;
  virtual void close_socket(int fd) = 0;
  // The slot's socket leaves the group until a worker of the slot has booted
  // and listens on it again: a slot without a worker takes no connections.
  virtual void pause_socket(int fd) = 0;
  // A worker was reaped, whatever it was doing: what it held in the
  // instance's metrics (its gauges) goes with it.
  virtual void forget(pid_t) {}
  // A slot's serving worker ended unplanned, for this cause: counted.
  virtual void count_restart(int /*slot*/, shm::exit_cause) {}
  // How many connections wait in a slot's listening socket: for the metrics.
  virtual void sample_accept_queue(int /*slot*/, int /*fd*/) {}
};

// Where the slots' sockets listen.
struct listen_address {
  std::string host;
  int port;
  int backlog;
};

// The real thing: fork(2), kill(2), waitpid(2), socket(2). The child runs
// child_main(slot) and exits with what it returns.
class system_process_ops : public process_ops {
 public:
  system_process_ops(std::function<int(int slot)> child_main, const shm::heartbeats& beats, listen_address address,
                     shm::metrics_memory* metrics = nullptr)
      : child_main_(std::move(child_main)), beats_(beats), address_(std::move(address)), metrics_(metrics) {}
  pid_t spawn(int slot) override;
  void signal(pid_t pid, int sig) override;
  std::optional<exit_info> reap() override;
  clock::time_point now() override { return clock::now(); }
  clock::time_point last_heartbeat(int slot) override { return beats_.last(static_cast<std::size_t>(slot)); }
  int open_socket() override;
  void close_socket(int fd) override;
  void pause_socket(int fd) override;
  void forget(pid_t pid) override;
  void count_restart(int slot, shm::exit_cause cause) override;
  void sample_accept_queue(int slot, int fd) override;

 private:
  std::function<int(int slot)> child_main_;
  const shm::heartbeats& beats_;
  listen_address address_;
  shm::metrics_memory* metrics_;
};

// "exited with status 3", "killed by signal 9 (SIGKILL)"
std::string describe_exit(int status);

}  // namespace granite::supervisor
