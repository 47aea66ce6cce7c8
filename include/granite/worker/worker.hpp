#pragma once

#include <sys/types.h>

#include <functional>

namespace granite::config {
struct config;
}

namespace granite::shm {
class notice_ring;
class metrics_memory;
class heartbeats;
class client_buckets;
}

namespace granite::worker {

// What a worker tells the leader through the status pipe. Small enough to be
// written atomically (PIPE_BUF).
struct status_message {
  char kind;  // 'R': ready to serve
  int slot;
  pid_t pid;
};

// The signals that stop a worker, and SIGUSR1 (reopen the access log). A
// new worker is forked with every signal blocked (so that none runs a
// leader's handler in it); once its handlers are the defaults it lets all
// in but these, which wait until run() can handle them: one sent during
// boot waits instead of killing it with the default action.
void block_stop_signals(bool block);
void block_only_stop_signals();

// What a worker gets from its leader across the fork.
struct inherited {
  int listen_fd;   // the slot's listening socket
  int metrics_fd;  // the instance's metrics listener; -1: none
  int status_fd;   // the pipe to the leader (status_message)
  shm::notice_ring* notices;     // the instance's change notices (see shm/notice_ring.hpp)
  shm::metrics_memory* metrics;  // the instance's metrics (see shm/metrics.hpp); null: none
  const shm::heartbeats* beats;  // every slot's heartbeat, for the metrics
  shm::client_buckets* attempts;  // the instance's sign-in attempts per client
};

// What the change feed's process gets from its leader across the fork.
struct feed_inherited {
  shm::notice_ring* notices;     // where it puts every change, and how current they are
  shm::metrics_memory* metrics;  // null: none
};

// Runs the instance's change feed (store/change_feed.hpp) in the forked
// child until it is told to stop (SIGTERM, SIGINT, SIGQUIT); `heartbeat` is
// called ten times a second, for the leader's watchdog. It serves no HTTP.
int run_feed(const config::config& cfg, const feed_inherited& from, std::function<void()> heartbeat);

// Runs one worker in the forked child until it is told to stop. Everything it
// uses (event loop, logger, database connections) is created here, after the
// fork. `heartbeat` is called from the event loop four times a second, for
// the leader's watchdog. Returns the process exit code.
int run(const config::config& cfg, int slot, const inherited& from, std::function<void()> heartbeat);

}  // namespace granite::worker
