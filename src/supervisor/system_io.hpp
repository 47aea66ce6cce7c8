#pragma once

// The leader's real world (leader_io): signals recorded by handlers that only
// set a bit and write to a pipe (the self-pipe), the workers' status pipe,
// the configuration's sources, exec of a new binary and the service manager.
#include "granite/supervisor/leader.hpp"
#include "granite/supervisor/service_manager.hpp"
#include "granite/supervisor/supervisor.hpp"

namespace granite::supervisor {

class system_leader_io : public leader_io {
 public:
  // Creates the pipes and installs the signal handlers, for the rest of the
  // process's life: a signal that arrives as the leader exits is still only
  // recorded.
  explicit system_leader_io(const config_source& source);
  system_leader_io(const system_leader_io&) = delete;
  system_leader_io& operator=(const system_leader_io&) = delete;

  leader_events wait(std::chrono::milliseconds timeout) override;
  config::config reload_config() override;
  pid_t start_successor(const std::vector<int>& sockets) override;
  void notify(std::string_view state) override { service_manager_.notify(state); }

  // Where a worker writes its status messages.
  int status_writer() const { return status_pipe_[1]; }
  // In a new worker: the leader's handlers and its ends of the pipes go.
  void forget_in_child();

 private:
  const config_source& source_;
  service_manager service_manager_;
  int status_pipe_[2] = {-1, -1};
};

}  // namespace granite::supervisor
