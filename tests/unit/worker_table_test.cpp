#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include "granite/exit_codes.hpp"
#include "granite/supervisor/worker_table.hpp"
#include "support/fake_ops.hpp"

using namespace granite::supervisor;
using granite::testkit::fake_ops;
using namespace std::chrono_literals;

namespace {

struct WorkerTable : ::testing::Test {
  fake_ops ops;
  worker_table table{ops, {10, 11}};

  void start_all_ready() {
    table.manage_workers();
    for (const auto& w : table.slots()) table.mark_ready(w.slot, w.pid);
  }
};

}  // namespace

TEST_F(WorkerTable, FillsEverySlotAtStart) {
  table.manage_workers();
  EXPECT_EQ(ops.spawned, (std::vector<int>{0, 1}));
  EXPECT_EQ(table.slots()[0].pid, 100);
  EXPECT_EQ(table.slots()[1].pid, 101);
  EXPECT_FALSE(table.all_ready());
  table.mark_ready(0, 100);
  table.mark_ready(1, 101);
  EXPECT_TRUE(table.all_ready());
}

TEST_F(WorkerTable, ReadinessFromAStalePidIsIgnored) {
  table.manage_workers();
  table.mark_ready(0, 999);
  table.mark_ready(7, 100);
  EXPECT_EQ(table.slots()[0].state, worker_state::starting);
}

TEST_F(WorkerTable, AStableWorkerThatDiesIsReplacedAtOnceInItsSlot) {
  start_all_ready();
  ops.t += 10s;
  ops.killed(101, SIGKILL);
  table.reap_workers();
  EXPECT_EQ(table.slots()[1].state, worker_state::empty);
  EXPECT_EQ(table.next_deadline(), ops.t);
  table.manage_workers();
  EXPECT_EQ(ops.spawned, (std::vector<int>{0, 1, 1}));
  EXPECT_EQ(table.slots()[1].pid, 102);
  EXPECT_EQ(table.slots()[1].generation, 2);
  EXPECT_EQ(table.slots()[1].last_pid, 101);
  EXPECT_EQ(table.slots()[0].pid, 100);  // the other slot is untouched
}

TEST_F(WorkerTable, ACrashLoopBacksOffExponentiallyUpToTheCap) {
  start_all_ready();
  ops.t += 10s;
  std::vector<clock::duration> delays;
  for (int i = 0; i < 10; ++i) {
    ops.exit(table.slots()[0].pid, 1);  // dies at once, every time
    table.reap_workers();
    auto delay = *table.next_deadline() - ops.t;
    delays.push_back(delay);
    if (delay > 0s) {
      table.manage_workers();  // too early: nothing happens
      EXPECT_EQ(table.slots()[0].state, worker_state::empty);
    }
    ops.t += delay;
    table.manage_workers();
    EXPECT_EQ(table.slots()[0].state, worker_state::starting);
  }
  EXPECT_EQ(delays[0], 0s);  // the first exit of a stable worker is not a loop
  EXPECT_EQ(delays[1], 100ms);
  EXPECT_EQ(delays[2], 200ms);
  EXPECT_EQ(delays[3], 400ms);
  EXPECT_EQ(delays.back(), 10s);
}

TEST_F(WorkerTable, BackoffResetsOnceAWorkerStaysUp) {
  start_all_ready();
  ops.t += 10s;
  for (int i = 0; i < 3; ++i) {
    ops.exit(table.slots()[0].pid, 1);
    table.reap_workers();
    ops.t = *table.next_deadline();
    table.manage_workers();
  }
  EXPECT_GT(table.slots()[0].quick_failures, 1);
  table.mark_ready(0, table.slots()[0].pid);
  ops.t += 5s;
  ops.exit(table.slots()[0].pid, 1);
  table.reap_workers();
  EXPECT_EQ(*table.next_deadline(), ops.t);
  EXPECT_EQ(table.slots()[0].quick_failures, 0);
}

TEST_F(WorkerTable, BootFailureBeforeAnyWorkerServedStopsEverything) {
  table.manage_workers();
  table.mark_ready(1, 101);
  ops.exit(100, granite::exit_code::worker_boot_failure);
  table.reap_workers();
  EXPECT_TRUE(table.stopping());
  EXPECT_EQ(table.exit_code(), granite::exit_code::worker_boot_failure);
  ASSERT_EQ(ops.signals.size(), 1u);  // the other worker is told to stop
  EXPECT_EQ(ops.signals[0], std::make_pair(pid_t{101}, SIGTERM));
  table.manage_workers();
  EXPECT_EQ(ops.spawned.size(), 2u);  // and nothing is respawned
  ops.exit(101, 0);
  table.reap_workers();
  EXPECT_TRUE(table.finished());
}

TEST_F(WorkerTable, BootFailureAfterTheSlotHasServedIsRetriedWithBackoff) {
  start_all_ready();
  ops.t += 10s;
  ops.killed(100, SIGSEGV);
  table.reap_workers();
  table.manage_workers();
  ops.exit(102, granite::exit_code::worker_boot_failure);  // e.g. the database is briefly down
  table.reap_workers();
  EXPECT_FALSE(table.stopping());
  EXPECT_GT(*table.next_deadline(), ops.t);
}

// Halting on a boot failure belongs to the instance's start. A slot added
// later (SIGTTIN, a reload to more workers) that cannot boot, say because
// the database is briefly unreachable or has no connection to spare, backs
// off and is retried while the serving workers go on.
TEST_F(WorkerTable, ASlotAddedAfterTheStartThatCannotBootIsRetriedWhileTheOthersServe) {
  using granite::shm::exit_cause;
  start_all_ready();
  ops.t += 10s;
  ASSERT_TRUE(table.add_slot());
  table.manage_workers();
  ASSERT_EQ(table.slots()[2].pid, 102);
  std::vector<clock::duration> delays;
  for (pid_t pid = 102; pid < 106; ++pid) {
    ASSERT_EQ(table.slots()[2].pid, pid);
    ops.exit(pid, granite::exit_code::worker_boot_failure);
    table.reap_workers();
    ASSERT_FALSE(table.stopping()) << "a slot that could not boot stopped the instance";
    delays.push_back(*table.next_deadline() - ops.t);
    ops.t = *table.next_deadline();
    table.manage_workers();
  }
  EXPECT_EQ(delays, (std::vector<clock::duration>{100ms, 200ms, 400ms, 800ms}));
  EXPECT_TRUE(ops.signals.empty()) << "a serving worker was signalled";
  EXPECT_EQ(ops.paused, (std::vector<int>(4, 20))) << "the slot's socket took connections while it had no worker";
  EXPECT_EQ(ops.restarts.size(), 4u);
  EXPECT_EQ(ops.restarts.front(), std::make_pair(2, exit_cause::boot));
  table.mark_ready(2, 106);  // the database is back
  EXPECT_TRUE(table.all_ready());
}

TEST_F(WorkerTable, GracefulStopDrainsThenKillsAtTheDeadline) {
  start_all_ready();
  table.stop(stop_mode::graceful);
  EXPECT_TRUE(table.stopping());
  EXPECT_EQ(ops.signals, (std::vector<std::pair<pid_t, int>>{{100, SIGTERM}, {101, SIGTERM}}));
  // The leader's copies of the sockets go at once: each closes when its
  // worker stops accepting, and later connections are refused.
  EXPECT_EQ(ops.closed, (std::vector<int>{10, 11}));
  ops.exit(100, 0);
  table.reap_workers();
  EXPECT_FALSE(table.finished());
  ops.t += 25s;
  table.manage_workers();
  EXPECT_EQ(ops.signals.size(), 2u);  // before the deadline: no SIGKILL
  ops.t += 1s;
  table.manage_workers();
  EXPECT_EQ(ops.signals.back(), std::make_pair(pid_t{101}, SIGKILL));
  ops.killed(101, SIGKILL);
  table.reap_workers();
  EXPECT_TRUE(table.finished());
  EXPECT_EQ(table.exit_code(), 0);
  EXPECT_EQ(ops.spawned.size(), 2u);  // nothing respawned while stopping
}

TEST_F(WorkerTable, FastStopInterruptsAndHasAShortDeadline) {
  start_all_ready();
  table.stop(stop_mode::fast);
  EXPECT_EQ(ops.signals, (std::vector<std::pair<pid_t, int>>{{100, SIGINT}, {101, SIGINT}}));
  ops.t += 1500ms;
  table.manage_workers();
  EXPECT_EQ(ops.signals.back().second, SIGKILL);
}

TEST_F(WorkerTable, SecondStopDuringADrainGoesFastAndAThirdKills) {
  start_all_ready();
  table.stop(stop_mode::graceful);
  table.stop(stop_mode::graceful);  // SIGTERM again
  ASSERT_EQ(ops.signals.size(), 4u);
  EXPECT_EQ(ops.signals[2], std::make_pair(pid_t{100}, SIGINT));
  EXPECT_EQ(*table.next_deadline(), ops.t + 1500ms);  // the drain's long deadline is cut short
  table.stop(stop_mode::fast);
  ASSERT_EQ(ops.signals.size(), 6u);
  EXPECT_EQ(ops.signals[4].second, SIGKILL);
  EXPECT_EQ(ops.signals[5].second, SIGKILL);
}

TEST_F(WorkerTable, AddSlotIsFilledAndRetireSlotIsNotRespawned) {
  start_all_ready();
  table.add_slot();
  table.manage_workers();
  ASSERT_EQ(table.slots().size(), 3u);
  EXPECT_EQ(table.slots()[2].pid, 102);
  EXPECT_EQ(ops.spawned.back(), 2);

  ASSERT_TRUE(table.retire_slot());
  EXPECT_EQ(table.slots().size(), 2u);
  EXPECT_EQ(ops.signals.back(), std::make_pair(pid_t{102}, SIGQUIT));
  ASSERT_EQ(table.retiring().size(), 1u);
  EXPECT_EQ(table.retiring()[0].pid, 102);
  ops.exit(102, 0);
  table.reap_workers();
  table.manage_workers();
  EXPECT_TRUE(table.retiring().empty());
  EXPECT_EQ(ops.spawned.size(), 3u);  // the retired worker is not replaced

  ASSERT_TRUE(table.retire_slot());
  EXPECT_FALSE(table.retire_slot());  // the last worker stays
  EXPECT_EQ(table.slots().size(), 1u);
}

TEST_F(WorkerTable, StopWaitsForRetiringWorkersToo) {
  start_all_ready();
  table.retire_slot();
  table.stop(stop_mode::graceful);
  EXPECT_EQ(ops.signals.back(), std::make_pair(pid_t{101}, SIGTERM));
  ops.exit(100, 0);
  table.reap_workers();
  EXPECT_FALSE(table.finished());
  ops.exit(101, 0);
  table.reap_workers();
  EXPECT_TRUE(table.finished());
}

TEST_F(WorkerTable, FailedForkIsRetriedLater) {
  ops.fail_forks = 1;
  table.manage_workers();
  EXPECT_EQ(table.slots()[0].state, worker_state::empty);
  EXPECT_EQ(table.slots()[1].state, worker_state::starting);
  ops.t = *table.next_deadline();
  table.manage_workers();
  EXPECT_EQ(table.slots()[0].state, worker_state::starting);
}

TEST_F(WorkerTable, WatchdogAbortsASilentWorkerThenKillsIt) {
  start_all_ready();
  for (int i = 0; i < 29; ++i) {  // slot 0 beats every second; slot 1 falls silent
    ops.t += 1s;
    ops.beats[0] = ops.t;
    table.watchdog();
  }
  EXPECT_TRUE(ops.signals.empty());
  ops.t += 1s;
  ops.beats[0] = ops.t;
  table.watchdog();
  ASSERT_EQ(ops.signals.size(), 1u);
  EXPECT_EQ(ops.signals[0], std::make_pair(pid_t{101}, SIGABRT));
  ops.t += 4s;
  table.watchdog();
  EXPECT_EQ(ops.signals.size(), 1u);  // the grace is not over
  ops.t += 1s;
  table.watchdog();
  ASSERT_EQ(ops.signals.size(), 2u);
  EXPECT_EQ(ops.signals[1], std::make_pair(pid_t{101}, SIGKILL));
  ops.killed(101, SIGKILL);
  table.reap_workers();
  table.manage_workers();
  EXPECT_EQ(table.slots()[1].pid, 102);  // replaced at once: it had served
  EXPECT_EQ(table.slots()[1].aborted_at, clock::time_point{});
}

TEST_F(WorkerTable, WatchdogLeavesStartingAndStoppingWorkersAlone) {
  table.manage_workers();  // starting, never beating
  ops.t += 60s;
  table.watchdog();
  EXPECT_TRUE(ops.signals.empty());
  for (const auto& w : table.slots()) table.mark_ready(w.slot, w.pid);
  table.stop(stop_mode::graceful);
  ops.signals.clear();
  ops.t += 60s;
  table.watchdog();
  EXPECT_TRUE(ops.signals.empty());
}

TEST(WorkerTableWatchdog, ZeroTimeoutTurnsItOff) {
  fake_ops ops;
  worker_table table(ops, {10}, timings{.worker_timeout = std::chrono::milliseconds(0)});
  table.manage_workers();
  table.mark_ready(0, 100);
  ops.t += 1h;
  table.watchdog();
  EXPECT_TRUE(ops.signals.empty());
}

TEST_F(WorkerTable, EverySlotCrashLoopingStopsTheLeader) {
  start_all_ready();
  ops.t += 10s;
  for (int round = 0; round < 6 && !table.stopping(); ++round) {
    for (const auto& w : table.slots())
      if (w.state != worker_state::empty) ops.exit(w.pid, 1);
    table.reap_workers();
    if (auto next = table.next_deadline()) ops.t = std::max(ops.t, *next);
    table.manage_workers();
  }
  EXPECT_TRUE(table.stopping());
  EXPECT_EQ(table.exit_code(), granite::exit_code::workers_crash_looping);
}

TEST_F(WorkerTable, OneCrashLoopingSlotIsRetriedForEver) {
  start_all_ready();
  for (int round = 0; round < 20; ++round) {
    ops.t += 10s;  // slot 1 stays up all along
    table.manage_workers();
    ops.exit(table.slots()[0].pid, 1);
    table.reap_workers();
    ops.t = *table.next_deadline();
    table.manage_workers();
  }
  EXPECT_FALSE(table.stopping());
  EXPECT_GE(table.slots()[0].quick_failures, 10);
}

TEST_F(WorkerTable, ReloadReplacesOneSlotAtATimeOnlyOnceTheNewWorkerIsReady) {
  start_all_ready();
  ops.t += 10s;
  table.reload();
  EXPECT_TRUE(table.reloading());
  // Slot 0 gets a new worker; the old one keeps serving until it is ready.
  EXPECT_EQ(ops.spawned, (std::vector<int>{0, 1, 0}));
  EXPECT_EQ(table.slots()[0].pid, 102);
  EXPECT_EQ(table.slots()[0].outgoing, 100);
  EXPECT_TRUE(ops.signals.empty());
  table.manage_workers();
  EXPECT_EQ(ops.spawned.size(), 3u);  // slot 1 waits its turn
  table.mark_ready(0, 102);
  EXPECT_EQ(ops.signals, (std::vector<std::pair<pid_t, int>>{{100, SIGQUIT}}));
  EXPECT_EQ(table.slots()[0].outgoing, 0);
  table.manage_workers();
  EXPECT_EQ(ops.spawned.back(), 1);
  EXPECT_EQ(table.slots()[1].outgoing, 101);
  table.mark_ready(1, 103);
  EXPECT_EQ(ops.signals.back(), std::make_pair(pid_t{101}, SIGQUIT));
  EXPECT_FALSE(table.reloading());
  ops.exit(100, 0);
  ops.exit(101, 0);
  table.reap_workers();
  table.manage_workers();
  EXPECT_TRUE(table.retiring().empty());
  EXPECT_EQ(ops.spawned.size(), 4u);  // the retired workers are not replaced again
  EXPECT_TRUE(table.all_ready());
}

TEST_F(WorkerTable, AReplacementThatDiesBeforeItIsReadyGivesTheSlotBack) {
  start_all_ready();
  ops.t += 10s;
  table.reload();
  ops.exit(102, granite::exit_code::worker_boot_failure);  // e.g. the new configuration cannot reach the database
  table.reap_workers();
  EXPECT_FALSE(table.stopping());  // not a boot failure of granite: the old worker serves
  EXPECT_EQ(table.slots()[0].pid, 100);
  EXPECT_EQ(table.slots()[0].state, worker_state::ready);
  EXPECT_FALSE(table.reloading());
  table.manage_workers();
  EXPECT_EQ(ops.spawned.size(), 3u);  // slot 1 is not touched
  EXPECT_TRUE(ops.signals.empty());
}

TEST_F(WorkerTable, StopDuringAReloadStopsOldAndNewWorkers) {
  start_all_ready();
  table.reload();
  table.stop(stop_mode::fast);
  EXPECT_EQ(ops.signals, (std::vector<std::pair<pid_t, int>>{{102, SIGINT}, {100, SIGINT}, {101, SIGINT}}));
  ops.exit(100, 0);
  ops.exit(101, 0);
  table.reap_workers();
  EXPECT_FALSE(table.finished());
  ops.exit(102, 0);
  table.reap_workers();
  EXPECT_TRUE(table.finished());
}

TEST_F(WorkerTable, RetiringWorkersAreKilledAtTheirDeadline) {
  start_all_ready();
  table.retire_slot();
  ops.t += 10s;
  table.watchdog();
  EXPECT_EQ(ops.signals.size(), 1u);
  ops.t += 1s;
  table.watchdog();
  EXPECT_EQ(ops.signals.back(), std::make_pair(pid_t{101}, SIGKILL));
}

TEST(DescribeExit, NamesStatusAndSignal) {
  EXPECT_EQ(describe_exit(3 << 8), "exited with status 3");
  EXPECT_EQ(describe_exit(SIGKILL), "killed by signal 9 (SIGKILL)");
}

TEST_F(WorkerTable, EachSlotKeepsItsSocketWhicheverWorkerServesIt) {
  start_all_ready();
  EXPECT_EQ(table.sockets(), (std::vector<int>{10, 11}));
  ops.t += 10s;
  ops.killed(100, SIGKILL);
  table.reap_workers();
  table.manage_workers();
  EXPECT_EQ(table.slots()[0].socket, 10);  // the replacement inherits it; queued connections wait there
  EXPECT_TRUE(ops.closed.empty());
  ASSERT_TRUE(table.add_slot());
  EXPECT_EQ(table.slots()[2].socket, 20);
  ops.fail_sockets = 1;
  EXPECT_FALSE(table.add_slot());  // no socket, no slot
  EXPECT_EQ(table.slots().size(), 3u);
  ASSERT_TRUE(table.retire_slot());
  EXPECT_EQ(ops.closed, std::vector<int>{20});
  table.close_sockets();
  EXPECT_EQ(ops.closed, (std::vector<int>{20, 10, 11}));
}

TEST_F(WorkerTable, UnplannedEndsAreCountedByCauseAndEveryReapedWorkerIsForgotten) {
  using granite::shm::exit_cause;
  start_all_ready();
  ops.t += 10s;
  ops.exit(100, 1);
  ops.killed(101, SIGSEGV);
  table.reap_workers();
  table.manage_workers();  // 102 in slot 0, 103 in slot 1
  for (const auto& w : table.slots()) table.mark_ready(w.slot, w.pid);
  ops.t += 10s;
  ops.beats[0] = ops.t;
  ops.t += 30s;
  ops.beats[0] = ops.t;
  table.watchdog();  // slot 1 has been silent: SIGABRT
  ops.killed(103, SIGABRT);
  table.reap_workers();
  EXPECT_EQ(ops.restarts, (std::vector<std::pair<int, exit_cause>>{
                              {0, exit_cause::exited}, {1, exit_cause::signaled}, {1, exit_cause::watchdog}}));
  // Planned ends are not restarts: a retired slot, and a stop.
  table.manage_workers();
  table.retire_slot();
  ops.exit(104, 0);
  table.reap_workers();
  table.stop(stop_mode::fast);
  ops.exit(102, 0);
  table.reap_workers();
  EXPECT_EQ(ops.restarts.size(), 3u);
  EXPECT_EQ(ops.forgotten, (std::vector<pid_t>{100, 101, 103, 104, 102}));
}
