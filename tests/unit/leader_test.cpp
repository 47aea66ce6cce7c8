// The leader's loop, driven turn by turn with signals, messages and
// processes on paper: what each signal makes it do, and what systemd is told.
#include "granite/supervisor/leader.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <deque>
#include <functional>
#include <string>

#include "support/fake_ops.hpp"

using namespace granite;
using namespace granite::supervisor;
using namespace std::chrono_literals;
using granite::testkit::fake_ops;

namespace {

// What the loop waits for comes from the test; what it tells the world is kept.
class fake_io : public leader_io {
 public:
  leader_events wait(std::chrono::milliseconds timeout) override {
    waits.push_back(timeout);
    if (queued.empty()) return {};
    auto e = std::move(queued.front());
    queued.pop_front();
    return e;
  }
  config::config reload_config() override { return reload(); }
  pid_t start_successor(const std::vector<int>& sockets) override {
    successor_sockets.push_back(sockets);
    return successor_pid;
  }
  void notify(std::string_view state) override { told.emplace_back(state); }

  void signal(int sig) { queued.push_back({std::uint64_t{1} << sig, {}}); }
  void signals(std::initializer_list<int> sigs) {
    leader_events e;
    for (int sig : sigs) e.signals |= std::uint64_t{1} << sig;
    queued.push_back(e);
  }
  void ready(int slot, pid_t pid) { queued.push_back({0, {{'R', slot, pid}}}); }
  // How many of the notices sent so far start with `prefix`.
  int told_count(std::string_view prefix) const {
    int n = 0;
    for (const auto& t : told) n += t.starts_with(prefix);
    return n;
  }

  std::deque<leader_events> queued;
  std::vector<std::chrono::milliseconds> waits;
  std::function<config::config()> reload = [] { return config::config{}; };
  pid_t successor_pid = 900;
  std::vector<std::vector<int>> successor_sockets;
  std::vector<std::string> told;
};

config::config two_workers() {
  config::config c;
  c.workers = 2;
  return c;
}

struct Leader : ::testing::Test {
  fake_ops ops;
  fake_io io;
  worker_table table{ops, {10, 11}, timings_for(two_workers())};
  pid_t upgrade_from = 0;
  std::optional<leader> the_leader;

  leader& l() {
    if (!the_leader) the_leader.emplace(two_workers(), io, ops, table, upgrade_from);
    return *the_leader;
  }
  // Starts both workers and lets them report ready: pids 100 and 101.
  void start_serving() {
    l().turn();
    io.ready(0, 100);
    io.ready(1, 101);
    l().turn();
    l().turn();
  }
  std::vector<std::pair<pid_t, int>> signals_since(std::size_t from) const {
    return {ops.signals.begin() + static_cast<std::ptrdiff_t>(from), ops.signals.end()};
  }
};

}  // namespace

TEST_F(Leader, FillsEverySlotAndTellsSystemdOnceEveryWorkerServes) {
  l().turn();
  EXPECT_EQ(ops.spawned, (std::vector<int>{0, 1}));
  io.ready(0, 100);
  l().turn();
  EXPECT_EQ(io.told_count("READY=1"), 0);  // one of two is not enough
  io.ready(1, 101);
  l().turn();
  ASSERT_EQ(io.told_count("READY=1"), 1);
  EXPECT_NE(io.told.back().find("MAINPID=" + std::to_string(getpid())), std::string::npos);
  EXPECT_NE(io.told.back().find("with 2 workers"), std::string::npos);
  l().turn();
  EXPECT_EQ(io.told_count("READY=1"), 1);  // said once
}

TEST_F(Leader, TermDrainsEveryWorkerAndTheLoopEndsWhenTheyHaveExited) {
  start_serving();
  auto before = ops.signals.size();
  io.signal(SIGTERM);
  l().turn();
  EXPECT_EQ(signals_since(before), (std::vector<std::pair<pid_t, int>>{{100, drain_signal}, {101, drain_signal}}));
  EXPECT_EQ(io.told_count("STOPPING=1"), 1);
  EXPECT_TRUE(table.stopping());
  ops.exit(100, 0);
  ops.exit(101, 0);
  EXPECT_EQ(l().run(), 0);
  EXPECT_EQ(ops.closed, (std::vector<int>{10, 11}));  // the sockets close only as the leader exits
  EXPECT_EQ(ops.spawned.size(), 2u);                  // nothing respawned during the stop
}

TEST_F(Leader, IntAndQuitInOneTurnStopFastOnceAndASecondStopKills) {
  start_serving();
  auto before = ops.signals.size();
  io.signals({SIGINT, SIGQUIT});
  l().turn();
  EXPECT_EQ(signals_since(before), (std::vector<std::pair<pid_t, int>>{{100, fast_stop_signal}, {101, fast_stop_signal}}));
  io.signal(SIGINT);
  l().turn();
  EXPECT_EQ(ops.signals.back(), std::make_pair(pid_t{101}, SIGKILL));
  EXPECT_EQ(io.told_count("STOPPING=1"), 1);
}

TEST_F(Leader, HupWithAnInvalidConfigurationChangesNothing) {
  start_serving();
  io.reload = []() -> config::config { throw config::config_error("config: workers = -1 is out of range"); };
  io.signal(SIGHUP);
  l().turn();
  EXPECT_EQ(ops.spawned.size(), 2u);
  EXPECT_FALSE(table.reloading());
  EXPECT_EQ(l().current().workers, 2);
  EXPECT_EQ(io.told_count("RELOADING=1"), 1);
  EXPECT_EQ(io.told_count("READY=1"), 2);  // and ready again at once: nothing to wait for
}

TEST_F(Leader, HupReplacesOneSlotAtATimeAndIsReadyOnceTheOldWorkersHaveExited) {
  start_serving();
  io.reload = [] {
    auto c = two_workers();
    c.log.access = false;
    return c;
  };
  io.signal(SIGHUP);
  l().turn();
  EXPECT_FALSE(l().current().log.access);  // what the new workers are forked with
  EXPECT_EQ(ops.spawned, (std::vector<int>{0, 1, 0}));  // slot 0's successor; slot 1 waits
  io.ready(0, 102);
  l().turn();
  EXPECT_EQ(ops.signals.back(), std::make_pair(pid_t{100}, retire_signal));
  EXPECT_EQ(ops.spawned, (std::vector<int>{0, 1, 0, 1}));
  io.ready(1, 103);
  l().turn();
  EXPECT_EQ(ops.signals.back(), std::make_pair(pid_t{101}, retire_signal));
  EXPECT_EQ(io.told_count("READY=1"), 1);  // the old workers may still accept
  ops.exit(100, 0);
  ops.exit(101, 0);
  l().turn();
  EXPECT_EQ(io.told_count("READY=1"), 2);
  EXPECT_EQ(ops.spawned.size(), 4u);  // the retired workers are not replaced
}

TEST_F(Leader, HupToMoreWorkersOpensASocketForEachNewSlot) {
  start_serving();
  io.reload = [] {
    auto c = two_workers();
    c.workers = 3;
    return c;
  };
  io.signal(SIGHUP);
  l().turn();
  ASSERT_EQ(table.slots().size(), 3u);
  EXPECT_EQ(table.slots()[2].socket, 20);
  EXPECT_EQ(table.sockets(), (std::vector<int>{10, 11, 20}));
}

TEST_F(Leader, TtinAddsASlotWithASocketOfItsOwnAndTtouRetiresItButNeverTheLast) {
  start_serving();
  io.signal(SIGTTIN);
  l().turn();
  ASSERT_EQ(table.slots().size(), 3u);
  EXPECT_EQ(ops.spawned.back(), 2);
  io.signal(SIGTTOU);
  l().turn();
  EXPECT_EQ(table.slots().size(), 2u);
  EXPECT_EQ(ops.closed, std::vector<int>{20});  // at once: new connections go to the other sockets
  EXPECT_EQ(ops.signals.back(), std::make_pair(pid_t{102}, retire_signal));
  io.signal(SIGTTOU);
  l().turn();
  io.signal(SIGTTOU);
  l().turn();
  EXPECT_EQ(table.slots().size(), 1u);
  EXPECT_EQ(ops.closed, (std::vector<int>{20, 11}));
}

TEST_F(Leader, TtinThatCannotOpenASocketAddsNoSlot) {
  start_serving();
  ops.fail_sockets = 1;
  io.signal(SIGTTIN);
  l().turn();
  EXPECT_EQ(table.slots().size(), 2u);
  EXPECT_EQ(ops.spawned.size(), 2u);
}

TEST_F(Leader, Usr2HandsEverySocketToTheNewBinaryAndWinchRetiresTheOldWorkers) {
  start_serving();
  io.signal(SIGUSR2);
  l().turn();
  ASSERT_EQ(io.successor_sockets.size(), 1u);
  EXPECT_EQ(io.successor_sockets[0], (std::vector<int>{10, 11}));
  io.signal(SIGUSR2);  // once is enough
  l().turn();
  EXPECT_EQ(io.successor_sockets.size(), 1u);
  io.signal(SIGHUP);  // no reload in the middle of an upgrade
  l().turn();
  EXPECT_EQ(io.told_count("RELOADING=1"), 0);
  auto before = ops.signals.size();
  io.signal(SIGWINCH);  // the new leader serves
  l().turn();
  EXPECT_EQ(signals_since(before), (std::vector<std::pair<pid_t, int>>{{100, retire_signal}, {101, retire_signal}}));
  EXPECT_EQ(io.told_count("STOPPING=1"), 0);  // a STOPPING=1 from the old leader would stop the unit
}

TEST_F(Leader, ANewBinaryThatExitsBeforeItServesLeavesTheOldOneServing) {
  start_serving();
  io.signal(SIGUSR2);
  l().turn();
  ops.exit(900, 78);  // e.g. its configuration is invalid
  l().turn();
  EXPECT_FALSE(table.stopping());
  io.signal(SIGWINCH);  // a stray one means nothing now
  l().turn();
  EXPECT_FALSE(table.stopping());
  io.signal(SIGUSR2);  // and another upgrade may be tried
  l().turn();
  EXPECT_EQ(io.successor_sockets.size(), 2u);
}

TEST_F(Leader, ANewBinaryThatIsNotReadyInTimeIsStopped) {
  start_serving();
  io.signal(SIGUSR2);
  l().turn();
  ops.t += successor_timeout - 1s;
  l().turn();
  EXPECT_NE(ops.signals.back(), std::make_pair(pid_t{900}, SIGINT));
  ops.t += 1s;
  l().turn();
  EXPECT_EQ(ops.signals.back(), std::make_pair(pid_t{900}, SIGINT));
  EXPECT_FALSE(table.stopping());
}

TEST_F(Leader, TheNewBinaryTellsItsPredecessorOnceEveryWorkerServes) {
  upgrade_from = 4242;
  l().turn();
  io.ready(0, 100);
  l().turn();
  EXPECT_TRUE(ops.signals.empty());
  io.ready(1, 101);
  l().turn();
  EXPECT_EQ(ops.signals, (std::vector<std::pair<pid_t, int>>{{4242, SIGWINCH}}));
  l().turn();
  EXPECT_EQ(ops.signals.size(), 1u);  // once
}

TEST_F(Leader, WaitsNoLongerThanTheNextRespawnAndAtMostASecond) {
  start_serving();
  EXPECT_EQ(io.waits.back(), 1000ms);
  ops.t += 10s;
  ops.exit(100, 1);
  l().turn();  // reaped and respawned at once: a stable worker
  ops.exit(102, 1);
  l().turn();  // reaped; the next try is 100 ms away
  l().turn();
  EXPECT_EQ(io.waits.back(), 101ms);
}

TEST_F(Leader, Usr1TellsEveryWorkerToReopenItsLog) {
  start_serving();
  auto before = ops.signals.size();
  io.signal(SIGUSR1);
  l().turn();
  EXPECT_EQ(signals_since(before),
            (std::vector<std::pair<pid_t, int>>{{100, reopen_logs_signal}, {101, reopen_logs_signal}}));
  EXPECT_EQ(reopen_logs_signal, SIGUSR1);
  EXPECT_FALSE(table.stopping());
  EXPECT_FALSE(table.reloading());
}

// The change feed's process, kept by the leader beside the workers.
namespace {
struct LeaderWithFeed : Leader {
  int lost = 0, planned = 0;
  feed_keeper feed{ops, timings_for(two_workers()), [this](bool was_planned) { ++(was_planned ? planned : lost); }};
  leader& l() {
    if (!the_leader) the_leader.emplace(two_workers(), io, ops, table, upgrade_from, &feed);
    return *the_leader;
  }
};
}  // namespace

TEST_F(LeaderWithFeed, AFeedThatDiesIsRespawnedWithBackoffAndItsRingDistrusted) {
  feed.start();
  l().turn();
  ASSERT_EQ(ops.spawned, (std::vector<int>{feed_slot, 0, 1}));
  pid_t first = 100;
  ASSERT_TRUE(feed.owns(first));
  ops.t += std::chrono::seconds(5);
  ops.killed(first, SIGKILL);
  l().turn();
  EXPECT_EQ(lost, 1);
  EXPECT_EQ(ops.spawned.back(), feed_slot) << "a feed that lived a while is replaced at once";
  pid_t second = ops.next_pid - 1;
  ops.exit(second, 1);  // at once again: now it waits
  l().turn();
  EXPECT_EQ(lost, 2);
  auto spawned = ops.spawned.size();
  l().turn();
  EXPECT_EQ(ops.spawned.size(), spawned) << "a feed that failed at once waits its backoff";
  ops.t += std::chrono::seconds(1);
  l().turn();
  EXPECT_EQ(ops.spawned.size(), spawned + 1);
  EXPECT_EQ(ops.spawned.back(), feed_slot);
}

TEST_F(LeaderWithFeed, ASilentFeedIsAbortedThenKilled) {
  feed.start();
  l().turn();
  pid_t pid = 100;
  ops.t += std::chrono::seconds(31);
  l().turn();
  EXPECT_NE(std::find(ops.signals.begin(), ops.signals.end(), std::pair<pid_t, int>{pid, SIGABRT}), ops.signals.end());
  ops.t += std::chrono::seconds(6);
  l().turn();
  EXPECT_NE(std::find(ops.signals.begin(), ops.signals.end(), std::pair<pid_t, int>{pid, SIGKILL}), ops.signals.end());
}

TEST_F(LeaderWithFeed, TheFeedStopsLastAndIsNotRespawnedWhileStopping) {
  feed.start();
  l().turn();
  io.ready(0, 101);
  io.ready(1, 102);
  l().turn();
  io.signal(SIGTERM);
  l().turn();
  auto feed_signals = [&] {
    return std::count_if(ops.signals.begin(), ops.signals.end(), [](const auto& s) { return s.first == 100; });
  };
  EXPECT_EQ(feed_signals(), 0) << "the workers' caches follow it while they drain";
  ops.exit(101, 0);
  ops.exit(102, 0);
  l().turn();
  l().turn();
  EXPECT_NE(std::find(ops.signals.begin(), ops.signals.end(), std::pair<pid_t, int>{100, SIGTERM}), ops.signals.end());
  ops.exit(100, 0);
  EXPECT_EQ(l().run(), 0);
  EXPECT_EQ(planned, 1);
  EXPECT_EQ(lost, 0);
  EXPECT_EQ(std::count(ops.spawned.begin(), ops.spawned.end(), feed_slot), 1);
}
