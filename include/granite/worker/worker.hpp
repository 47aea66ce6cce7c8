#pragma once

#include <sys/types.h>

#include <functional>

namespace granite::config {
struct config;
}

namespace granite::shm {
class notice_ring;
}

namespace granite::worker {

// What a worker tells the leader through the status pipe. Small enough to be
// written atomically (PIPE_BUF).
struct status_message {
  char kind;  // 'R': ready to serve
  int slot;
  pid_t pid;
};

// The signals that stop a worker, and SIGUSR1 (reopen the access log). The
// leader blocks them in a new worker until run() can handle them, so one
// sent during boot waits instead of killing it with the default action.
void block_stop_signals(bool block);

// Runs one worker in the forked child until it is told to stop. Everything it
// uses (event loop, logger, database connections) is created here, after the
// fork. `heartbeat` is called from the event loop four times a second, for
// the leader's watchdog. `notices` is the instance's ring of change notices
// (see shm/notice_ring.hpp), shared with the other workers. Returns the
// process exit code.
int run(const config::config& cfg, int slot, int listen_fd, int status_fd, std::function<void()> heartbeat,
        shm::notice_ring* notices);

}  // namespace granite::worker
