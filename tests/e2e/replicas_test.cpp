// Reads from streaming replicas: a primary of the tests' own and two
// standbys (pg_basebackup -R), one current and one that applies what it
// receives 2 s late (recovery_min_apply_delay). granite must never answer
// from before a change it knows of, must give a write's position to any
// instance, must lose no read when a replica goes away, and must leave the
// primary few of the reads.
#include <gtest/gtest.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "support/forum.hpp"
#include "support/load.hpp"
#include "support/post_writer.hpp"
#include "support/testkit.hpp"
#include "support/walk.hpp"

using namespace granite;
using namespace std::chrono_literals;
using nlohmann::json;
using testkit::http_client;

namespace {

std::vector<std::string> replicated() {
  return {"wal_level=logical", "max_wal_senders=10", "max_replication_slots=10",
          "shared_preload_libraries=pg_stat_statements", "hot_standby_feedback=on"};
}

struct Replicas : ::testing::Test {
  static inline std::unique_ptr<testkit::own_postgres> primary, current, delayed;

  static void SetUpTestSuite() {
    primary = std::make_unique<testkit::own_postgres>(replicated());
    primary->seeded();
    primary->query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    current = std::make_unique<testkit::own_postgres>(testkit::own_postgres::standby_of{*primary}, replicated());
    auto held = replicated();
    held.push_back("recovery_min_apply_delay=2s");
    delayed = std::make_unique<testkit::own_postgres>(testkit::own_postgres::standby_of{*primary}, held);
  }
  static void TearDownTestSuite() {
    delayed.reset();
    current.reset();
    primary.reset();
  }

  // A granite on the primary reading from `replicas`.
  static std::unique_ptr<testkit::server> instance(const std::vector<const testkit::own_postgres*>& replicas,
                                                   std::vector<std::string> more = {}, int workers = 1) {
    auto args = testkit::brisk_hashing();
    args.insert(args.end(), {"--set", "http.max_requests_per_connection=0"});
    std::string list;
    for (auto* r : replicas) list += (list.empty() ? "" : ",") + r->url();
    if (!list.empty()) args.insert(args.end(), {"--set", "database.replicas=" + list});
    args.insert(args.end(), more.begin(), more.end());
    return std::make_unique<testkit::server>(
        testkit::server::options{.database_url = primary->url(), .workers = workers, .extra_args = args});
  }

  // GET /health/database's sources on this connection's worker.
  static json sources(http_client& c) {
    auto r = c.request("GET", "/health/database");
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body)["sources"];
  }
  // A sample of the instance's /metrics: over all its workers, where
  // /health/database shows the worker that took the request only.
  static double instance_metric(testkit::server& s, const std::string& sample) {
    return testkit::metric_value(testkit::get(s.metrics_port(), "/metrics").body, sample);
  }
  // Every worker of `s` has its connections to replica 1 up and takes it.
  static bool replica_usable_everywhere(testkit::server& s, int workers) {
    return instance_metric(s, "granite_database_replica_usable{source=\"replica 1\"}") == workers;
  }

  // An uncached instance of two workers reading from the current replica,
  // and three readers on it once the replica takes reads.
  struct readers_on_replica {
    std::unique_ptr<testkit::server> srv = instance({current.get()}, {"--set", "cache.enabled=false"}, 2);
    http_client probe{srv->port()};
    std::unique_ptr<testkit::load_loop> load;
    readers_on_replica() {
      EXPECT_TRUE(testkit::eventually([&] { return replica_usable_everywhere(*srv, 2); }, 10s));
      load = std::make_unique<testkit::load_loop>(testkit::load_loop::options{
          .port = srv->port(),
          .targets = {"/api/users/1", "/api/threads/2", "/api/posts/in-thread/1", "/api/users?limit=5"},
          .clients = 3});
      std::this_thread::sleep_for(700ms);
    }
    // Stops the readers: every read was answered 200.
    void expect_every_read_served() {
      load->stop();
      std::cout << "[ replicas ] " << load->sent() << " reads, " << load->unavailable() << " 503, "
                << load->failed() << " failed; slowest " << load->slowest_ms() << " ms\n";
      EXPECT_GT(load->sent(), 100);
      EXPECT_EQ(load->failed(), 0) << testkit::joined(load->failures());
      EXPECT_EQ(load->unavailable(), 0) << testkit::joined(load->failures());
    }
  };
};

}  // namespace

// Two cached instances reading from both replicas (no lag limit, so that
// the held-back one is asked and must be caught by its position), the
// writes through the first, against an instance that reads the primary
// only, without a cache: the writer's instance agrees at once, the other
// once its change feed has the change. The held-back replica, 2 s behind,
// never shows through.
TEST_F(Replicas, ARandomWalkThroughReplicasNeverGoesBackInTime) {
  std::vector<std::string> unlimited{"--set", "database.replica_max_lag_ms=0"};
  auto a = instance({current.get(), delayed.get()}, unlimited);
  auto b = instance({current.get(), delayed.get()}, unlimited);
  auto plain = instance({}, {"--set", "cache.enabled=false"});
  std::vector<std::unique_ptr<http_client>> conns;
  conns.push_back(std::make_unique<http_client>(a->port()));
  conns.push_back(std::make_unique<http_client>(b->port()));
  for (auto& c : conns) ASSERT_TRUE(testkit::eventually([&] { return testkit::cache_stats(*c)["listening"] == true; }));
  http_client reference(plain->port());
  auto r = testkit::random_walk(primary->url(), a->port(), conns, reference, 1, 300, 5s);
  auto sa = sources(*conns[0]), sb = sources(*conns[1]);
  std::cout << "[ replicas ] " << r.steps << " writes, " << r.reads << " reads, " << r.late
            << " read on the other instance before its notice came, " << r.mismatches << " mismatches\n"
            << "[ replicas ] writer's instance: " << sa.dump() << "\n[ replicas ] other instance: " << sb.dump()
            << "\n";
  EXPECT_EQ(r.mismatches, 0);
  EXPECT_EQ(r.leaks, 0);
  EXPECT_EQ(r.steps, 300);
  // Both replicas were asked; the held-back one was found behind and its
  // answers dropped.
  EXPECT_GT(sa[1]["reads"].get<long>(), 0);
  EXPECT_GT(sa[2]["behind"].get<long>() + sb[2]["behind"].get<long>(), 0);
}

// A write through one instance, its position presented to another whose
// only replica is 2 s behind: the other reads the new state at once, from
// a page it had kept or not, by the header or by the cookie.
TEST_F(Replicas, AWritesPositionReadsTheNewStateOnAnotherInstanceAtOnce) {
  auto a = instance({delayed.get()});
  auto b = instance({delayed.get()}, {"--set", "database.replica_max_lag_ms=0"});
  testkit::forum_client api_a(a->port()), api_b(b->port());
  auto me = api_a.member("positioned");
  std::string target = "/api/users/" + std::to_string(me.id);
  // Known to the replica (2 s), and kept in the other instance's cache.
  ASSERT_TRUE(testkit::eventually([&] { return api_b.call("GET", target).status == 200; }, 10s));
  ASSERT_EQ(api_b.call("GET", target).status, 200);

  for (int round = 0; round < 3; ++round) {
    std::string name = "renamed " + std::to_string(round);
    auto w = api_a.call("PATCH", target, json{{"name", name}}.dump(), me.token);
    ASSERT_EQ(w.status, 200) << w.body;
    auto position = w.header("granite-position");
    ASSERT_FALSE(position.empty());
    EXPECT_EQ(w.header("set-cookie"), "granite_position=" + position + "; Path=/; Max-Age=60; SameSite=Lax");
    auto by_header = api_b.call_with({{"Granite-Position", position}}, "GET", target);
    ASSERT_EQ(by_header.status, 200);
    EXPECT_EQ(json::parse(by_header.body)["name"], name) << "round " << round << " by the header";
    auto by_cookie = api_b.call_with({{"Cookie", "theme=dark; granite_position=" + position}}, "GET", target);
    ASSERT_EQ(by_cookie.status, 200);
    EXPECT_EQ(json::parse(by_cookie.body)["name"], name) << "round " << round << " by the cookie";
  }
  // A position that is not one is refused, whatever it is asked of.
  auto bad = api_b.call_with({{"Granite-Position", "yesterday"}}, "GET", target);
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_NE(bad.body.find("Granite-Position"), std::string::npos) << bad.body;
  // A cookie that is not one is left alone.
  EXPECT_EQ(api_b.call_with({{"Cookie", "granite_position=yesterday"}}, "GET", target).status, 200);
}

// A replica stopped and started again under reads: its reads go elsewhere
// at once, none fails, and it serves again once it is back.
TEST_F(Replicas, AReplicaStoppedAndStartedUnderLoadFailsNoRead) {
  readers_on_replica r;
  current->stop();
  std::this_thread::sleep_for(1500ms);
  current->start();
  // Counted over both workers: the readers' connections may all have gone
  // to one of them.
  auto served = [&] { return instance_metric(*r.srv, "granite_database_reads_total{source=\"replica 1\"}"); };
  auto back = testkit::eventually(
      [&] {
        auto before = served();
        std::this_thread::sleep_for(100ms);
        return replica_usable_everywhere(*r.srv, 2) && served() > before;
      },
      10s);
  r.expect_every_read_served();
  EXPECT_TRUE(back) << "the replica served no read after it came back; its sources:\n"
                    << sources(r.probe).dump() << "\nthe server's log:\n" << r.srv->log();
}

// A replica that hangs with its connections open (every process of it
// stopped, as behind a network partition) under reads: new reads pass it by
// and the ones it holds are copied elsewhere, so none fails and none waits
// for it much beyond half a second.
TEST_F(Replicas, AReplicaThatHangsGivesUpItsReadsWithinASecond) {
  readers_on_replica r;
  current->freeze(true);
  std::this_thread::sleep_for(2s);
  current->freeze(false);
  std::this_thread::sleep_for(700ms);
  r.expect_every_read_served();
  EXPECT_LT(r.load->slowest_ms(), 1000);
}

// Uncached reads with a current replica: the replica serves at least 90 %
// of them, as the servers count them (pg_stat_statements on each), and
// almost none is sent back for being behind.
TEST_F(Replicas, UncachedReadsAreServedByTheReplicaAsTheServersCountThem) {
  auto srv = instance({current.get()}, {"--set", "cache.enabled=false"}, 2);
  ASSERT_TRUE(testkit::eventually([&] { return replica_usable_everywhere(*srv, 2); }, 10s));
  // The statements of user reads, as each server counts them.
  auto calls = [](const testkit::own_postgres& pg) {
    auto n = pg.query(
        "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query LIKE '%FROM users%' AND query "
        "NOT LIKE '%pg_stat_statements%' AND query NOT LIKE '%sessions%'");
    return std::stol(n.empty() ? "0" : n);
  };
  auto on_primary = calls(*primary), on_replica = calls(*current);
  testkit::load_loop load({.port = srv->port(), .targets = {"/api/users/1", "/api/users/2", "/api/users?limit=5"},
                           .clients = 3});
  std::this_thread::sleep_for(3s);
  load.stop();
  // pg_stat_statements counts as each statement ends; the last are in
  // once the load has stopped.
  std::this_thread::sleep_for(200ms);
  on_primary = calls(*primary) - on_primary;
  on_replica = calls(*current) - on_replica;
  auto metrics = testkit::get(srv->metrics_port(), "/metrics").body;
  auto behind = testkit::metric_value(metrics, "granite_database_reads_behind_total{source=\"replica 1\"}");
  auto from_replica = testkit::metric_value(metrics, "granite_database_reads_total{source=\"replica 1\"}");
  double share = static_cast<double>(on_primary) / static_cast<double>(on_primary + on_replica);
  std::cout << "[ replicas ] " << load.sent() << " reads; statements on the primary " << on_primary
            << ", on the replica " << on_replica << " (primary " << 100 * share << " %); granite counted "
            << from_replica << " from the replica, " << behind << " sent back for being behind\n";
  EXPECT_EQ(load.failed(), 0) << testkit::joined(load.failures());
  EXPECT_GT(on_replica, 500);
  EXPECT_LE(share, 0.10);
  EXPECT_GT(from_replica, 0);
  EXPECT_GE(behind, 0);  // the family is there
  EXPECT_LT(behind, 0.01 * static_cast<double>(load.sent()));
}

// Replica connections renewed at the end of their lifetime (1 s here, 300 s
// by default), as a reader endpoint needs to spread them over replicas that
// came since, under reads: each worker's connection to the replica is a new
// backend every second or so (with reads or without), no read fails, and the
// primary takes only what came while one opened again.
TEST_F(Replicas, ReplicaConnectionsAreRenewedAfterTheirLifetimeLosingNoRead) {
  auto srv = instance({current.get()},
                      {"--set", "cache.enabled=false", "--set", "database.replica_connection_lifetime_s=1"}, 2);
  ASSERT_TRUE(testkit::eventually([&] { return replica_usable_everywhere(*srv, 2); }, 10s));
  auto reads_from = [&](const std::string& source) {
    return instance_metric(*srv, "granite_database_reads_total{source=\"" + source + "\"}");
  };
  double primary_before = reads_from("primary"), replica_before = reads_from("replica 1");
  testkit::load_loop load(
      {.port = srv->port(), .targets = {"/api/users/1", "/api/posts/in-thread/1", "/api/users?limit=5"}, .clients = 3});
  // The backends of the workers' replica connections, as the replica lists them.
  std::set<std::string> backends;
  auto until = std::chrono::steady_clock::now() + 4s;
  while (std::chrono::steady_clock::now() < until) {
    auto pids = current->query(
        "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE application_name LIKE 'granite worker % "
        "replica 1 reads'");
    std::istringstream in(pids);
    for (std::string pid; in >> pid;) backends.insert(pid);
    std::this_thread::sleep_for(50ms);
  }
  load.stop();
  double on_primary = reads_from("primary") - primary_before, on_replica = reads_from("replica 1") - replica_before;
  double renewed = instance_metric(*srv, "granite_database_replica_renewals_total{source=\"replica 1\"}");
  std::cout << "[ replicas ] " << load.sent() << " reads, " << load.unavailable() << " 503, " << load.failed()
            << " failed, slowest " << load.slowest_ms() << " ms; " << renewed << " renewals, " << backends.size()
            << " backends seen; reads on the primary " << on_primary << ", on the replica " << on_replica << "\n";
  EXPECT_EQ(load.failed(), 0) << testkit::joined(load.failures());
  EXPECT_EQ(load.unavailable(), 0) << testkit::joined(load.failures());
  // Two workers, each renewing every 0.75 to 1 s over 4 s.
  EXPECT_GE(renewed, 4);
  EXPECT_GE(backends.size(), 6u);
  // Each renewal leaves the primary the reads of the milliseconds it takes
  // to open again (here 8 a run, 300 times the default rate: about 10 % of
  // the reads on this machine, more under the sanitizers).
  EXPECT_GT(on_replica, on_primary);
  EXPECT_TRUE(testkit::eventually([&] { return replica_usable_everywhere(*srv, 2); }, 5s));
}
