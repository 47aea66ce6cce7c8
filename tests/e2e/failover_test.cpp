// When the database changes under granite: a primary that dies and a
// synchronous standby promoted in its place (as RDS Multi-AZ fails over),
// the old primary back read-only at the URL's first address, a server that
// turns read-only while granite is connected to it, and a password that is
// rotated. Real clusters of the test's own, under reads and writes.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>
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
using testkit::joined;

namespace {

constexpr int statement_timeout_ms = 2000;

// What each cluster runs with: the change stream and room for a standby.
std::vector<std::string> replicated() { return {"wal_level=logical", "max_wal_senders=10", "max_replication_slots=10"}; }

std::vector<std::string> server_args() {
  auto args = testkit::brisk_hashing();
  args.insert(args.end(), {"--set", "database.statement_timeout_ms=" + std::to_string(statement_timeout_ms)});
  return args;
}

// Reads that miss the read cache (the writers post into thread 1) and reads
// it keeps.
std::vector<std::string> reads() { return {"/api/posts/in-thread/1", "/api/users/1", "/api/threads/2", "/health/ready"}; }

double ms_between(clock_type::time_point from, clock_type::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

}  // namespace

TEST(Failover, PromotedStandbyServesWithinSecondsAndNoAcknowledgedWriteIsLost) {
  testkit::own_postgres primary(replicated());
  primary.seeded();
  testkit::own_postgres standby(testkit::own_postgres::standby_of{primary}, replicated());
  // Synchronous, as RDS Multi-AZ: a commit is acknowledged once the standby has it.
  primary.query("ALTER SYSTEM SET synchronous_standby_names = '*'");
  primary.query("SELECT pg_reload_conf()");
  ASSERT_TRUE(testkit::eventually([&] { return primary.query("SELECT sync_state FROM pg_stat_replication") == "sync"; }));

  std::string url = "host=127.0.0.1,127.0.0.1 port=" + std::to_string(primary.port()) + "," +
                    std::to_string(standby.port()) + " user=granite dbname=granite target_session_attrs=read-write";
  testkit::server srv({.database_url = url, .extra_args = server_args()});
  testkit::forum_client api(srv.port());
  auto a = api.member("failover_a"), b = api.member("failover_b");
  testkit::load_loop load({.port = srv.port(), .targets = reads(), .clients = 3});
  testkit::post_writer first(srv.port(), a.token, "failover a"), second(srv.port(), b.token, "failover b");
  std::this_thread::sleep_for(1s);

  primary.crash();
  auto crashed = clock_type::now();
  std::this_thread::sleep_for(300ms);  // what a managed service takes to decide, at the least
  auto promoted = clock_type::now();
  standby.promote();
  std::this_thread::sleep_for(3s);
  // The old primary comes back at the URL's first address, read-only (as
  // one that was demoted, or a managed service's disk guard): granite must
  // pass it over.
  primary.start({"default_transaction_read_only=on"});
  auto old_back = clock_type::now();
  std::this_thread::sleep_for(2s);
  load.stop();
  first.stop();
  second.stop();

  auto last_refused = std::max({load.last_refused_sent(), first.last_refused_sent(), second.last_refused_sent()});
  double serving_again_ms = std::max(0.0, ms_between(promoted, last_refused));
  std::printf("failover: the last refusal %.0f ms after the crash, %.0f ms after the promotion (asked 300 ms after the "
              "crash); writes acknowledged %zu, statuses {%s} {%s}; reads %ld, 503 %ld; slowest read %.0f ms, write "
              "%.0f ms\n",
              ms_between(crashed, last_refused), ms_between(promoted, last_refused),
              first.created().size() + second.created().size(), testkit::answers(first).c_str(),
              testkit::answers(second).c_str(), load.sent(), load.unavailable(), load.slowest_ms(),
              std::max(first.slowest_ms(), second.slowest_ms()));

  // No request is answered anything but 2xx or 503.
  EXPECT_EQ(load.failed(), 0) << joined(load.failures());
  EXPECT_TRUE(first.failures().empty()) << joined(first.failures());
  EXPECT_TRUE(second.failures().empty()) << joined(second.failures());
  // Served again within 5 s of the promotion, and nothing refused because
  // the old primary came back.
  EXPECT_LT(serving_again_ms, 5000);
  EXPECT_LT(last_refused, old_back) << "a request sent after the old primary came back read-only was refused";
  // Nothing waits longer than the statement timeout (and what a client
  // adds on a loaded machine).
  EXPECT_LT(load.slowest_ms(), statement_timeout_ms + 1000);
  EXPECT_LT(std::max(first.slowest_ms(), second.slowest_ms()), statement_timeout_ms + 1000);
  // Every write answered 201 is on the new primary, once.
  EXPECT_GT(first.created().size(), 0u);
  pqxx::connection now_primary(standby.url());
  testkit::expect_written_once(now_primary, first);
  testkit::expect_written_once(now_primary, second);
  // Nothing of granite's stayed on the read-only one.
  EXPECT_EQ(primary.query("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'granite%'"), "0");
}

TEST(Failover, ServerThatTurnsReadOnlyAnswersWrites503AndReadsGoOn) {
  testkit::own_postgres pg(replicated());
  pg.seeded();
  testkit::server srv({.database_url = pg.url(), .extra_args = server_args()});
  testkit::forum_client api(srv.port());
  auto account = api.member("guarded");
  testkit::load_loop load({.port = srv.port(), .targets = reads(), .clients = 2});
  testkit::post_writer writer(srv.port(), account.token, "guarded");
  std::this_thread::sleep_for(500ms);

  // A disk guard, or a demoted writer that stays up: every session's
  // transactions turn read-only, those open now included.
  pg.query("ALTER SYSTEM SET default_transaction_read_only = on");
  pg.query("SELECT pg_reload_conf()");
  std::this_thread::sleep_for(1s);
  auto refused = api.call("POST", "/api/posts", R"({"thread":1,"text":"while read-only"})", account.token);
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_EQ(refused.header("retry-after"), "1");
  EXPECT_EQ(testkit::get(srv.port(), "/api/posts/in-thread/1").status, 200);

  pg.query("ALTER SYSTEM RESET default_transaction_read_only");
  pg.query("SELECT pg_reload_conf()");
  auto writable = clock_type::now();
  std::this_thread::sleep_for(1500ms);
  load.stop();
  writer.stop();

  std::printf("read-only: writes %s; reads %ld, 503 %ld; writes refused %.0f ms after the server took writes again\n",
              testkit::answers(writer).c_str(), load.sent(), load.unavailable(),
              ms_between(writable, writer.last_refused_sent()));
  EXPECT_EQ(load.failed(), 0) << joined(load.failures());
  EXPECT_EQ(load.unavailable(), 0) << "reads went on while writes were refused";
  EXPECT_TRUE(writer.failures().empty()) << joined(writer.failures());  // never 500
  EXPECT_GT(writer.refused(), 0);
  // Once it takes writes again, writes go through within a reconnect's
  // backoff (at most 500 ms) and the time to reload.
  EXPECT_LT(writer.last_refused_sent(), writable + 1s);
  pqxx::connection c(pg.url());
  testkit::expect_written_once(c, writer);
  EXPECT_EQ(pg.query("SELECT count(*) FROM posts WHERE text = 'while read-only'"), "0");
}

// A rotated password (Secrets Manager, an RDS IAM token) reaches granite
// through a libpq passfile that is rewritten: connections read it when they
// connect, so open ones go on and new ones use the new password, without a
// restart.
TEST(Credentials, ARotatedPasswordInThePassfileReachesNewConnectionsWithoutARestart) {
  testkit::own_postgres pg(replicated());
  pg.seeded();
  pg.require_passwords("first-password");
  std::string passfile = testkit::temp_path("passfile");
  auto write_passfile = [&](const std::string& password) {
    // As the refresher does: a new file moved into place, 0600.
    std::string next = passfile + ".next";
    std::ofstream(next) << "*:*:*:*:" << password << "\n";
    std::filesystem::permissions(next, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    std::filesystem::rename(next, passfile);
  };
  write_passfile("first-password");
  // libpq reads the file only without a password given otherwise: not in
  // the URL, and not in PGPASSWORD (which pg_virtualenv sets for the tests).
  testkit::server srv({.database_url = pg.url() + " passfile=" + passfile, .extra_args = server_args(),
                       .env = {{"PGPASSWORD", ""}}});
  auto leader = srv.pid();
  testkit::forum_client api(srv.port());
  auto account = api.member("rotated");
  testkit::load_loop load({.port = srv.port(), .targets = reads(), .clients = 2});
  testkit::post_writer writer(srv.port(), account.token, "rotated");
  std::this_thread::sleep_for(500ms);

  pg.query("ALTER ROLE granite PASSWORD 'second-password'");  // open sessions go on
  std::this_thread::sleep_for(300ms);
  write_passfile("second-password");
  // Every connection of granite's is cut, one after another (all at once,
  // a read could lose its connection twice, and is sent once more only
  // once): each comes back with the new password.
  std::stringstream sessions(
      pg.query("SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE application_name LIKE 'granite%'"));
  int cut_sessions = 0;
  for (std::string pid; sessions >> pid; ++cut_sessions) {
    pg.query("SELECT pg_terminate_backend(" + pid + ")");
    std::this_thread::sleep_for(100ms);
  }
  auto cut = clock_type::now();
  std::this_thread::sleep_for(1500ms);
  load.stop();
  writer.stop();

  std::printf("rotation: %d sessions cut; writes %s; reads %ld, 503 %ld\n", cut_sessions, testkit::answers(writer).c_str(),
              load.sent(), load.unavailable());
  EXPECT_GE(cut_sessions, 5);  // 2 workers x 2, and the change feed
  EXPECT_EQ(load.failed(), 0) << joined(load.failures());
  EXPECT_EQ(load.unavailable(), 0) << "a read was refused";
  EXPECT_TRUE(writer.failures().empty()) << joined(writer.failures());
  // A write cut at its commit may be answered 503 (see the README); none
  // sent after the connections came back is.
  EXPECT_LT(writer.last_refused_sent(), cut + 200ms);
  EXPECT_GT(writer.created().size(), 20u);
  EXPECT_EQ(srv.pid(), leader);
  EXPECT_TRUE(testkit::process_alive(leader));
  EXPECT_NE(pg.query("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'granite worker%'"), "0");
  EXPECT_EQ(srv.log().find("password authentication failed"), std::string::npos);
  pqxx::connection c("host=127.0.0.1 port=" + std::to_string(pg.port()) +
                     " user=granite dbname=granite password=second-password");
  testkit::expect_written_once(c, writer);
  std::filesystem::remove(passfile);
}
