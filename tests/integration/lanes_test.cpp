// Where the worker's database sends a batch, against a real PostgreSQL: a
// statement that waits on a lock stalls its connection, and what comes next
// goes elsewhere or waits in granite, at most the statement timeout.
#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <vector>
#include <pqxx/pqxx>

#include "features/posts/posts.hpp"
#include "features/threads/threads.hpp"
#include "features/users/users.hpp"
#include "granite/store/migrate.hpp"
#include "granite/store/seed.hpp"
#include "support/async_db.hpp"
#include "support/testkit.hpp"

using namespace granite;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

// A connection's backend stopped (SIGSTOP: a host that froze, a backend
// that gets no CPU), and started again at the latest when this goes.
struct frozen {
  int pid;
  bool stopped;
  frozen(const testkit::scratch_database& db, const std::string& application)
      : pid(std::stoi(db.query("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND "
                               "application_name = '" + application + "'"))),
        stopped(kill(pid, SIGSTOP) == 0) {}
  ~frozen() { thaw(); }
  frozen(const frozen&) = delete;
  frozen& operator=(const frozen&) = delete;
  void thaw() { kill(pid, SIGCONT); }
};

struct Lanes : ::testing::Test {
  testkit::scratch_database db;

  void SetUp() override {
    auto c = db.connect();
    store::migrate(*c);
    store::load_seed(*c, store::read_seed_file(testkit::source_path("tests/data/forum.json")), store::seed_mode::add);
  }

  // A batch submitted without waiting: its answer, and when it came.
  struct pending {
    std::optional<store::answer> answer;
    clock_type::time_point at;
  };
  static std::shared_ptr<pending> submit(testkit::async_db& a, store::database::lane lane, store::batch b) {
    auto p = std::make_shared<pending>();
    a.db().submit(lane, std::move(b), [p](store::answer ans) {
      p->answer = std::move(ans);
      p->at = clock_type::now();
    });
    return p;
  }

  // Runs the loop until a statement waits on a lock.
  void until_waiting_on_a_lock(testkit::async_db& a) {
    ASSERT_TRUE(a.run_until([&] {
      return db.query("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
                      "wait_event_type = 'Lock'") == "1";
    }));
  }
};

}  // namespace

TEST_F(Lanes, AWriteBehindAStalledConnectionWaitsInGraniteAtMostTheStatementTimeoutWhileReadsGoOn) {
  if (geteuid() != 0) GTEST_SKIP() << "stopping a PostgreSQL backend needs root";
  testkit::async_db a(db.url(), 500);
  ASSERT_TRUE(a.write(threads::insert("before", 1)).ok());
  // The write connection's backend stops answering (a host that froze):
  // no statement timeout can end what it was sent.
  frozen backend(db, "granite writes");
  ASSERT_TRUE(backend.stopped);

  auto sent = submit(a, store::database::lane::write, threads::insert("sent to the frozen backend", 1));
  auto t0 = clock_type::now();
  a.run_until([&] { return clock_type::now() - t0 > 60ms; });  // long enough to count as stalled
  auto behind = submit(a, store::database::lane::write, threads::insert("waited behind it", 1));
  auto queued_at = clock_type::now();

  // Reads go on, on the read connection.
  for (int i = 0; i < 20; ++i) {
    auto r = a.read(users::select_by_id(2));
    ASSERT_TRUE(r.ok()) << r.failed().message;
    EXPECT_EQ(r[0].size(), 1u);
  }
  ASSERT_TRUE(a.run_until([&] { return behind->answer.has_value(); }, 5));
  ASSERT_FALSE(behind->answer->ok());
  EXPECT_EQ(behind->answer->failed().what, store::failure::kind::timeout);
  EXPECT_GE(behind->at - queued_at, 480ms);
  EXPECT_LT(behind->at - queued_at, 1500ms);
  EXPECT_FALSE(sent->answer) << "the frozen backend answered";

  backend.thaw();
  ASSERT_TRUE(a.run_until([&] { return sent->answer.has_value(); }));
  EXPECT_TRUE(sent->answer->ok()) << sent->answer->failed().message;
  EXPECT_EQ(db.query("SELECT count(*) FROM threads WHERE title = 'sent to the frozen backend'"), "1");
  EXPECT_EQ(db.query("SELECT count(*) FROM threads WHERE title = 'waited behind it'"), "0");
  EXPECT_TRUE(a.write(threads::insert("after", 1)).ok());
}

TEST_F(Lanes, AReadTheStalledReadConnectionCannotTakeGoesToTheIdleWriteConnection) {
  testkit::async_db a(db.url(), 30000);
  pqxx::connection blocker(db.url());
  pqxx::work lock(blocker);
  lock.exec("LOCK TABLE users IN ACCESS EXCLUSIVE MODE");

  auto slow = submit(a, store::database::lane::read, users::select_by_id(1));
  until_waiting_on_a_lock(a);
  auto other = a.read(threads::select_by_id(1));
  ASSERT_TRUE(other.ok()) << other.failed().message;
  EXPECT_EQ(other[0].size(), 1u);
  EXPECT_FALSE(slow->answer) << "the read of users did not wait on the lock";
  EXPECT_NE(db.query("SELECT query FROM pg_stat_activity WHERE datname = current_database() AND "
                     "application_name = 'granite writes'")
                .find("FROM threads"),
            std::string::npos)
      << "the other read did not go to the write connection";

  lock.abort();
  ASSERT_TRUE(a.run_until([&] { return slow->answer.has_value(); }));
  EXPECT_TRUE(slow->answer->ok());
}

// A backend that waits for a CPU (or froze) holds every read sent to it:
// once its connection has answered nothing for 20 ms, each read waiting
// behind the one at its front is sent again on another connection (here
// the idle write connection) and answered from there, once; the front one
// (it may be running) waits, and the frozen backend's late answer of the
// copy's original is dropped.
TEST_F(Lanes, ReadsWaitingBehindAStalledConnectionsFrontAreSentAgainOnAnother) {
  if (geteuid() != 0) GTEST_SKIP() << "stopping a PostgreSQL backend needs root";
  testkit::async_db a(db.url(), 30000);
  ASSERT_TRUE(a.read(users::select_by_id(1)).ok());
  frozen backend(db, "granite reads");
  ASSERT_TRUE(backend.stopped);

  std::map<std::int64_t, int> answers;  // by user id: how often answered
  std::map<std::int64_t, std::optional<store::answer>> got;
  auto ask = [&](std::int64_t id) {
    a.db().submit(store::database::lane::read, users::select_by_id(id), [&, id](store::answer ans) {
      ++answers[id];
      got[id] = std::move(ans);
    });
  };
  // In one turn: the first to the read connection (its front), the second
  // to the idle write connection, the third behind the first.
  auto t0 = clock_type::now();
  ask(1);
  ask(2);
  ask(3);
  ASSERT_TRUE(a.run_until([&] { return got[3].has_value(); }, 5));
  auto took = clock_type::now() - t0;
  ASSERT_TRUE(got[3]->ok()) << got[3]->failed().message;
  ASSERT_EQ((*got[3])[0].size(), 1u);
  EXPECT_EQ((*got[3])[0].integer(0, 0), 3);
  EXPECT_GE(took, 20ms);
  EXPECT_LT(took, 1000ms) << "the read waited for the frozen backend";
  ASSERT_TRUE(got[2].has_value() && got[2]->ok());
  EXPECT_FALSE(got[1].has_value()) << "the frozen backend answered";
  EXPECT_EQ(a.db().snapshot().hedged, 1u) << "only the read behind the front is sent again";

  // Thawed, the backend answers the front, and the third again: dropped.
  backend.thaw();
  ASSERT_TRUE(a.run_until([&] { return got[1].has_value(); }, 5));
  EXPECT_TRUE(got[1]->ok());
  auto thawed = clock_type::now();  // the third's original comes right behind
  a.run_until([&] { return clock_type::now() - thawed > 200ms; });
  ASSERT_TRUE(a.read(users::select_by_id(4)).ok());
  EXPECT_EQ(answers, (std::map<std::int64_t, int>{{1, 1}, {2, 1}, {3, 1}}));
  EXPECT_EQ(a.db().snapshot().hedged, 1u);
  EXPECT_EQ(a.db().snapshot().waiting, 0u);
}

// A statement cancelled before its own deadline committed nothing: a cancel
// meant for the batch in front of it (which ended as the cancel came) or an
// operator's pg_cancel_backend. It is sent once more; cancelled again, it is
// answered as timed out.
TEST_F(Lanes, ABatchCancelledBeforeItsDeadlineIsSentOnceMore) {
  testkit::async_db a(db.url(), 30000);
  auto cancel_the_write = [&] {
    until_waiting_on_a_lock(a);
    EXPECT_EQ(db.query("SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity WHERE datname = "
                       "current_database() AND application_name = 'granite writes'"),
              "1");
  };
  for (int cancels : {1, 2}) {
    SCOPED_TRACE(cancels);
    std::string text = "cancelled " + std::to_string(cancels) + " times";
    pqxx::connection blocker(db.url());
    pqxx::work lock(blocker);
    // A post's foreign key waits for the thread's row.
    lock.exec("SELECT 1 FROM threads WHERE id = 1 FOR UPDATE");
    auto retried = a.db().snapshot().retried;
    auto w = submit(a, store::database::lane::write, posts::insert(1, 1, text));
    cancel_the_write();
    ASSERT_TRUE(a.run_until([&] { return a.db().snapshot().retried == retried + 1; }));
    if (cancels == 2) cancel_the_write();
    ASSERT_TRUE(a.run_until([&] { return w->answer.has_value() || cancels == 1; }));
    lock.commit();
    ASSERT_TRUE(a.run_until([&] { return w->answer.has_value(); }));
    if (cancels == 1) {
      EXPECT_TRUE(w->answer->ok()) << w->answer->failed().message;
    } else {
      ASSERT_FALSE(w->answer->ok());
      EXPECT_EQ(w->answer->failed().what, store::failure::kind::timeout);
    }
    EXPECT_EQ(db.query("SELECT count(*) FROM posts WHERE text = '" + text + "'"), cancels == 1 ? "1" : "0");
  }
}

namespace {
// Statements sent without being prepared (statement.hpp), for the tests below.
constexpr store::statement transaction_start{nullptr, "SELECT transaction_timestamp()::text"};
constexpr store::statement divide{nullptr, "SELECT 1 / $1::int"};

bool all_answered(const std::vector<std::shared_ptr<Lanes::pending>>& asked) {
  return std::all_of(asked.begin(), asked.end(), [](auto& p) { return p->answer.has_value(); });
}

// When each transaction_start read began its transaction: one entry per
// transaction.
std::set<std::string> transactions_of(const std::vector<std::shared_ptr<Lanes::pending>>& asked) {
  std::set<std::string> began;
  for (auto& p : asked) {
    EXPECT_TRUE(p->answer->ok()) << p->answer->failed().message;
    if (p->answer->ok()) began.insert(std::string((*p->answer)[0].text(0, 0)));
  }
  return began;
}

// The write connection busy with a write that waits on a row lock, so that
// every read goes to the read connection; the write goes through once this
// goes.
struct write_connection_held {
  Lanes& test;
  testkit::async_db& a;
  pqxx::connection blocker;
  pqxx::work lock;
  std::shared_ptr<Lanes::pending> held;
  write_connection_held(Lanes& t, testkit::async_db& db) : test(t), a(db), blocker(t.db.url()), lock(blocker) {
    lock.exec("SELECT 1 FROM threads WHERE id = 1 FOR UPDATE");
    held = Lanes::submit(a, store::database::lane::write, posts::insert(1, 1, "behind a lock"));
    test.until_waiting_on_a_lock(a);
  }
  ~write_connection_held() {
    lock.commit();
    EXPECT_TRUE(a.run_until([&] { return held->answer.has_value(); }));
    EXPECT_TRUE(held->answer && held->answer->ok());
  }
};
}  // namespace

// Reads asked in one turn of the loop go with one sync: the server runs
// them as one transaction (one send, one commit).
TEST_F(Lanes, ReadsAskedInOneTurnShareOneSync) {
  testkit::async_db a(db.url(), 30000);
  write_connection_held busy(*this, a);
  std::vector<std::shared_ptr<pending>> asked;
  for (int i = 0; i < 3; ++i) asked.push_back(submit(a, store::database::lane::read, store::batch().add(transaction_start)));
  ASSERT_TRUE(a.run_until([&] { return all_answered(asked); }));
  EXPECT_EQ(transactions_of(asked).size(), 1u) << "the three reads ran in more than one transaction";

  // In turns of their own, each is its own transaction.
  auto first = a.read(store::batch().add(transaction_start));
  auto second = a.read(store::batch().add(transaction_start));
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_NE(first[0].text(0, 0), second[0].text(0, 0));
}

// A write is its own transaction, on a connection that took reads in the
// same turn too (the idle write connection takes a read the busy read
// connection would queue).
TEST_F(Lanes, AWriteSentBehindReadsOfItsTurnIsItsOwnTransaction) {
  testkit::async_db a(db.url());
  std::vector<std::shared_ptr<pending>> asked;
  for (int i = 0; i < 2; ++i) asked.push_back(submit(a, store::database::lane::read, store::batch().add(transaction_start)));
  asked.push_back(submit(a, store::database::lane::write, store::batch().add(transaction_start)));
  ASSERT_TRUE(a.run_until([&] { return all_answered(asked); }));
  EXPECT_EQ(transactions_of(asked).size(), 3u);
}

// A read that fails is answered with its own failure; the server skips the
// reads behind it in their shared sync, and they are sent again, each with
// a sync of its own, and answered with their rows.
TEST_F(Lanes, AReadThatFailsFailsAloneThoughItSharedItsSync) {
  testkit::async_db a(db.url(), 30000);
  write_connection_held busy(*this, a);
  auto retried = a.db().snapshot().retried;
  std::vector<std::shared_ptr<pending>> asked;
  for (int by : {1, 0, 2, 4})
    asked.push_back(submit(a, store::database::lane::read, store::batch().add(divide, by)));
  ASSERT_TRUE(a.run_until([&] { return all_answered(asked); }));
  ASSERT_FALSE(asked[1]->answer->ok());
  EXPECT_EQ(asked[1]->answer->failed().what, store::failure::kind::statement);
  EXPECT_NE(asked[1]->answer->failed().message.find("22012"), std::string::npos) << asked[1]->answer->failed().message;
  for (std::size_t i : {0u, 2u, 3u}) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(asked[i]->answer->ok()) << asked[i]->answer->failed().message;
    EXPECT_EQ((*asked[i]->answer)[0].integer(0, 0), i == 0 ? 1 : 0);
  }
  EXPECT_EQ(a.db().snapshot().retried, retried + 2) << "the two reads behind the failure were sent again";
}

