// Retries that are always safe: granite's database connections are reset
// again and again, at any point of a write (before its commit, during it,
// between the commit and its answer), by a relay between granite and
// PostgreSQL, under writers that post with an Idempotency-Key and retry.
// Every key is applied exactly once, and every repeat of a created post is
// answered with its first response. A cluster of the test's own, with
// fsync on: commits take the time they take in production.
#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <random>
#include <thread>

#include "support/cutting_proxy.hpp"
#include "support/forum.hpp"
#include "support/post_writer.hpp"
#include "support/testkit.hpp"

using namespace granite;
using namespace std::chrono_literals;
using testkit::joined;

TEST(Retries, KeyedWritesAreAppliedExactlyOnceWhileConnectionsAreCut) {
  testkit::own_postgres pg({"wal_level=logical"});
  pg.seeded();
  testkit::cutting_proxy relay(pg.port());
  auto args = testkit::brisk_hashing();
  // The change feed's session goes straight to the server: only the
  // workers' connections are cut.
  args.insert(args.end(), {"--set", "database.listen_url=" + pg.url(), "--set", "database.statement_timeout_ms=3000"});
  testkit::server srv({.database_url = "host=127.0.0.1 port=" + std::to_string(relay.port()) +
                                       " user=granite dbname=granite",
                       .workers = 2,
                       .extra_args = args});
  testkit::forum_client api(srv.port());
  auto me = api.member("retrying");

  std::vector<std::unique_ptr<testkit::post_writer>> keyed;
  for (int i = 0; i < 4; ++i)
    keyed.push_back(std::make_unique<testkit::post_writer>(srv.port(), me.token, "keyed" + std::to_string(i), true));
  testkit::post_writer plain(srv.port(), me.token, "plain");
  std::mt19937 random(20261204);
  int cuts = 0, connections_cut = 0;
  // A cut every 20-200 ms, each once a keyed post was created since the
  // one before (or 3 s passed): a loaded machine reconnects slowly, and cuts
  // that come faster than that leave the writers nothing to do but wait.
  // For 5 s, and on until the keyed writers began 60 posts, 30 s at most.
  auto keyed_sent = [&keyed] {
    long n = 0;
    for (auto& w : keyed) n += w->sent();
    return n;
  };
  auto started = std::chrono::steady_clock::now();
  for (auto now = started; now < started + 30s && (now < started + 5s || keyed_sent() < 60);
       now = std::chrono::steady_clock::now(), ++cuts) {
    auto before = keyed_sent();
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution(20, 200)(random)));
    testkit::eventually([&] { return keyed_sent() > before; }, 3s);
    connections_cut += relay.cut();
  }
  plain.stop();
  for (auto& w : keyed) w->stop();

  pqxx::connection c(pg.url());
  long sent = 0, created = 0, replayed = 0, resolved = 0, refused = 0;
  for (auto& w : keyed) {
    SCOPED_TRACE(w->tag());
    testkit::expect_written_once(c, *w);
    EXPECT_TRUE(w->failures().empty()) << joined(w->failures());
    EXPECT_TRUE(w->mismatches().empty()) << joined(w->mismatches());
    EXPECT_EQ(w->created().size(), w->texts().size());
    sent += static_cast<long>(w->texts().size());
    created += static_cast<long>(w->created().size());
    replayed += w->replayed();
    resolved += w->resolved();
    refused += w->refused();
    std::cout << w->tag() << ": " << w->texts().size() << " posts, answers " << testkit::answers(*w) << "\n";
  }
  // Without a key, a write cut at its commit is answered 503 and may have
  // been applied; it is never applied twice.
  testkit::expect_written_once(c, plain);
  auto plain_written = pqxx::nontransaction(c).exec_params1("SELECT count(*) FROM posts WHERE text LIKE $1",
                                                            plain.tag() + " %")[0].as<long>();
  std::cout << cuts << " cuts reset " << connections_cut << " connections\n"
            << "keyed: " << sent << " posts, each applied once; " << resolved << " cut at their commit and answered "
            << "by granite from their key; " << refused << " answers to retry, " << replayed << " retries answered "
            << "from their key\nplain: answers " << testkit::answers(plain) << "; "
            << plain_written - static_cast<long>(plain.created().size())
            << " of the 503s had been applied (a client that retried them would have posted twice)\n";
  EXPECT_GT(sent, 40) << "too few writes to have met the cuts";
  EXPECT_GT(connections_cut, 10);
}
