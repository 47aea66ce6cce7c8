// granite through Debian's PgBouncer in transaction pooling, with fewer
// server connections than granite holds: each batch may run on any of them,
// so granite keeps nothing in a session (database.pooler = transaction).
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <thread>

#include "support/forum.hpp"
#include "support/http_client.hpp"
#include "support/post_writer.hpp"
#include "support/testkit.hpp"

using namespace granite;
using namespace std::chrono_literals;
using testkit::joined;

namespace {

// Reads whose answers the writers (who post into thread 1) do not change;
// no read cache, so that each asks the database.
std::vector<std::string> steady_reads() {
  return {"/api/users/1", "/api/users/2", "/api/users?limit=3", "/api/threads/2", "/api/threads?limit=2",
          "/api/posts/in-thread/2", "/api/posts/by-user/2", "/api/users/999"};
}

// A problem's requestId differs from request to request; the rest must not.
std::string comparable(const testkit::http_response& r) {
  if (r.status < 400) return r.body;
  auto doc = nlohmann::json::parse(r.body, nullptr, false);
  if (doc.is_object()) doc.erase("requestId");
  return doc.dump();
}

std::vector<std::string> uncached(std::vector<std::string> args) {
  args.insert(args.end(), {"--set", "cache.enabled=false"});
  return args;
}

}  // namespace

TEST(Pooler, TransactionPoolingPgBouncerServesTheSameAnswersWithoutAnError) {
  if (!testkit::own_pgbouncer::installed()) GTEST_SKIP() << "pgbouncer is not installed (scripts/test installs it)";
  testkit::own_postgres pg({"wal_level=logical"});
  pg.seeded();
  testkit::own_pgbouncer bouncer(pg, 3);
  // 2 workers x (1 read + 2 write connections) = 6 client connections on 3
  // server connections.
  auto pooled_args = uncached(testkit::brisk_hashing());
  pooled_args.insert(pooled_args.end(), {"--set", "database.pooler=transaction", "--set",
                                         "database.listen_url=" + pg.url(), "--set", "database.write_connections=2"});
  testkit::server pooled({.database_url = bouncer.url(), .workers = 2, .extra_args = pooled_args});
  testkit::server direct({.database_url = pg.url(), .workers = 1, .extra_args = uncached(testkit::brisk_hashing())});

  std::map<std::string, testkit::http_response> expected;
  for (const auto& t : steady_reads()) expected[t] = testkit::get(direct.port(), t);

  testkit::forum_client api(pooled.port());
  auto a = api.member("pooled_a"), b = api.member("pooled_b");
  std::atomic<bool> running{true};
  std::atomic<long> reads{0};
  std::mutex mutex;
  std::vector<std::string> mismatches;
  std::vector<std::thread> readers;
  for (int c = 0; c < 4; ++c)
    readers.emplace_back([&, c] {
      auto targets = steady_reads();
      std::unique_ptr<testkit::http_client> client;
      for (std::size_t i = c; running && i < 100000; ++i) {
        // A fresh keep-alive connection now and then (granite closes one
        // after http.max_requests_per_connection).
        if (i % 200 == static_cast<std::size_t>(c)) client = std::make_unique<testkit::http_client>(pooled.port());
        const auto& t = targets[i % targets.size()];
        testkit::http_response r;
        try {
          r = client->request("GET", t);
        } catch (const std::exception& e) {
          // A failure of the test, not an exception that ends the process
          // and leaves its servers running.
          std::lock_guard lock(mutex);
          mismatches.push_back(t + " -> no answer: " + e.what());
          return;
        }
        ++reads;
        const auto& want = expected[t];
        if (r.status != want.status || comparable(r) != comparable(want)) {
          std::lock_guard lock(mutex);
          if (mismatches.size() < 5) mismatches.push_back(t + " -> " + std::to_string(r.status) + " " + r.body);
        }
      }
    });
  // The second writer sends each post with an Idempotency-Key, and once
  // more: keys work through the pooler (claim, keep, replay).
  testkit::post_writer first(pooled.port(), a.token, "pooled a"), second(pooled.port(), b.token, "pooled b", true);
  std::this_thread::sleep_for(3s);
  running = false;
  for (auto& t : readers) t.join();
  first.stop();
  second.stop();

  std::printf("pooler: %ld reads, %zu writes through PgBouncer (pool of 3)\n", reads.load(),
              first.created().size() + second.created().size());
  EXPECT_TRUE(mismatches.empty()) << joined(mismatches);
  EXPECT_GT(reads.load(), 100);
  for (const auto* w : {&first, &second}) {
    EXPECT_TRUE(w->failures().empty()) << joined(w->failures());
    EXPECT_EQ(w->refused(), 0) << joined(w->refusals());
    EXPECT_GT(w->created().size(), 10u);
  }
  pqxx::connection c(pg.url());
  testkit::expect_written_once(c, first);
  testkit::expect_written_once(c, second);
  EXPECT_TRUE(second.mismatches().empty()) << joined(second.mismatches());
  // Thread 1, written through the pooler, reads the same both ways.
  EXPECT_EQ(testkit::get(pooled.port(), "/api/posts/in-thread/1?limit=100").body,
            testkit::get(direct.port(), "/api/posts/in-thread/1?limit=100").body);
  // Fewer server connections than granite's 6: the pooler's 3, the direct
  // instance's 2, each instance's change feed and this query's.
  EXPECT_LE(std::stoi(pg.query("SELECT count(*) FROM pg_stat_activity WHERE datname = 'granite' AND "
                               "backend_type = 'client backend'")),
            3 + 2 + 2 + 1);
  EXPECT_EQ(bouncer.log().find("ERROR"), std::string::npos) << bouncer.log();
}
