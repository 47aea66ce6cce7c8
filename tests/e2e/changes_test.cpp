// The change feed end to end (store/change_feed.hpp): instances of granite on
// one database, changes made through them and behind their backs, and what
// each instance serves from its cache while the stream is held, lost, taken
// over, and where it cannot be had at all.
//
// The bound every test holds granite to: no read that starts more than
// 100 ms after a change committed shows what the change replaced. It is
// kept by construction (a worker answers from its cache only while the
// feed has proven, within the last 100 ms, that every change is in the
// ring), so these tests hold on a slow or loaded machine too: a slow feed
// costs cache hits, never correctness.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "support/forum.hpp"
#include "support/testkit.hpp"

using namespace granite;
using namespace std::chrono_literals;
using testkit::http_client;
using clock_type = std::chrono::steady_clock;

namespace {

// Connections that last the whole test.
const std::vector<std::string> steady = {"--set", "http.max_requests_per_connection=0"};

std::string name_of(const testkit::http_response& r) {
  if (r.status != 200) return "status " + std::to_string(r.status);
  return nlohmann::json::parse(r.body)["name"];
}

double metric(int metrics_port, const std::string& name) {
  auto r = testkit::get(metrics_port, "/metrics");
  auto at = r.body.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stod(r.body.substr(at + name.size() + 2));
}

// Which of these instances holds the stream (-1: none yet).
int holder(const std::vector<testkit::server*>& instances) {
  for (std::size_t i = 0; i < instances.size(); ++i)
    if (metric(instances[i]->metrics_port(), "granite_changes_holding_stream") == 1) return static_cast<int>(i);
  return -1;
}

// Renames user 1 by psql and reads it on every instance until each shows
// it: how long each took, and how many reads that started more than 100 ms
// after the commit showed the old name.
struct propagation {
  std::vector<double> ms;  // per instance, the first fresh read
  int stale = 0;
};
propagation rename_and_watch(testkit::scratch_database& db, std::vector<std::unique_ptr<http_client>>& conns,
                             const std::string& name) {
  propagation p;
  db.query("UPDATE users SET name = '" + name + "' WHERE id = 1");
  auto committed = clock_type::now();
  for (auto& c : conns) {
    for (;;) {
      auto started = clock_type::now();
      auto r = c->request("GET", "/api/users/1");
      if (name_of(r) == name) {
        p.ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - committed).count());
        break;
      }
      if (started > committed + 100ms) ++p.stale;
      if (clock_type::now() > committed + 5s) {
        p.ms.push_back(5000);
        break;
      }
    }
  }
  return p;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

std::vector<std::unique_ptr<http_client>> clients_of(const std::vector<testkit::server*>& instances) {
  std::vector<std::unique_ptr<http_client>> out;
  for (auto* s : instances)
    for (auto& c : testkit::one_per_worker(s->port(), 2)) out.push_back(std::move(c));
  return out;
}

void kill_instance(testkit::server& s) {
  ::kill(-s.pid(), SIGKILL);  // the leader's process group: every process of the instance
  s.wait_exit(5s);
}

int slots_of(testkit::scratch_database& db) {
  return std::stoi(db.query("SELECT count(*) FROM pg_replication_slots WHERE database = current_database()"));
}

}  // namespace

// One instance holds the stream for both; a change made by psql reaches
// every worker of both, and nothing stale is served meanwhile.
TEST(Changes, AnOutsideWriteReachesEveryWorkerOfEveryInstance) {
  testkit::scratch_database db;
  auto url = db.seeded();
  testkit::server a({.database_url = url, .workers = 2, .extra_args = steady});
  testkit::server b({.database_url = url, .workers = 2, .extra_args = steady});
  ASSERT_TRUE(testkit::eventually([&] { return holder({&a, &b}) >= 0; }, 10s));
  EXPECT_EQ(metric(a.metrics_port(), "granite_changes_holding_stream") +
                metric(b.metrics_port(), "granite_changes_holding_stream"),
            1)
      << "one decoder for the fleet";
  EXPECT_EQ(metric(a.metrics_port(), "granite_changes_streaming"), 1);
  auto conns = clients_of({&a, &b});
  ASSERT_EQ(conns.size(), 4u);
  std::vector<double> all;
  int stale = 0;
  for (int i = 0; i < 20; ++i) {
    for (auto& c : conns) c->request("GET", "/api/users/1");  // kept, then served from the cache
    auto p = rename_and_watch(db, conns, "psql " + std::to_string(i));
    stale += p.stale;
    all.insert(all.end(), p.ms.begin(), p.ms.end());
  }
  EXPECT_EQ(stale, 0);
  std::printf("[ measure  ] psql change seen by all 4 workers of 2 instances: median %.1f ms, worst %.1f ms\n",
              median(all), *std::max_element(all.begin(), all.end()));
  EXPECT_LT(*std::max_element(all.begin(), all.end()), 5000) << "a change never arrived";
  for (auto& c : conns) EXPECT_GT(testkit::cache_stats(*c)["hits"].get<long>(), 0);
  // One connection per instance follows the changes, and one walsender.
  EXPECT_EQ(db.query("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
                     "application_name = 'granite changes' AND backend_type = 'client backend'"),
            "2");
  EXPECT_EQ(slots_of(db), 1);
}

// The instance that holds the stream killed outright, under writes: the
// other takes it over (a new slot, every cache emptied once), and no read
// on it is ever stale by more than the bound.
TEST(Changes, TheDecodersInstanceKilledAnotherTakesOver) {
  testkit::scratch_database db;
  auto url = db.seeded();
  testkit::server a({.database_url = url, .workers = 1, .extra_args = steady});
  testkit::server b({.database_url = url, .workers = 1, .extra_args = steady});
  ASSERT_TRUE(testkit::eventually([&] { return holder({&a, &b}) >= 0; }, 10s));
  testkit::server& decoder = holder({&a, &b}) == 0 ? a : b;
  testkit::server& other = &decoder == &a ? b : a;
  double gaps_before = metric(other.metrics_port(), "granite_changes_gaps_total");
  std::vector<std::unique_ptr<http_client>> conns;
  conns.push_back(std::make_unique<http_client>(other.port()));

  kill_instance(decoder);
  auto killed = clock_type::now();
  std::vector<double> after;
  int stale = 0;
  for (int i = 0; i < 15; ++i) {
    conns[0]->request("GET", "/api/users/1");
    auto p = rename_and_watch(db, conns, "after the kill " + std::to_string(i));
    stale += p.stale;
    after.insert(after.end(), p.ms.begin(), p.ms.end());
  }
  EXPECT_EQ(stale, 0);
  ASSERT_TRUE(testkit::eventually([&] { return metric(other.metrics_port(), "granite_changes_holding_stream") == 1; }, 10s));
  auto took = std::chrono::duration<double>(clock_type::now() - killed).count();
  EXPECT_GT(metric(other.metrics_port(), "granite_changes_gaps_total"), gaps_before) << "the caches emptied";
  EXPECT_EQ(metric(other.metrics_port(), "granite_changes_takeovers_total"), 1);
  ASSERT_TRUE(testkit::eventually([&] { return slots_of(db) == 1; }, 5s)) << "the dead holder's slot is gone";
  // And the cache is in use again.
  conns[0]->request("GET", "/api/users/1");
  long hits = testkit::cache_stats(*conns[0])["hits"];
  conns[0]->request("GET", "/api/users/1");
  EXPECT_TRUE(testkit::eventually([&] {
    conns[0]->request("GET", "/api/users/1");
    return testkit::cache_stats(*conns[0])["hits"].get<long>() > hits;
  }));
  std::printf("[ measure  ] decoder killed: taken over within %.1f s; changes seen in median %.1f ms, worst %.1f ms, "
              "none stale\n",
              took, median(after), *std::max_element(after.begin(), after.end()));
}

// A transaction whose changes do not fit one notification (PostgreSQL's
// 8000 bytes): the holder sends them as several payloads of one batch, only
// the last carrying the position, and every instance applies all of them
// once that last one has come, in order, without a gap (which would empty
// its cache, and hide a lost payload).
TEST(Changes, ABatchTooLargeForOneNotificationArrivesWhole) {
  testkit::scratch_database db;
  auto url = db.seeded();
  testkit::server a({.database_url = url, .workers = 1, .extra_args = steady});
  testkit::server b({.database_url = url, .workers = 1, .extra_args = steady});
  ASSERT_TRUE(testkit::eventually([&] { return holder({&a, &b}) >= 0; }, 10s));
  // Ids of 19 digits: a post's notice is 62 bytes, and 200 of them, one
  // transaction's, are 12 400 bytes, at least two payloads.
  auto notices_of = [](const testkit::server& s) { return metric(s.metrics_port(), "granite_changes_notices_total"); };
  std::vector<double> at_start{notices_of(a), notices_of(b)};
  const std::string wide = "9000000000000000000";
  db.query("INSERT INTO users (id, username) VALUES (" + wide + ", 'wide_ids')");
  db.query("INSERT INTO threads (id, title, created_by) VALUES (" + wide + ", 'wide', " + wide + ")");
  std::vector<std::unique_ptr<http_client>> conns;
  for (auto* s : {&a, &b}) conns.push_back(std::make_unique<http_client>(s->port()));
  db.query("INSERT INTO posts (id, thread_id, user_id, text) SELECT " + wide + " + n, " + wide + ", " + wide +
           ", 'before' FROM generate_series(1, 200) n");
  auto post = [&](int n) { return "/api/posts/" + std::to_string(9000000000000000000LL + n); };
  // Every post read on both instances until found, then once more: kept.
  for (auto& c : conns)
    for (int n = 1; n <= 200; ++n) {
      ASSERT_TRUE(testkit::eventually([&] { return c->request("GET", post(n)).status == 200; }, 5s)) << post(n);
      c->request("GET", post(n));
    }
  // Counted from when each instance has the inserts' 200 notices: those of
  // the update come after them.
  std::vector<double> gaps, notices;
  for (std::size_t i = 0; i < 2; ++i) {
    auto& s = i == 0 ? a : b;
    ASSERT_TRUE(testkit::eventually([&] { return notices_of(s) - at_start[i] >= 200; }, 5s)) << "instance " << i;
    gaps.push_back(metric(s.metrics_port(), "granite_changes_gaps_total"));
    notices.push_back(notices_of(s));
  }

  db.query("UPDATE posts SET text = 'after' WHERE thread_id = " + wide);
  auto committed = clock_type::now();
  int stale = 0;
  for (auto& c : conns)
    for (int n = 1; n <= 200; ++n)
      EXPECT_TRUE(testkit::eventually([&] {
        auto started = clock_type::now();
        bool fresh = c->request("GET", post(n)).body.find("\"text\":\"after\"") != std::string::npos;
        if (!fresh && started > committed + 100ms) ++stale;
        return fresh;
      }, 5s)) << post(n) << " never showed the change";
  EXPECT_EQ(stale, 0);
  // The feed copies its counters into the instance's metrics every 100 ms
  // or so: the pages may be fresh before the counters say why.
  for (std::size_t i = 0; i < 2; ++i) {
    auto& s = i == 0 ? a : b;
    EXPECT_TRUE(testkit::eventually([&] { return notices_of(s) - notices[i] >= 200; }, 5s)) << "instance " << i;
    EXPECT_EQ(metric(s.metrics_port(), "granite_changes_gaps_total"), gaps[i])
        << "instance " << i << " emptied its cache";
  }
  // And the cache is kept, not bypassed: a post read twice more is a hit.
  long hits = testkit::cache_stats(*conns[0])["hits"];
  conns[0]->request("GET", post(7));
  conns[0]->request("GET", post(7));
  EXPECT_GT(testkit::cache_stats(*conns[0])["hits"].get<long>(), hits);
}

// Whatever kills every process of every instance, no replication slot is
// left to hold the primary's WAL: the slot is temporary, and goes with the
// walsender when its connection does.
TEST(Changes, NoSlotOutlivesTheInstancesKilledOutright) {
  testkit::scratch_database db;
  auto url = db.seeded();
  testkit::server a({.database_url = url, .workers = 1, .extra_args = steady});
  testkit::server b({.database_url = url, .workers = 1, .extra_args = steady});
  ASSERT_TRUE(testkit::eventually([&] { return slots_of(db) == 1; }, 10s));
  EXPECT_EQ(db.query("SELECT bool_and(temporary) FROM pg_replication_slots WHERE database = current_database()"), "t");
  kill_instance(a);
  kill_instance(b);
  auto killed = clock_type::now();
  EXPECT_TRUE(testkit::eventually([&] { return slots_of(db) == 0; }, 5s)) << slots_of(db) << " slots left";
  std::printf("[ measure  ] every process SIGKILLed: 0 slots after %.0f ms\n",
              std::chrono::duration<double, std::milli>(clock_type::now() - killed).count());
}

// An instance of the previous release follows the triggers' notices; one of
// this release, the stream. On one database, with writes through both, each
// serves the other's writes, and psql's, and nothing stale. (The previous
// release is stood for by cache.changes = notify, which follows the
// notices as it did.)
TEST(Changes, AnInstanceOnNoticesAndOneOnTheStreamShareADatabase) {
  testkit::scratch_database db;
  auto url = db.seeded();
  auto args = testkit::brisk_hashing();
  args.insert(args.end(), steady.begin(), steady.end());
  auto old_args = args;
  old_args.insert(old_args.end(), {"--set", "cache.changes=notify"});
  testkit::server old_release({.database_url = url, .workers = 1, .extra_args = old_args});
  testkit::server new_release({.database_url = url, .workers = 1, .extra_args = args});
  EXPECT_EQ(metric(old_release.metrics_port(), "granite_changes_streaming"), 0);
  EXPECT_EQ(metric(new_release.metrics_port(), "granite_changes_streaming"), 1);
  EXPECT_NE(old_release.log().find("follows the triggers' notices"), std::string::npos) << old_release.log();
  testkit::forum_client via_old(old_release.port()), via_new(new_release.port());
  auto me = via_old.member("both_releases");
  http_client read_old(old_release.port()), read_new(new_release.port());
  int stale = 0;
  for (int i = 0; i < 10; ++i) {
    for (auto* r : {&read_old, &read_new}) r->request("GET", "/api/users/" + std::to_string(me.id));
    auto& writer = i % 2 ? via_new : via_old;
    auto wrote = writer.call("PATCH", "/api/users/" + std::to_string(me.id),
                             nlohmann::json{{"bio", "bio " + std::to_string(i)}}.dump(), me.token);
    ASSERT_EQ(wrote.status, 200) << wrote.body;
    auto committed = clock_type::now();
    for (auto* r : {&read_old, &read_new}) {
      ASSERT_TRUE(testkit::eventually([&] {
        auto started = clock_type::now();
        auto body = r->request("GET", "/api/users/" + std::to_string(me.id)).body;
        bool fresh = body.find("\"bio " + std::to_string(i) + "\"") != std::string::npos;
        if (!fresh && started > committed + 100ms) ++stale;
        return fresh;
      }));
    }
  }
  EXPECT_EQ(stale, 0);
  std::vector<std::unique_ptr<http_client>> conns;
  conns.push_back(std::make_unique<http_client>(old_release.port()));
  conns.push_back(std::make_unique<http_client>(new_release.port()));
  for (auto& c : conns) c->request("GET", "/api/users/1");
  EXPECT_EQ(rename_and_watch(db, conns, "renamed by psql").stale, 0);
}

// Where logical decoding cannot be had (wal_level = replica), the instance
// says why, what it costs and how to have it, and follows the triggers'
// notices on one connection (not one per worker).
TEST(Changes, WithoutLogicalDecodingOneListenerPerInstanceFollowsTheNotices) {
  testkit::own_postgres pg;  // wal_level = replica, PostgreSQL's default
  auto migrated = testkit::run_granite({"seed", "--file", testkit::source_path("tests/data/forum.json")},
                                       {{"DATABASE_URL", pg.url()}});
  ASSERT_EQ(migrated.exit_code, 0) << migrated.err;
  testkit::server a({.database_url = pg.url(), .workers = 2, .extra_args = steady});
  testkit::server b({.database_url = pg.url(), .workers = 2, .extra_args = steady});
  auto log = a.log();
  EXPECT_NE(log.find("wal_level is replica, not logical"), std::string::npos) << log;
  EXPECT_NE(log.find("the fleet's writers commit one at a time"), std::string::npos) << log;
  EXPECT_EQ(metric(a.metrics_port(), "granite_changes_streaming"), 0);
  pqxx::connection admin(pg.url());
  pqxx::nontransaction tx(admin);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'granite changes (notices)'")[0][0]
                .as<int>(),
            2);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM pg_replication_slots")[0][0].as<int>(), 0);
  auto conns = clients_of({&a, &b});
  for (auto& c : conns) c->request("GET", "/api/users/1");
  int stale = 0;
  std::vector<double> all;
  for (int i = 0; i < 10; ++i) {
    for (auto& c : conns) c->request("GET", "/api/users/1");  // kept, then served from the cache
    tx.exec("UPDATE users SET name = 'notice " + std::to_string(i) + "' WHERE id = 1");
    auto committed = clock_type::now();
    for (auto& c : conns) {
      for (;;) {
        auto started = clock_type::now();
        if (name_of(c->request("GET", "/api/users/1")) == "notice " + std::to_string(i)) break;
        if (started > committed + 100ms) ++stale;
        ASSERT_LT(clock_type::now(), committed + 5s);
      }
      all.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - committed).count());
    }
  }
  EXPECT_EQ(stale, 0);
  for (auto& c : conns) EXPECT_GT(testkit::cache_stats(*c)["hits"].get<long>(), 0);
  std::printf("[ measure  ] notices: psql change seen by all 4 workers of 2 instances: median %.1f ms, worst %.1f ms\n",
              median(all), *std::max_element(all.begin(), all.end()));
}

// The contract step of a rolling upgrade: once no instance follows the
// triggers' notices, `granite notices off` stops them, and writers no longer
// notify; it refuses while one does. An instance that follows the notices
// while they are off answers from the database, never from a cache it
// cannot keep exact, until `granite notices on`.
TEST(Changes, NoticesTurnOffOnlyOnceNobodyFollowsThem) {
  testkit::scratch_database db;
  auto url = db.seeded();
  auto notices = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "notices");
    return testkit::run_granite(args, {{"DATABASE_URL", url}});
  };
  std::vector<std::string> notify_args = steady;
  notify_args.insert(notify_args.end(), {"--set", "cache.changes=notify"});
  {
    testkit::server follower({.database_url = url, .workers = 1, .extra_args = notify_args});
    auto refused = notices({"off"});
    EXPECT_NE(refused.exit_code, 0);
    EXPECT_NE(refused.err.find("granite changes (notices)"), std::string::npos) << refused.err;
    EXPECT_NE(notices({}).out.find("on (6 of 6 enabled)"), std::string::npos);
  }
  testkit::server streaming({.database_url = url, .workers = 1, .extra_args = steady});
  auto off = notices({"off"});
  ASSERT_EQ(off.exit_code, 0) << off.err;
  EXPECT_NE(notices({}).out.find("off (0 of 6 enabled)"), std::string::npos);
  // Nothing notifies any more; the stream still brings every change.
  pqxx::connection listener(url);
  struct receiver : pqxx::notification_receiver {
    using pqxx::notification_receiver::notification_receiver;
    int got = 0;
    void operator()(const std::string&, int) override { ++got; }
  } notices_sent(listener, "granite_cache");
  std::vector<std::unique_ptr<http_client>> conns;
  conns.push_back(std::make_unique<http_client>(streaming.port()));
  conns[0]->request("GET", "/api/users/1");
  EXPECT_EQ(rename_and_watch(db, conns, "no notice").stale, 0);
  listener.await_notification(0, 300000);
  EXPECT_EQ(notices_sent.got, 0) << "a writer notified with the notices off";

  // An instance on the notices now: exact, from the database.
  testkit::server follower({.database_url = url, .workers = 1, .extra_args = notify_args, .wait_ready = false});
  ASSERT_TRUE(testkit::eventually([&] {
    try {
      return follower.log().find("triggers are off") != std::string::npos &&
             testkit::get(follower.port(), "/health").status == 200;
    } catch (const std::exception&) {
      return false;
    }
  }, 15s)) << follower.log();
  http_client f(follower.port());
  EXPECT_EQ(testkit::cache_stats(f)["listening"], false);
  conns.push_back(std::make_unique<http_client>(follower.port()));
  EXPECT_EQ(rename_and_watch(db, conns, "while off").stale, 0);
  ASSERT_EQ(notices({"on"}).exit_code, 0);
  EXPECT_TRUE(testkit::eventually([&] { return testkit::cache_stats(f)["listening"] == true; }));
  EXPECT_EQ(rename_and_watch(db, conns, "on again").stale, 0);
}

// A new slot waits for every transaction running when it is asked for to
// end. While one runs on, the instance serves (from the database, exact),
// and its feed goes on beating; the stream opens once it ends.
TEST(Changes, ASlotWaitingOnALongTransactionHoldsUpOnlyTheCache) {
  testkit::scratch_database db;
  auto url = db.seeded();
  pqxx::connection long_running(url);
  pqxx::work open_transaction(long_running);
  open_transaction.exec("SELECT txid_current()");  // a transaction id, held
  testkit::server s({.database_url = url, .workers = 1, .extra_args = steady, .wait_ready = false});
  ASSERT_TRUE(testkit::eventually([&] {
    try {
      return testkit::get(s.port(), "/health").status == 200;
    } catch (const std::exception&) {
      return false;
    }
  }, 15s)) << s.log();
  pid_t feed = s.feed();
  std::vector<std::unique_ptr<http_client>> conns;
  conns.push_back(std::make_unique<http_client>(s.port()));
  EXPECT_EQ(rename_and_watch(db, conns, "while the slot waits").stale, 0);
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(testkit::cache_stats(*conns[0])["listening"], false);
  EXPECT_EQ(metric(s.metrics_port(), "granite_changes_holding_stream"), 0);
  EXPECT_EQ(s.feed(), feed) << "the feed was not replaced while it waited";
  open_transaction.abort();
  EXPECT_TRUE(testkit::eventually([&] { return testkit::cache_stats(*conns[0])["listening"] == true; }, 10s));
  EXPECT_TRUE(testkit::eventually([&] { return metric(s.metrics_port(), "granite_changes_holding_stream") == 1; }));
  EXPECT_EQ(rename_and_watch(db, conns, "once it opened").stale, 0);
}
