#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <algorithm>
#include <functional>
#include <pqxx/pqxx>

#include "granite/store/migrate.hpp"
#include "granite/store/seed.hpp"
#include "support/testkit.hpp"

using namespace granite;

namespace {

struct Seed : ::testing::Test {
  testkit::scratch_database db;
  std::unique_ptr<store::connection> c = db.connect();
  void SetUp() override { store::migrate(*c); }

  std::string counts() {
    return db.query("SELECT (SELECT count(*) FROM users) || '/' || (SELECT count(*) FROM threads) || '/' || "
                    "(SELECT count(*) FROM posts)");
  }
  std::string load_error(const std::string& json, store::seed_mode mode = store::seed_mode::add) {
    try {
      store::load_seed(*c, store::parse_seed(json), mode);
    } catch (const store::seed_error& e) {
      return e.what();
    }
    return "";
  }
};

const char* small = R"({"users": [{"id": 10, "username": "u10"}, {"id": 20, "username": "u20"}],
                        "threads": [{"id": 3, "title": "t", "createdBy": 20}],
                        "posts": [{"thread": 3, "text": "a", "user": 10}, {"thread": 3, "text": "b", "user": 20}]})";

}  // namespace

TEST_F(Seed, LoadsKeepingIdsAndMovesSequencesPastThem) {
  auto report = store::load_seed(*c, store::parse_seed(small), store::seed_mode::add);
  EXPECT_EQ(report.users, 2u);
  EXPECT_EQ(report.posts, 2u);
  EXPECT_EQ(counts(), "2/1/2");
  EXPECT_EQ(db.query("SELECT string_agg(id::text, ',' ORDER BY id) FROM users"), "10,20");
  // The next record without an id lands after the seeded ones.
  EXPECT_EQ(db.query("INSERT INTO users (username) VALUES ('next') RETURNING id"), "21");
  EXPECT_EQ(db.query("INSERT INTO threads (title, created_by) VALUES ('x', 10) RETURNING id"), "4");
  EXPECT_EQ(db.query("SELECT string_agg(text, '' ORDER BY id) FROM posts"), "ab");
}

TEST_F(Seed, PostIdsAreKeptWhenGiven) {
  store::load_seed(*c,
                   store::parse_seed(R"({"users": [{"id": 1, "username": "a"}], "threads": [{"id": 1, "title": "t", "createdBy": 1}],
                     "posts": [{"id": 50, "thread": 1, "text": "x", "user": 1}, {"id": 40, "thread": 1, "text": "y", "user": 1}]})"),
                   store::seed_mode::add);
  EXPECT_EQ(db.query("SELECT string_agg(id::text, ',' ORDER BY id) FROM posts"), "40,50");
  EXPECT_EQ(db.query("INSERT INTO posts (thread_id, user_id, text) VALUES (1, 1, 'z') RETURNING id"), "51");
}

TEST_F(Seed, BadReferenceLoadsNothingAndNamesTheRecord) {
  auto message = load_error(R"({"users": [{"id": 1, "username": "a"}], "threads": [{"id": 1, "title": "t", "createdBy": 1}],
                                "posts": [{"thread": 1, "text": "ok", "user": 1}, {"thread": 9, "text": "lost", "user": 1}]})");
  EXPECT_NE(message.find("posts[1].thread: thread 9 does not exist"), std::string::npos) << message;
  EXPECT_EQ(counts(), "0/0/0");
  message = load_error(R"({"users": [{"id": 1, "username": "a"}], "threads": [{"id": 1, "title": "t", "createdBy": 2}]})");
  EXPECT_NE(message.find("threads[0].createdBy: user 2 does not exist"), std::string::npos) << message;
  message = load_error(R"({"users": [{"id": 1, "username": "a"}], "threads": [{"id": 1, "title": "t", "createdBy": 1}],
                           "posts": [{"thread": 1, "text": "x", "user": 3}]})");
  EXPECT_NE(message.find("posts[0].user: user 3 does not exist"), std::string::npos) << message;
  EXPECT_EQ(counts(), "0/0/0");
}

TEST_F(Seed, ReferencesMayPointIntoTheDatabase) {
  store::load_seed(*c, store::parse_seed(small), store::seed_mode::add);
  store::load_seed(*c, store::parse_seed(R"({"posts": [{"thread": 3, "text": "later", "user": 20}]})"),
                   store::seed_mode::add);
  EXPECT_EQ(counts(), "2/1/3");
}

TEST_F(Seed, ConflictsWithTheDatabaseAreNamedAndLoadNothing) {
  store::load_seed(*c, store::parse_seed(small), store::seed_mode::add);
  auto message = load_error(R"({"users": [{"id": 30, "username": "new"}, {"id": 20, "username": "other"}]})");
  EXPECT_NE(message.find("users[1].id: 20 already exists in the database"), std::string::npos) << message;
  message = load_error(R"({"users": [{"id": 31, "username": "U10"}]})");
  EXPECT_NE(message.find("users[0].username: \"U10\" already exists"), std::string::npos) << message;
  message = load_error(R"({"threads": [{"id": 3, "title": "again", "createdBy": 10}]})");
  EXPECT_NE(message.find("threads[0].id: 3 already exists"), std::string::npos) << message;
  EXPECT_EQ(counts(), "2/1/2");
}

TEST_F(Seed, ReplaceStartsFromEmptyAndIfEmptySkips) {
  store::load_seed(*c, store::parse_seed(small), store::seed_mode::add);
  auto skipped = store::load_seed(*c, store::parse_seed(small), store::seed_mode::if_empty);
  EXPECT_TRUE(skipped.skipped);
  EXPECT_EQ(counts(), "2/1/2");
  store::load_seed(*c, store::parse_seed(R"({"users": [{"id": 20, "username": "u20"}]})"), store::seed_mode::replace);
  EXPECT_EQ(counts(), "1/0/0");
}

TEST_F(Seed, HostileTextRoundTripsByteForByte) {
  std::string long_text(10000, 'x');
  std::vector<std::string> texts = {
      "'; DROP TABLE users; --", "<b>bold</b> & <i>\"quoted\"</i>", "back\\slash \\N \\. tab\there",
      "emoji 😀🪨 and RTL: مرحبا", "line\nbreak\r\ncarriage", long_text, "\x01\x02\x1f"};
  nlohmann::json doc = {{"users", {{{"id", 1}, {"username", "h"}}}},
                        {"threads", {{{"id", 1}, {"title", "t"}, {"createdBy", 1}}}},
                        {"posts", nlohmann::json::array()}};
  for (const auto& t : texts) doc["posts"].push_back({{"thread", 1}, {"text", t}, {"user", 1}});
  store::load_seed(*c, store::parse_seed(doc.dump()), store::seed_mode::add);
  pqxx::connection raw(db.url());
  pqxx::nontransaction tx(raw);
  auto rows = tx.exec("SELECT text FROM posts ORDER BY id");
  ASSERT_EQ(rows.size(), texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(rows[i][0].as<std::string>(), texts[i]);
}

namespace {
// What a load told the listeners of granite_cache (migration 0003).
std::vector<std::string> notices_during(pqxx::connection_base& listener, const std::function<void()>& load) {
  struct receiver : pqxx::notification_receiver {
    using pqxx::notification_receiver::notification_receiver;
    std::vector<std::string> got;
    void operator()(const std::string& payload, int) override { got.push_back(payload); }
  } r(listener, "granite_cache");
  load();
  listener.await_notification(1, 0);
  listener.get_notifs();
  return r.got;
}
}  // namespace

TEST_F(Seed, SyntheticForumHasTheAskedSizeAndLongThreads) {
  auto report = store::load_synthetic(*c, store::parse_synthetic("users=50,threads=2000,posts=6000"), store::seed_mode::add);
  EXPECT_EQ(report.users, 50u);
  EXPECT_EQ(report.posts, 6000u);
  EXPECT_EQ(counts(), "50/2000/6000");
  // Half the posts go to the first 1000 threads (3 each here), the other
  // half over every thread: no thread is empty and the first are longest.
  EXPECT_EQ(db.query("SELECT count(DISTINCT thread_id) FROM posts"), "2000");
  EXPECT_EQ(db.query("SELECT count(*) FROM posts WHERE thread_id = 1"), "5");
  EXPECT_EQ(db.query("SELECT count(*) FROM posts WHERE thread_id = 1500"), "1");
  EXPECT_EQ(db.query("SELECT count(DISTINCT user_id) FROM posts"), "50");
  EXPECT_EQ(db.query("SELECT username FROM users WHERE id = 7"), "user7");
  // Indexes (3 keys, 4 others), foreign keys and triggers are all back.
  EXPECT_EQ(db.query("SELECT count(*) FROM pg_indexes WHERE tablename IN ('users', 'threads', 'posts')"), "7");
  EXPECT_EQ(db.query("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid = 'posts'::regclass"), "2");
  // (the notices' six and the versions' three)
  EXPECT_EQ(db.query("SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal AND tgenabled = 'O'"), "9");
  // The posts' replica identity is the index again: the change stream still
  // sends a deleted post's thread and author, and deletes are allowed at all.
  EXPECT_EQ(db.query("SELECT indexrelid::regclass::text FROM pg_index WHERE indisreplident"), "posts_thread_key");
  EXPECT_EQ(db.query("WITH d AS (DELETE FROM posts WHERE id = 6000 RETURNING 1) SELECT count(*) FROM d"), "1");
  // New records get new ids.
  EXPECT_EQ(db.query("INSERT INTO posts (thread_id, user_id, text) VALUES (1, 1, 'x') RETURNING id"), "6001");
}

TEST_F(Seed, SyntheticLoadGoesOnlyIntoAnEmptyDatabase) {
  store::load_seed(*c, store::parse_seed(small), store::seed_mode::add);
  auto spec = store::parse_synthetic("users=5,threads=2,posts=10");
  EXPECT_THROW(store::load_synthetic(*c, spec, store::seed_mode::add), store::seed_error);
  EXPECT_EQ(counts(), "2/1/2");
  EXPECT_TRUE(store::load_synthetic(*c, spec, store::seed_mode::if_empty).skipped);
  EXPECT_EQ(counts(), "2/1/2");
  store::load_synthetic(*c, spec, store::seed_mode::replace);
  EXPECT_EQ(counts(), "5/2/10");
}

TEST_F(Seed, LoadsSendOneNoticeInsteadOfOnePerRow) {
  auto listener = db.connect();
  auto file = notices_during(listener->raw(), [&] { store::load_seed(*c, store::parse_seed(small), store::seed_mode::add); });
  EXPECT_EQ(file, std::vector<std::string>{"*"});
  auto synthetic = notices_during(listener->raw(), [&] {
    store::load_synthetic(*c, store::parse_synthetic("users=5,threads=2,posts=10"), store::seed_mode::replace);
  });
  EXPECT_EQ(synthetic, std::vector<std::string>{"*"});  // TRUNCATE and the load: the same notice, sent once
  // An ordinary write, by anyone, names what it touched.
  auto row = notices_during(listener->raw(), [&] { db.query("UPDATE posts SET text = 'edited' WHERE id = 3"); });
  EXPECT_EQ(row, std::vector<std::string>{"p=:3:" + db.query("SELECT thread_id FROM posts WHERE id = 3") + ":" +
                                          db.query("SELECT user_id FROM posts WHERE id = 3")});
  auto cascade = notices_during(listener->raw(), [&] { db.query("DELETE FROM threads WHERE id = 2"); });
  EXPECT_NE(std::find(cascade.begin(), cascade.end(), "t-:2"), cascade.end());
  EXPECT_EQ(cascade.size(), 1 + std::stoul(db.query("SELECT 10 - count(*) FROM posts")));
}
