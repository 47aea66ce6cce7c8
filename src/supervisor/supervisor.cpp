#include "granite/supervisor/supervisor.hpp"

#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <optional>

#include "granite/exit_codes.hpp"
#include "granite/shm/heartbeats.hpp"
#include "granite/shm/notice_ring.hpp"
#include "granite/supervisor/leader.hpp"
#include "granite/supervisor/worker_table.hpp"
#include "granite/worker/worker.hpp"
#include "system_io.hpp"

namespace granite::supervisor {

namespace {

// In a new worker: forget the leader's handlers and descriptors, keep only
// the slot's own socket, and die with the leader rather than outlive it.
void become_worker(pid_t leader_pid, system_leader_io& io, const worker_table& table, int keep_fd) {
  worker::block_stop_signals(true);
  io.forget_in_child();
  prctl(PR_SET_PDEATHSIG, SIGINT);
  if (getppid() != leader_pid) _exit(exit_code::failure);
  for (int fd : table.sockets())
    if (fd != keep_fd) close(fd);
}

}  // namespace

int run_leader(const config::config& cfg, const config_source& source, std::vector<int> listen_fds,
               pid_t upgrade_from) {
  system_leader_io io(source);
  const pid_t leader_pid = getpid();
  // Memory the workers share with the leader, mapped before the first fork.
  shm::heartbeats beats(config::max_workers);
  shm::notice_ring notices;  // the workers' change notices

  std::optional<worker_table> table;
  std::optional<leader> the_leader;
  system_process_ops ops(
      [&](int slot) {
        int fd = table->slots().at(static_cast<std::size_t>(slot)).socket;
        become_worker(leader_pid, io, *table, fd);
        // The child's copy of the leader's memory holds the configuration
        // current at the fork.
        return worker::run(the_leader->current(), slot, fd, io.status_writer(), [&beats, slot] { beats.beat(slot); },
                           &notices);
      },
      beats, {cfg.listen.host, cfg.listen.port, cfg.listen.backlog});
  table.emplace(ops, std::move(listen_fds), timings_for(cfg));
  the_leader.emplace(cfg, io, ops, *table, upgrade_from);
  return the_leader->run();
}

}  // namespace granite::supervisor
