// The process model end to end: real fork, real signals, real sockets.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <future>
#include <pqxx/pqxx>
#include <regex>
#include <thread>

#include "granite/exit_codes.hpp"
#include "support/http_client.hpp"
#include "support/testkit.hpp"

using namespace granite;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

bool gone(pid_t pid) { return !testkit::process_alive(pid); }

// No live process of the server's group is left.
bool group_empty(pid_t leader) { return testkit::live_group_members(leader).empty(); }

}  // namespace

TEST(Process, KilledWorkerIsReplacedInItsSlotWithinASecondWhileRequestsSucceed) {
  testkit::scratch_database db;
  testkit::server srv({.database_url = db.seeded()});
  auto before = srv.workers();
  ASSERT_EQ(before.size(), 2u);

  // Requests on fresh connections throughout, each one timed.
  std::atomic<bool> running{true};
  std::atomic<clock_type::rep> killed_at{clock_type::time_point::max().time_since_epoch().count()};
  std::atomic<int> ok_after{0}, failed_after{0}, failed_before{0};
  std::thread load([&] {
    while (running) {
      auto started = clock_type::now().time_since_epoch().count();
      bool ok = false;
      try {
        ok = testkit::get(srv.port(), "/api/users/1").status == 200;
      } catch (const std::exception&) {
      }
      if (started >= killed_at) (ok ? ok_after : failed_after)++;
      else if (!ok) failed_before++;
    }
  });

  std::this_thread::sleep_for(200ms);
  pid_t victim = before[0];
  auto t0 = clock_type::now();
  ASSERT_EQ(kill(victim, SIGKILL), 0);
  ASSERT_TRUE(testkit::eventually([&] { return gone(victim); }, 2s));
  killed_at = clock_type::now().time_since_epoch().count();

  // Replaced within a second: two live workers again, the victim not among them.
  pid_t replacement = 0;
  ASSERT_TRUE(testkit::eventually(
      [&] {
        auto now = srv.workers();
        if (now.size() != 2 || std::find(now.begin(), now.end(), victim) != now.end() ||
            srv.log().find("generation 2") == std::string::npos)
          return false;
        replacement = std::find(before.begin(), before.end(), now[0]) == before.end() ? now[0] : now[1];
        return true;
      },
      1s));
  auto replaced_in = clock_type::now() - t0;
  // Connections the kernel queued on the slot meanwhile wait for the
  // replacement to boot, which a sanitizer build on a busy machine can
  // stretch past a second: the load goes on for a while after it is ready.
  ASSERT_TRUE(testkit::eventually(
      [&] { return srv.log().find("pid=" + std::to_string(replacement) + " ready") != std::string::npos; }, 10s))
      << srv.log();
  auto ready_in = clock_type::now() - t0;
  std::this_thread::sleep_for(500ms);
  running = false;
  load.join();

  EXPECT_LT(replaced_in, 1s);
  EXPECT_EQ(failed_after, 0) << "requests failed after the worker was gone";
  EXPECT_GT(ok_after, 20);
  EXPECT_LE(failed_before, 1) << "at most the request in flight on the killed worker may fail";
  std::printf("kill -9: replaced in %lld ms, ready in %lld ms; %d requests after the kill, %d failed; %d failed "
              "before\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(replaced_in).count()),
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(ready_in).count()),
              ok_after.load() + failed_after.load(), failed_after.load(), failed_before.load());

  // The leader names the slot, the pid and the signal, and refills that slot.
  auto log = srv.log();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(log, m, std::regex("worker slot=(\\d) pid=" + std::to_string(victim) +
                                                   " killed by signal 9 \\(SIGKILL\\)")))
      << log;
  EXPECT_NE(log.find("worker slot=" + m[1].str() + " pid="), std::string::npos);
  EXPECT_TRUE(std::regex_search(log, std::regex("worker slot=" + m[1].str() + " pid=\\d+ started \\(generation 2\\), replacing pid " +
                                                std::to_string(victim))))
      << log;
}

TEST(Process, SigtermWithoutDrainDelayStopsEverythingWithinFiveSeconds) {
  testkit::scratch_database db;
  testkit::server srv({.database_url = db.seeded(), .extra_args = {"--set", "drain.delay_s=0"}});
  auto workers = srv.workers();
  pid_t leader = srv.pid();
  testkit::http_client idle(srv.port());  // an idle keep-alive connection must not hold the stop up
  ASSERT_EQ(idle.request("GET", "/api/users/1").status, 200);

  auto t0 = clock_type::now();
  int status = srv.stop(SIGTERM, 5s);
  auto took = clock_type::now() - t0;
  ASSERT_NE(status, -1) << "the leader did not exit within 5 s\n" << srv.log();
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_LT(took, 5s);
  for (pid_t w : workers) EXPECT_TRUE(gone(w)) << w;
  EXPECT_TRUE(group_empty(leader));
  EXPECT_TRUE(idle.closed_by_peer());
}

TEST(Process, SigintStopsAtOnceDespiteTheDrainDelay) {
  testkit::scratch_database db;
  testkit::server srv({.database_url = db.seeded(), .extra_args = {"--set", "drain.delay_s=60"}});
  pid_t leader = srv.pid();
  auto t0 = clock_type::now();
  int status = srv.stop(SIGINT, 5s);
  ASSERT_NE(status, -1);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_LT(clock_type::now() - t0, 2s);
  EXPECT_TRUE(testkit::eventually([&] { return group_empty(leader); }, 1s));
}

TEST(Process, WorkersDieWithTheLeader) {
  testkit::scratch_database db;
  testkit::server srv({.database_url = db.seeded()});
  auto workers = srv.workers();
  ASSERT_EQ(workers.size(), 2u);
  ASSERT_EQ(srv.stop(SIGKILL, 2s) & 0x7f, SIGKILL);
  for (pid_t w : workers) EXPECT_TRUE(testkit::eventually([&] { return gone(w); }, 5s)) << w;
}

TEST(Process, WorkerThatCannotBootStopsTheLeaderWithAClearMessage) {
  // The leader does not touch the database (migrate off); the workers find
  // nothing listening where the database should be.
  testkit::server srv({.database_url = "host=127.0.0.1 port=" + std::to_string(testkit::free_port()),
                       .extra_args = {"--set", "database.migrate=false"},
                       .wait_ready = false});
  pid_t leader = srv.pid();
  int status = srv.wait_exit(10s);
  ASSERT_NE(status, -1) << "the leader kept respawning\n" << srv.log();
  EXPECT_EQ(WEXITSTATUS(status), exit_code::worker_boot_failure);
  auto log = srv.log();
  EXPECT_NE(log.find("cannot boot: cannot connect to PostgreSQL"), std::string::npos) << log;
  EXPECT_NE(log.find("could not boot (see its error above); stopping granite"), std::string::npos) << log;
  EXPECT_EQ(log.find("generation 2"), std::string::npos) << "a worker was respawned\n" << log;
  EXPECT_TRUE(testkit::eventually([&] { return group_empty(leader); }, 1s));
}

TEST(Process, WorkerRefusesASchemaItDoesNotKnow) {
  testkit::scratch_database db;
  db.seeded();
  db.query("INSERT INTO granite_schema (version, name) VALUES (999, 'future')");
  testkit::server srv(
      {.database_url = db.url(), .extra_args = {"--set", "database.migrate=false"}, .wait_ready = false});
  int status = srv.wait_exit(10s);
  ASSERT_NE(status, -1);
  EXPECT_EQ(WEXITSTATUS(status), exit_code::worker_boot_failure);
  EXPECT_NE(srv.log().find("newer than this binary"), std::string::npos) << srv.log();
}

TEST(Process, UnreachableDatabaseAtStartIsAClearError) {
  testkit::server srv({.database_url = "host=127.0.0.1 port=" + std::to_string(testkit::free_port()),
                       .wait_ready = false});
  int status = srv.wait_exit(10s);
  ASSERT_NE(status, -1);
  EXPECT_EQ(WEXITSTATUS(status), exit_code::unavailable);
  EXPECT_NE(srv.log().find("cannot connect to PostgreSQL"), std::string::npos) << srv.log();
}

TEST(Process, PortInUseIsAClearError) {
  testkit::scratch_database db;
  testkit::server first({.database_url = db.seeded()});
  auto second = testkit::run_granite({"serve", "--port", std::to_string(first.port()), "--set", "listen.host=127.0.0.1"},
                                     {{"DATABASE_URL", db.url()}});
  EXPECT_EQ(second.exit_code, exit_code::os_error);
  EXPECT_NE(second.err.find("Address already in use"), std::string::npos) << second.err;
  EXPECT_EQ(testkit::get(first.port(), "/health").status, 200);
}

TEST(Process, ASlowQueryDoesNotHoldUpOtherRequestsOnTheSameWorker) {
  testkit::scratch_database db;
  // One worker, so every request below meets the same event loop.
  testkit::server srv({.database_url = db.seeded(), .workers = 1,
                       .extra_args = {"--set", "database.statement_timeout_ms=30000"}});

  // Hold a lock on users: a read of a user waits on it inside PostgreSQL.
  pqxx::connection blocker(db.url());
  pqxx::work lock(blocker);
  lock.exec("LOCK TABLE users IN ACCESS EXCLUSIVE MODE");

  auto slow = std::async(std::launch::async, [&] { return testkit::get(srv.port(), "/api/users/1"); });
  ASSERT_TRUE(testkit::eventually(
      [&] {
        return db.query("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
                        "wait_event_type = 'Lock' AND application_name LIKE 'granite worker%'") == "1";
      },
      5s))
      << "the user query never started waiting";

  // While it waits, the same worker answers routes with and without the database.
  EXPECT_EQ(testkit::get(srv.port(), "/health").status, 200);
  EXPECT_EQ(testkit::get(srv.port(), "/").status, 200);
  EXPECT_EQ(testkit::get(srv.port(), "/api/threads/1").status, 200);
  EXPECT_EQ(testkit::get(srv.port(), "/api/posts/in-thread/1").status, 200);
  EXPECT_EQ(slow.wait_for(0s), std::future_status::timeout) << "the slow request did not wait on the lock";

  lock.abort();
  auto r = slow.get();
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"username\":\"ines\""), std::string::npos);
}

TEST(Process, StatementTimeoutAnswers503WithRetryAfter) {
  testkit::scratch_database db;
  testkit::server srv({.database_url = db.seeded(), .workers = 1,
                       .extra_args = {"--set", "database.statement_timeout_ms=200"}});
  pqxx::connection blocker(db.url());
  pqxx::work lock(blocker);
  lock.exec("LOCK TABLE threads IN ACCESS EXCLUSIVE MODE");
  auto r = testkit::get(srv.port(), "/api/threads/1");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.header("Retry-After"), "1");
  EXPECT_NE(r.body.find("did not answer in time"), std::string::npos) << r.body;
  lock.abort();
  EXPECT_EQ(testkit::get(srv.port(), "/api/threads/1").status, 200);
}
