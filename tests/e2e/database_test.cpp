// The database path under faults: PostgreSQL restarted under load, each of
// granite's connections terminated under load, writes waiting on a row lock
// while reads go on, requests pipelined on one connection, and how many
// connections an instance holds.
#include <gtest/gtest.h>

#include <signal.h>

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <set>
#include <sstream>
#include <thread>

#include "support/forum.hpp"
#include "support/http_client.hpp"
#include "support/load.hpp"
#include "support/post_writer.hpp"
#include "support/testkit.hpp"

using namespace granite;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

using testkit::expect_written_once;
using testkit::joined;
using testkit::post_writer;

namespace {

// granite's connections to the database, as PostgreSQL counts them.
int granite_backends(const testkit::scratch_database& db) {
  return std::stoi(db.query("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
                            "application_name LIKE 'granite worker%'"));
}

// /health/database of every worker (asked on fresh connections until each
// has answered), by worker pid.
std::map<long, nlohmann::json> database_stats(int port, int workers) {
  std::map<long, nlohmann::json> seen;
  for (int i = 0; i < 200 && static_cast<int>(seen.size()) < workers; ++i) {
    auto doc = nlohmann::json::parse(testkit::get(port, "/health/database").body);
    seen[doc["worker"].get<long>()] = doc;
  }
  EXPECT_EQ(static_cast<int>(seen.size()), workers) << "not every worker answered /health/database";
  return seen;
}

long total(const std::map<long, nlohmann::json>& stats, const std::string& counter) {
  long sum = 0;
  for (const auto& [pid, doc] : stats) sum += doc[counter].get<long>();
  return sum;
}

// One worker, so that every request meets the same connections; no read
// cache, so that every read asks the database; brisk hashing.
testkit::server one_uncached_worker(const std::string& url, int statement_timeout_ms) {
  return testkit::server({.database_url = url, .workers = 1,
                          .extra_args = {"--set", "database.statement_timeout_ms=" + std::to_string(statement_timeout_ms),
                                         "--set", "cache.enabled=false", "--set", "auth.hash_priority=low", "--set",
                                         "auth.hash_cpu_percent=100"}});
}

std::vector<std::string> uncached_reads() {
  return {"/api/users/1", "/api/threads/2", "/api/posts/in-thread/1", "/api/posts/by-user/3", "/api/users?limit=2",
          "/health/ready"};
}

}  // namespace

TEST(Database, NothingFailsOncePostgresIsBackFromARestart) {
  testkit::own_postgres pg;
  auto seeded = testkit::run_granite({"seed", "--file", testkit::source_path("tests/data/forum.json")},
                                     {{"DATABASE_URL", pg.url()}});
  ASSERT_EQ(seeded.exit_code, 0) << seeded.err;
  testkit::server srv({.database_url = pg.url(), .extra_args = testkit::brisk_hashing()});
  testkit::forum_client api(srv.port());
  auto writer_account = api.member("restarter");
  // Reads that miss the read cache (they change all the time: the writer
  // posts into thread 1), and reads it never keeps.
  testkit::load_loop load({.port = srv.port(), .targets = {"/api/posts/in-thread/1", "/health/ready"}, .clients = 3});
  post_writer writer(srv.port(), writer_account.token, "restart");
  std::this_thread::sleep_for(500ms);

  pg.stop();  // fast shutdown: every backend is told to end its session
  std::this_thread::sleep_for(300ms);
  // While it is down, a malformed request is still told what is wrong with it.
  EXPECT_EQ(testkit::get(srv.port(), "/api/threads/abc").status, 400);
  EXPECT_EQ(testkit::get(srv.port(), "/api/users?limit=0").status, 400);
  EXPECT_EQ(testkit::get(srv.port(), "/api/posts/in-thread/1").status, 503);
  pg.start();  // returns once PostgreSQL accepts connections
  auto back = clock_type::now();
  std::this_thread::sleep_for(1500ms);
  load.stop();
  writer.stop();

  EXPECT_EQ(load.failed(), 0) << joined(load.failures());
  EXPECT_TRUE(writer.failures().empty()) << joined(writer.failures());
  EXPECT_LT(load.last_refused_sent(), back) << "a read sent after PostgreSQL was back was refused";
  EXPECT_LT(writer.last_refused_sent(), back) << "a write sent after PostgreSQL was back was refused";
  pqxx::connection c(pg.url());
  expect_written_once(c, writer);
  auto stats = database_stats(srv.port(), 2);
  EXPECT_GE(total(stats, "reconnects"), 4) << "every connection of both workers was lost and taken up again";
  EXPECT_EQ(total(stats, "connections"), total(stats, "connectionsWanted"));
  std::printf("restart under load: %ld reads (%ld answered 503 while PostgreSQL was down), %ld writes (%ld "
              "answered 503 while down, %zu created); refused after it was back: 0\n",
              load.sent(), load.unavailable(), writer.sent(), writer.refused(), writer.created().size());
}

TEST(Database, TerminatingEachOfGranitesConnectionsUnderLoadFailsNothing) {
  testkit::scratch_database db;
  testkit::server srv({.database_url = db.seeded(), .extra_args = testkit::brisk_hashing()});
  testkit::forum_client api(srv.port());
  auto writer_account = api.member("terminated");
  testkit::load_loop load({.port = srv.port(), .targets = uncached_reads(), .clients = 3});
  post_writer writer(srv.port(), writer_account.token, "terminate");
  std::this_thread::sleep_for(300ms);

  // Twelve times, one of granite's connections (reads, writes and the one
  // that listens, of either worker) is cut off by the server.
  std::set<std::string> cut;
  long terminated = 0, writes_cut = 0;
  for (int i = 0; i < 12; ++i) {
    auto name = db.query("SELECT application_name || ' ' || pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = current_database() AND application_name LIKE 'granite worker%' "
                         "ORDER BY backend_start LIMIT 1");
    if (name.ends_with(" true")) {
      cut.insert(name.substr(0, name.size() - 5));
      ++terminated;
      if (name.find(" writes ") != std::string::npos) ++writes_cut;
    }
    std::this_thread::sleep_for(150ms);
  }
  load.stop();
  writer.stop();

  EXPECT_GE(cut.size(), 4u) << "not every kind of connection was cut";
  EXPECT_EQ(load.failed(), 0) << joined(load.failures());
  EXPECT_EQ(load.unavailable(), 0) << "a read was refused instead of retried";
  EXPECT_TRUE(writer.failures().empty()) << joined(writer.failures());
  // The server ends each session with a FATAL error in place of the next
  // result: a write it cut off there committed nothing, and is sent again.
  // One it cut off at its commit (every statement answered, the commit not
  // confirmed) may or may not have committed, and is answered 503 rather
  // than risk writing it twice: at most one per write connection cut.
  EXPECT_LE(writer.refused(), writes_cut) << "a write cut off by the server was refused instead of sent again:"
                                          << joined(writer.refusals());
  pqxx::connection c(db.url());
  expect_written_once(c, writer);
  // Nothing waited on a connection that was gone.
  EXPECT_LT(load.slowest_ms(), 5000.0);
  EXPECT_LT(writer.slowest_ms(), 5000.0);
  EXPECT_EQ(testkit::eventually([&] { return granite_backends(db) == 4; }, 3s), true);
  // Each worker noticed each of its connections go, at once, and took it up again.
  auto stats = database_stats(srv.port(), 2);
  EXPECT_EQ(total(stats, "reconnects"), terminated);
  EXPECT_EQ(total(stats, "refused"), writer.refused());
  EXPECT_EQ(total(stats, "connections"), 4);
  EXPECT_EQ(total(stats, "waiting"), 0);
  std::string names;
  for (const auto& n : cut) names += " [" + n + "]";
  std::printf("%ld connections terminated under load (%s): %ld batches sent again; %ld reads, %ld writes, %zu "
              "created, %ld refused at their commit; slowest read %.0f ms, slowest write %.0f ms\n",
              terminated, names.c_str(), total(stats, "retried"), load.sent(), writer.sent(), writer.created().size(),
              writer.refused(), load.slowest_ms(), writer.slowest_ms());
}

TEST(Database, ReadsCompleteWhileWritesWaitOnARowLock) {
  testkit::scratch_database db;
  auto srv = one_uncached_worker(db.seeded(), 30000);
  testkit::forum_client api(srv.port());
  auto me = api.member("locked_out");
  auto post = api.write_post(me.token, 1, "about to be locked");

  // Another session holds the post's row, as a long transaction would.
  pqxx::connection blocker(db.url());
  pqxx::work lock(blocker);
  lock.exec_params("SELECT id FROM posts WHERE id = $1 FOR UPDATE", post);

  std::vector<std::future<testkit::http_response>> edits;
  for (int i = 0; i < 6; ++i)
    edits.push_back(std::async(std::launch::async, [&, i] {
      return api.call("PATCH", "/api/posts/" + std::to_string(post),
                      nlohmann::json{{"text", "edit " + std::to_string(i)}}.dump(), me.token);
    }));
  ASSERT_TRUE(testkit::eventually(
      [&] {
        return db.query("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
                        "wait_event_type = 'Lock' AND application_name LIKE 'granite worker%'") == "1";
      },
      5s))
      << "the edits never began to wait on the lock";

  // Reads of every kind go on while the edits wait.
  int reads = 0;
  for (int round = 0; round < 20; ++round)
    for (const auto& target : uncached_reads()) {
      auto r = testkit::get(srv.port(), target);
      EXPECT_EQ(r.status, 200) << target << ": " << r.body;
      ++reads;
    }
  for (auto& e : edits) EXPECT_EQ(e.wait_for(0s), std::future_status::timeout) << "an edit did not wait on the lock";

  lock.abort();
  for (auto& e : edits) EXPECT_EQ(e.get().status, 200);
  std::printf("%d reads answered while 6 edits waited on a row lock\n", reads);
}

TEST(Database, RequestsPipelinedOnOneConnectionAreAnsweredInOrder) {
  testkit::scratch_database db;
  testkit::server srv({.database_url = db.seeded(), .workers = 1});
  // Hits and misses of the read cache, routes with and without the
  // database, and refusals, sent at once in one write.
  std::vector<std::pair<std::string, std::string>> asked;  // target, what the answer must hold
  for (int round = 0; round < 8; ++round) {
    asked.push_back({"/api/users/" + std::to_string(1 + round % 3), "\"id\":" + std::to_string(1 + round % 3)});
    asked.push_back({"/api/posts/in-thread/1?limit=" + std::to_string(1 + round), "\"thread\":1"});
    asked.push_back({"/api/users/4", "no user with id 4"});
    asked.push_back({"/api/threads/abc", "thread id"});
    asked.push_back({"/health/ready", "ready"});
    asked.push_back({"/", "Ready to receive requests"});
    asked.push_back({"/api/threads/" + std::to_string(round % 2 ? 1 : 2), "\"id\":" + std::to_string(round % 2 ? 1 : 2)});
  }
  std::string bytes;
  for (std::size_t i = 0; i < asked.size(); ++i)
    bytes += "GET " + asked[i].first + " HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: pipelined-" + std::to_string(i) +
             "\r\n\r\n";
  testkit::http_client c(srv.port());
  c.send_raw(bytes);
  for (std::size_t i = 0; i < asked.size(); ++i) {
    auto r = c.read();
    EXPECT_EQ(r.header("X-Request-Id"), "pipelined-" + std::to_string(i)) << asked[i].first;
    EXPECT_NE(r.body.find(asked[i].second), std::string::npos) << asked[i].first << ": " << r.body;
  }
}

// The connections an instance holds: two per worker, and one for the
// instance's change feed (not one per worker), which may have a URL of its
// own; the instance that holds the fleet's change stream has its walsender
// besides.
TEST(Database, AnInstanceHoldsTwoConnectionsPerWorkerAndOneForItsChanges) {
  testkit::scratch_database db;
  auto feed_connections = [&](const std::string& kind) {
    return std::stoi(db.query("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
                              "application_name = 'granite changes' AND backend_type = '" + kind + "'"));
  };
  {
    // The defaults: a read connection and a write connection per worker.
    testkit::server srv({.database_url = db.seeded(), .workers = 2, .extra_args = testkit::brisk_hashing()});
    testkit::forum_client api(srv.port());
    auto me = api.member("counted");
    testkit::load_loop load({.port = srv.port(), .targets = uncached_reads(), .clients = 3});
    for (int i = 0; i < 20; ++i) api.write_post(me.token, 1, "counted " + std::to_string(i));
    load.stop();
    EXPECT_EQ(load.failed(), 0) << joined(load.failures());
    EXPECT_EQ(granite_backends(db), 4);
    EXPECT_EQ(feed_connections("client backend"), 1);
    EXPECT_EQ(feed_connections("walsender"), 1);
  }
  ASSERT_TRUE(testkit::eventually([&] { return granite_backends(db) == 0 && feed_connections("walsender") == 0; }, 5s));
  {
    // The feed on a URL of its own (around a transaction pooler), and a
    // second write connection: 3 per worker.
    testkit::server srv({.database_url = db.url(), .workers = 2,
                         .extra_args = {"--set", "database.listen_url=" + db.url() + " keepalives_idle=600", "--set",
                                        "database.write_connections=2"}});
    ASSERT_TRUE(testkit::eventually([&] { return granite_backends(db) == 6; }, 5s)) << granite_backends(db);
    EXPECT_EQ(feed_connections("client backend"), 1);
    ASSERT_TRUE(testkit::eventually([&] { return feed_connections("walsender") == 1; }, 5s));
    // The feed's connection keeps the keepalive settings its URL gives
    // (granite's own apply only where it says nothing): the kernel's next
    // probe on it is minutes away, not granite's 5 s.
    auto ports = db.query("SELECT string_agg(client_port::text, ' ') FROM pg_stat_activity WHERE datname = "
                          "current_database() AND application_name = 'granite changes'");
    std::istringstream each(ports);
    int checked = 0;
    for (std::string port; each >> port; ++checked) {
      // ss shows one timer a socket: while a send waits for its ACK, the
      // retransmission timer ("on") stands in for the keepalive one.
      testkit::run_result ss;
      testkit::eventually([&] {
        ss = testkit::run_program("ss", {"-tnoH", "state", "established", "( sport = :" + port + " )"});
        return ss.exit_code != 0 || ss.out.find("timer:(on,") == std::string::npos;
      }, 2s);
      ASSERT_EQ(ss.exit_code, 0) << ss.err;
      EXPECT_NE(ss.out.find("timer:(keepalive,"), std::string::npos) << "port " << port << ": " << ss.out;
      EXPECT_NE(ss.out.find("min"), std::string::npos) << "port " << port << ": " << ss.out;
    }
    EXPECT_EQ(checked, 2) << "TCP ports of the feed's connections (its own and its stream's): " << ports;
    // The cache still hears of changes: a write made behind granite's back
    // is seen at once.
    ASSERT_EQ(testkit::get(srv.port(), "/api/users/3").status, 200);
    ASSERT_EQ(testkit::get(srv.port(), "/api/users/3").header("ETag").empty(), false);
    db.query("UPDATE users SET bio = 'changed behind granite' WHERE id = 3");
    EXPECT_TRUE(testkit::eventually([&] {
      return testkit::get(srv.port(), "/api/users/3").body.find("changed behind granite") != std::string::npos;
    }, 2s));
  }
}

// Every request's wait for the database is bounded by
// database.statement_timeout_ms, whatever is in front of it: batches queued
// behind a statement waiting on a lock, sent behind one on the same
// connection, or waiting for a connection. Each is answered (503, or its
// answer) within the timeout of being asked, plus the round trip of the
// cancel, rather than each waiting out the timeouts of those in front.
TEST(Database, EveryRequestIsAnsweredWithinTheStatementTimeoutWhateverIsInFrontOfIt) {
  testkit::scratch_database db;
  auto srv = one_uncached_worker(db.seeded(), 1000);
  testkit::forum_client api(srv.port());
  auto me = api.member("waits_bounded");
  auto locked = api.write_post(me.token, 1, "about to be locked");
  auto other = api.write_post(me.token, 2, "never locked");
  const auto bound = 2000ms;  // the timeout, and a second for the cancel on a busy machine

  // Timed requests, each sent `after` the start: status and milliseconds.
  struct timed {
    int status;
    std::chrono::milliseconds took;
  };
  auto at = [&](std::chrono::milliseconds after, auto call) {
    return std::async(std::launch::async, [after, call] {
      std::this_thread::sleep_for(after);
      auto t0 = clock_type::now();
      int status = call().status;
      return timed{status, std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t0)};
    });
  };
  auto edit = [&](std::int64_t post) {
    return [&, post] {
      return api.call("PATCH", "/api/posts/" + std::to_string(post), R"({"text":"edited"})", me.token);
    };
  };

  {
    // A row lock held for longer than every timeout together: edits of the
    // row queue behind each other on the worker's one write connection.
    pqxx::connection blocker(db.url());
    pqxx::work lock(blocker);
    lock.exec_params("SELECT id FROM posts WHERE id = $1 FOR UPDATE", locked);
    std::vector<std::future<timed>> edits;
    for (int i = 0; i < 5; ++i) edits.push_back(at(i * 150ms, edit(locked)));
    auto unrelated = at(700ms, edit(other));
    for (auto& e : edits) {
      auto r = e.get();
      EXPECT_EQ(r.status, 503);
      EXPECT_LT(r.took, bound) << "an edit waited behind the timeouts of those in front of it";
      std::printf("edit of the locked row: %d after %lld ms\n", r.status, static_cast<long long>(r.took.count()));
    }
    auto r = unrelated.get();
    EXPECT_TRUE(r.status == 200 || r.status == 503) << r.status;
    EXPECT_LT(r.took, bound) << "an unrelated write waited behind the edits of a locked row";
    std::printf("unrelated edit: %d after %lld ms\n", r.status, static_cast<long long>(r.took.count()));
    lock.abort();
  }
  EXPECT_EQ(api.call("PATCH", "/api/posts/" + std::to_string(locked), R"({"text":"edited"})", me.token).status, 200);

  {
    // A table locked whole: reads of it queue on the read connection, and
    // on the write connection that takes reads when idle.
    pqxx::connection blocker(db.url());
    pqxx::work lock(blocker);
    lock.exec("LOCK TABLE posts IN ACCESS EXCLUSIVE MODE");
    std::vector<std::future<timed>> reads;
    for (int i = 0; i < 6; ++i)
      reads.push_back(at(i * 100ms, [&] { return testkit::get(srv.port(), "/api/posts/in-thread/1"); }));
    for (auto& f : reads) {
      auto r = f.get();
      EXPECT_EQ(r.status, 503);
      EXPECT_LT(r.took, bound) << "a read waited behind the timeouts of those in front of it";
      std::printf("read of the locked table: %d after %lld ms\n", r.status, static_cast<long long>(r.took.count()));
    }
    lock.abort();
  }
  EXPECT_EQ(testkit::get(srv.port(), "/api/posts/in-thread/1").status, 200);
  EXPECT_NE(srv.log().find("cancelling its statement"), std::string::npos);
}

// Halting on a worker that cannot boot belongs to the instance's start.
// Later, a slot whose worker cannot boot while PostgreSQL is down (one that
// crashed, or one added by SIGTTIN; a reload to more workers, or one past
// max_connections, alike) backs off and is retried while the serving worker
// goes on. Its socket takes no connections meanwhile (none waits in a queue
// nobody reads), and it boots once the database is back.
TEST(Database, ASlotThatCannotBootLaterIsRetriedWhileTheOthersServe) {
  testkit::own_postgres pg;
  auto seeded = testkit::run_granite({"seed", "--file", testkit::source_path("tests/data/forum.json")},
                                     {{"DATABASE_URL", pg.url()}});
  ASSERT_EQ(seeded.exit_code, 0) << seeded.err;
  testkit::server srv({.database_url = pg.url(), .workers = 2});
  // Whether the leader has reaped a worker of the slot that could not boot
  // (it acts on the exit in the same turn). Not the worker's own line: a
  // sanitizer build's worker takes a while to exit after it.
  auto cannot_boot = [&](const std::string& slot) {
    std::istringstream log(srv.log());
    for (std::string line; std::getline(log, line);)
      if (line.find("worker slot=" + slot + " pid=") != std::string::npos &&
          line.find("exited with status 3") != std::string::npos)
        return true;
    return false;
  };
  pg.stop();
  auto workers = srv.workers();
  ASSERT_EQ(workers.size(), 2u);
  ASSERT_EQ(kill(workers[0], SIGKILL), 0);  // its replacement cannot boot
  ASSERT_TRUE(testkit::eventually([&] { return cannot_boot("0") || cannot_boot("1"); })) << srv.log();
  ASSERT_EQ(kill(srv.pid(), SIGTTIN), 0);  // nor can a new slot's worker
  ASSERT_TRUE(testkit::eventually([&] { return cannot_boot("2"); })) << srv.log();
  std::this_thread::sleep_for(100ms);  // the leader's turn on its exit
  // The instance stays up, and every new connection is served by the one
  // worker left, whichever socket the kernel would have chosen.
  for (int i = 0; i < 30; ++i) {
    EXPECT_EQ(testkit::get(srv.port(), "/").status, 200);
    std::this_thread::sleep_for(30ms);
  }
  EXPECT_TRUE(srv.running() && testkit::process_alive(srv.pid()));
  EXPECT_EQ(srv.log().find("stopping granite"), std::string::npos) << srv.log();
  pg.start();
  EXPECT_TRUE(testkit::eventually([&] { return srv.log().find("all 3 workers ready") != std::string::npos; }, 15s))
      << srv.log();
  for (int i = 0; i < 30; ++i) EXPECT_EQ(testkit::get(srv.port(), "/api/users/1").status, 200);
  auto page = testkit::get(srv.metrics_port(), "/metrics").body;
  EXPECT_GE(testkit::metric_value(page, R"(granite_worker_restarts_total{slot="2",cause="boot"})"), 1) << page;
}
