// The changes the read caches follow, from both of their sources, against a
// real PostgreSQL: what the triggers of migrations 0003 and 0005 send, and
// what the publication of migration 0006 streams through pgoutput (decoded
// by store::pgoutput_decoder), are the change that was made, the same from
// both; and the text a writing worker builds for its own write is the text
// the trigger sends for it. The stream needs wal_level = logical, which
// scripts/test gives its cluster.
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <poll.h>

#include <unistd.h>

#include <chrono>

#include "features/posts/posts.hpp"
#include "features/threads/threads.hpp"
#include "granite/features/features.hpp"
#include "granite/store/changes.hpp"
#include "granite/store/connection.hpp"
#include "granite/store/migrate.hpp"
#include "granite/store/seed.hpp"
#include "support/async_db.hpp"
#include "support/testkit.hpp"

using namespace granite;

namespace {

// A libpq connection, closed with its owner.
struct pq {
  PGconn* c;
  explicit pq(const std::string& conninfo) : c(PQconnectdb(conninfo.c_str())) {
    EXPECT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
  }
  ~pq() { PQfinish(c); }
  PGresult* exec(const std::string& sql) const { return PQexec(c, sql.c_str()); }
};

// The triggers' notices on granite_cache.
struct notice_listener {
  pq conn;
  explicit notice_listener(const std::string& conninfo) : conn(conninfo) {
    PQclear(conn.exec("LISTEN " + std::string(store::notice_channel)));
  }
  std::vector<std::string> take(int quiet_ms) {
    std::vector<std::string> got;
    pollfd p{PQsocket(conn.c), POLLIN, 0};
    while (poll(&p, 1, quiet_ms) > 0) {
      EXPECT_EQ(PQconsumeInput(conn.c), 1) << PQerrorMessage(conn.c);
      while (PGnotify* n = PQnotifies(conn.c)) {
        got.emplace_back(n->extra);
        PQfreemem(n);
      }
    }
    return got;
  }
};

// The publication's changes, from a temporary slot of their own, decoded.
struct stream_reader {
  pq conn;
  store::pgoutput_decoder decoder;
  // Slot names are the cluster's: one of its own for each reader.
  std::string slot = "granite_test_" + std::to_string(getpid());
  explicit stream_reader(const std::string& conninfo) : conn(conninfo + " replication=database") {
    PGresult* r = conn.exec("CREATE_REPLICATION_SLOT " + slot + " TEMPORARY LOGICAL pgoutput NOEXPORT_SNAPSHOT");
    EXPECT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQresultErrorMessage(r);
    std::string start = PQresultStatus(r) == PGRES_TUPLES_OK ? PQgetvalue(r, 0, 1) : "0/0";
    PQclear(r);
    r = conn.exec("START_REPLICATION SLOT " + slot + " LOGICAL " + start +
                  " (proto_version '1', publication_names '\"granite_changes\"')");
    EXPECT_EQ(PQresultStatus(r), PGRES_COPY_BOTH) << PQresultErrorMessage(r);
    PQclear(r);
  }
  // Every change of the transactions that commit until the stream has been
  // quiet for `quiet_ms`.
  std::vector<store::change> take(int quiet_ms) {
    std::vector<store::change> got;
    pollfd p{PQsocket(conn.c), POLLIN, 0};
    while (poll(&p, 1, quiet_ms) > 0) {
      EXPECT_EQ(PQconsumeInput(conn.c), 1) << PQerrorMessage(conn.c);
      char* buf = nullptr;
      int n;
      while ((n = PQgetCopyData(conn.c, &buf, 1)) > 0) {
        std::string_view m(buf, static_cast<std::size_t>(n));
        if (m[0] == 'w') {
          auto step = decoder.feed(m.substr(25), got);
          EXPECT_TRUE(step.ok) << step.error;
        }
        PQfreemem(buf);
      }
      EXPECT_EQ(n, 0) << PQerrorMessage(conn.c);
    }
    return got;
  }
};

struct Changes : ::testing::Test {
  testkit::scratch_database db;
  std::unique_ptr<store::connection> c = db.connect();
  std::unique_ptr<notice_listener> listener;
  std::unique_ptr<stream_reader> stream;

  void SetUp() override {
    ASSERT_EQ(db.query("SHOW wal_level"), "logical") << "the change stream needs wal_level = logical "
                                                        "(scripts/test starts its cluster so)";
    store::migrate(*c);
    store::load_seed(*c, store::read_seed_file(testkit::source_path("tests/data/forum.json")), store::seed_mode::add);
    listener = std::make_unique<notice_listener>(store::conninfo({db.url()}));
    stream = std::make_unique<stream_reader>(store::conninfo({db.url()}));
    stream->take(100);  // the seed's
  }
  void TearDown() override {
    stream.reset();  // its slot goes before the database does
    listener.reset();
  }

  // Every notice that arrives within a short while of `change`.
  std::vector<std::string> sent_by(const std::function<void()>& change) {
    change();
    auto got = listener->take(200);
    streamed = stream->take(200);
    return got;
  }
  std::vector<store::change> streamed;

  // The notices `sql` makes the triggers send, each parsed; the stream
  // must have said the same.
  std::vector<store::change> changes_of(const std::string& sql) {
    std::vector<store::change> out;
    for (const auto& text : sent_by([&] { db.query(sql); })) {
      auto parsed = store::parse_notice(text);
      EXPECT_TRUE(parsed) << "unparseable notice from a trigger: " << text;
      if (!parsed) continue;
      EXPECT_EQ(store::format_notice(*parsed), text);  // and back, byte for byte
      out.push_back(*parsed);
    }
    EXPECT_EQ(streamed, out) << "the stream and the triggers disagree on: " << sql;
    return out;
  }
};

}  // namespace

TEST_F(Changes, EachTriggerSendsTheChangeItMade) {
  using store::change;
  constexpr auto insert = change::op::insert, update = change::op::update, remove = change::op::remove;
  auto new_user = std::stoll(db.query("SELECT nextval(pg_get_serial_sequence('users', 'id'))")) + 1;
  EXPECT_EQ(changes_of("INSERT INTO users (username) VALUES ('nova')"),
            std::vector<change>{store::user_changed(new_user, insert)});
  EXPECT_EQ(changes_of("UPDATE users SET bio = 'b' WHERE id = 2"), std::vector<change>{store::user_changed(2, update)});
  EXPECT_EQ(changes_of("UPDATE threads SET title = 't' WHERE id = 5"),
            std::vector<change>{store::thread_changed(5, update)});
  // A record given a new id by hand leaves its old place and takes a new one.
  EXPECT_EQ(changes_of("INSERT INTO threads (id, title, created_by) VALUES (8000, 'by hand', 1)"),
            std::vector<change>{store::thread_changed(8000, insert)});
  EXPECT_EQ(changes_of("UPDATE threads SET id = 9000 WHERE id = 8000"),
            (std::vector<change>{store::thread_changed(8000, remove), store::thread_changed(9000, insert)}));
  auto post = db.query("SELECT id FROM posts WHERE thread_id = 2 AND user_id = 3");
  auto id = std::stoll(post);
  EXPECT_EQ(changes_of("UPDATE posts SET text = 'x' WHERE id = " + post),
            std::vector<change>{store::post_changed(id, 2, 3, update)});
  // A post moved to another thread by hand: it leaves the one, joins the other.
  EXPECT_EQ(changes_of("UPDATE posts SET thread_id = 9000 WHERE id = " + post),
            (std::vector<change>{store::post_changed(id, 2, 3, remove), store::post_changed(id, 9000, 3, insert)}));
  EXPECT_EQ(changes_of("DELETE FROM posts WHERE id = " + post),
            std::vector<change>{store::post_changed(id, 9000, 3, remove)});
  EXPECT_EQ(changes_of("TRUNCATE sessions, posts"), std::vector<change>{store::anything_changed()});
}

// The routes build their own notices as made_as(notice_of(row), op) (posts,
// threads and users); this holds them to the triggers' text.
TEST_F(Changes, AWritersOwnNoticeIsTheOneItsTriggerSends) {
  testkit::async_db a(db.url());
  store::answer created;
  auto sent = sent_by([&] { created = a.write(posts::insert(1, 2, "hello")); });
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(sent, std::vector<std::string>{
                      store::format_notice(store::made_as(posts::notice_of(created[0], 0), store::change::op::insert))});
  EXPECT_EQ(posts::notice_of(created[0], 0), store::post_changed(created[0].integer(0, 0), 1, 2));
  store::answer retitled;
  sent = sent_by([&] { retitled = a.write(store::batch().add(threads::update_owned(), 1, 1, "Welcome!", std::nullopt)); });
  ASSERT_TRUE(retitled.ok());
  ASSERT_EQ(retitled[0].size(), 1u);
  EXPECT_EQ(sent, std::vector<std::string>{store::format_notice(store::thread_changed(1, store::change::op::update))});
}

TEST_F(Changes, ABulkLoadSendsNoPerRowNotices) {
  auto sent = sent_by([&] {
    db.query("BEGIN; SET LOCAL granite.bulk_load = 'on'; INSERT INTO users (username) VALUES ('bulk'); COMMIT");
  });
  EXPECT_TRUE(sent.empty());
}

// The stream has no bulk-load switch: a transaction of more changes than a
// batch should carry is one change of everything.
TEST_F(Changes, ALargeTransactionStreamsAsOneChangeOfEverything) {
  constexpr int rows = store::pgoutput_decoder::most_per_transaction + 10;
  db.query("INSERT INTO posts (thread_id, user_id, text) SELECT 1, 1, 'many ' || i FROM generate_series(1, " +
           std::to_string(rows) + ") i");
  EXPECT_EQ(stream->take(300), std::vector<store::change>{store::anything_changed()});
  // ... and the next small one is itself again.
  db.query("UPDATE threads SET title = 'after' WHERE id = 2");
  EXPECT_EQ(stream->take(300),
            std::vector<store::change>{store::thread_changed(2, store::change::op::update)});
}

// What the stream sends is in commit order, whichever transaction began
// first; and a rolled back transaction sends nothing.
TEST_F(Changes, TheStreamFollowsCommitOrder) {
  pq first(store::conninfo({db.url()}));
  pq second(store::conninfo({db.url()}));
  PQclear(first.exec("BEGIN; UPDATE threads SET title = 'first' WHERE id = 1"));
  PQclear(second.exec("BEGIN; UPDATE threads SET title = 'second' WHERE id = 2; COMMIT"));
  PQclear(first.exec("COMMIT"));
  PQclear(first.exec("BEGIN; UPDATE threads SET title = 'never' WHERE id = 3; ROLLBACK"));
  using store::change;
  EXPECT_EQ(stream->take(300), (std::vector<change>{store::thread_changed(2, change::op::update),
                                                     store::thread_changed(1, change::op::update)}));
}
