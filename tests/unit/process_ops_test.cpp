// The leader's real process operations: how a worker is forked.
#include "granite/supervisor/process_ops.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include "granite/shm/heartbeats.hpp"

using namespace granite;

namespace {

// The child's exit status: 0 when every signal the leader handles was
// blocked from its first instruction on.
int check_mask(int) {
  sigset_t now;
  pthread_sigmask(SIG_SETMASK, nullptr, &now);
  for (int sig : {SIGTERM, SIGQUIT, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD, SIGTTIN, SIGTTOU})
    if (!sigismember(&now, sig)) return 10 + sig;
  return 0;
}

}  // namespace

// A signal sent to a new worker before it has replaced the leader's handlers
// must wait for the worker's own: were it let in, the leader's handler would
// run in the child, and a TERM meant for the worker's drain would be lost.
TEST(ProcessOps, ANewWorkerStartsWithEverySignalBlocked) {
  shm::heartbeats beats(1);
  supervisor::system_process_ops ops(check_mask, beats, {"127.0.0.1", 0, 16});
  sigset_t before, after;
  pthread_sigmask(SIG_SETMASK, nullptr, &before);
  ASSERT_FALSE(sigismember(&before, SIGTERM)) << "the test starts with TERM deliverable";
  pid_t pid = ops.spawn(0);
  ASSERT_GT(pid, 0);
  pthread_sigmask(SIG_SETMASK, nullptr, &after);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "signal " << WEXITSTATUS(status) - 10 << " was not blocked in the child";
  EXPECT_FALSE(sigismember(&after, SIGTERM)) << "the leader's mask is restored after the fork";
  EXPECT_EQ(sigismember(&after, SIGCHLD), sigismember(&before, SIGCHLD));
}
