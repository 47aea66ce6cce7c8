#include "granite/supervisor/supervisor.hpp"

#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <optional>

#include "granite/exit_codes.hpp"
#include "granite/shm/client_buckets.hpp"
#include "granite/shm/heartbeats.hpp"
#include "granite/shm/metrics.hpp"
#include "granite/shm/notice_ring.hpp"
#include "granite/network.hpp"
#include "granite/supervisor/feed_keeper.hpp"
#include "granite/supervisor/leader.hpp"
#include "granite/supervisor/listen_sockets.hpp"
#include "granite/supervisor/worker_table.hpp"
#include "granite/worker/worker.hpp"
#include "system_io.hpp"

namespace granite::supervisor {

namespace {

// In a new worker: forget the leader's handlers and descriptors, keep only
// the slot's own socket (and the metrics listener, which every worker
// serves), and die with the leader rather than outlive it.
void become_worker(pid_t leader_pid, system_leader_io& io, const worker_table& table, int keep_fd) {
  io.forget_in_child();  // the handlers are the defaults: the signals may come in
  worker::block_only_stop_signals();
  prctl(PR_SET_PDEATHSIG, SIGINT);
  if (getppid() != leader_pid) _exit(exit_code::failure);
  for (int fd : table.sockets())
    if (fd != keep_fd) close(fd);
}

// The change feed's process keeps no socket of the leader's: it serves none.
// Its name tells it from the workers in ps and top.
void become_feed(pid_t leader_pid, system_leader_io& io, const worker_table& table, int metrics_fd) {
  become_worker(leader_pid, io, table, -1);
  if (metrics_fd >= 0) close(metrics_fd);
  prctl(PR_SET_NAME, "granite-changes");
}

// The metrics' own listener (metrics.listen), which every worker serves:
// one socket for the instance. SO_REUSEPORT lets a binary upgrade's new
// leader open its own beside the old one's; anyone else listening there
// stops the start. -1: no metrics listener.
int open_metrics_socket(const config::config& cfg, bool upgrading) {
  auto where = host_port::parse(cfg.metrics.listen);
  if (!where) return -1;
  int fd = upgrading ? add_listen_socket(where->host, where->port, 64)
                     : open_listen_sockets(where->host, where->port, 64, 1).front();
  spdlog::info("metrics on http://{}/metrics", cfg.metrics.listen);
  return fd;
}

}  // namespace

int run_leader(const config::config& cfg, const config_source& source, std::vector<int> listen_fds,
               pid_t upgrade_from) {
  system_leader_io io(source);
  const pid_t leader_pid = getpid();
  // Memory the workers share with the leader, mapped before the first fork.
  shm::heartbeats beats(feed_slot + 1);  // the workers', then the feed's
  shm::notice_ring notices;  // the instance's change notices (the feed's and the writers')
  shm::metrics_memory metrics(config::max_workers);
  shm::client_buckets attempts;  // sign-in attempts per client
  int metrics_fd = open_metrics_socket(cfg, upgrade_from != 0);

  std::optional<worker_table> table;
  std::optional<leader> the_leader;
  system_process_ops ops(
      [&](int slot) {
        if (slot == feed_slot) {
          become_feed(leader_pid, io, *table, metrics_fd);
          return worker::run_feed(the_leader->current(), {&notices, metrics_fd >= 0 ? &metrics : nullptr},
                                  [&beats] { beats.beat(feed_slot); });
        }
        int fd = table->slots().at(static_cast<std::size_t>(slot)).socket;
        become_worker(leader_pid, io, *table, fd);
        // The child's copy of the leader's memory holds the configuration
        // current at the fork.
        return worker::run(the_leader->current(), slot,
                           {fd, metrics_fd, io.status_writer(), &notices, metrics_fd >= 0 ? &metrics : nullptr, &beats,
                            &attempts},
                           [&beats, slot] { beats.beat(slot); });
      },
      beats, {cfg.listen.host, cfg.listen.port, cfg.listen.backlog}, &metrics);
  table.emplace(ops, std::move(listen_fds), timings_for(cfg));
  feed_keeper feed(ops, timings_for(cfg), [&notices, &metrics](bool planned) {
    notices.distrust();
    metrics.feed().running.store(0, std::memory_order_relaxed);
    metrics.feed().holding.store(0, std::memory_order_relaxed);
    if (!planned) metrics.feed().restarts.fetch_add(1, std::memory_order_relaxed);
  });
  the_leader.emplace(cfg, io, ops, *table, upgrade_from, &feed);
  return the_leader->run();
}

}  // namespace granite::supervisor
