// The change notices, one format on both sides: what the triggers of
// migration 0005 actually send parses into the change that was made, and the
// text a writing worker builds for its own write is the text the trigger
// sends for it. Received through the store's own listening connection.
#include <gtest/gtest.h>
#include <poll.h>

#include "features/posts/posts.hpp"
#include "features/threads/threads.hpp"
#include "granite/features/features.hpp"
#include "granite/store/connection.hpp"
#include "granite/store/listen.hpp"
#include "granite/store/migrate.hpp"
#include "granite/store/notices.hpp"
#include "granite/store/seed.hpp"
#include "support/async_db.hpp"
#include "support/testkit.hpp"

using namespace granite;

namespace {

struct Notices : ::testing::Test {
  testkit::scratch_database db;
  std::unique_ptr<store::connection> c = db.connect();
  std::unique_ptr<store::notice_connection> listener;

  void SetUp() override {
    store::migrate(*c);
    store::load_seed(*c, store::read_seed_file(testkit::source_path("tests/data/forum.json")), store::seed_mode::add);
    listener = std::make_unique<store::notice_connection>(store::conninfo({db.url()}));
  }

  // Every notice that arrives within a short while of `change`.
  std::vector<std::string> sent_by(const std::function<void()>& change) {
    change();
    std::vector<std::string> got;
    pollfd p{listener->socket(), POLLIN, 0};
    while (poll(&p, 1, 200) > 0) {
      EXPECT_TRUE(listener->take([&](std::string_view n, int) { got.emplace_back(n); })) << listener->error();
    }
    return got;
  }

  // The notices `sql` makes the triggers send, each parsed.
  std::vector<store::change> changes_of(const std::string& sql) {
    std::vector<store::change> out;
    for (const auto& text : sent_by([&] { db.query(sql); })) {
      auto parsed = store::parse_notice(text);
      EXPECT_TRUE(parsed) << "unparseable notice from a trigger: " << text;
      if (!parsed) continue;
      EXPECT_EQ(store::format_notice(*parsed), text);  // and back, byte for byte
      out.push_back(*parsed);
    }
    return out;
  }
};

}  // namespace

TEST_F(Notices, EachTriggerSendsTheChangeItMade) {
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
TEST_F(Notices, AWritersOwnNoticeIsTheOneItsTriggerSends) {
  testkit::async_db a(db.url());
  store::answer created;
  auto sent = sent_by([&] { created = a.write(posts::insert(1, 2, "hello")); });
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(sent, std::vector<std::string>{
                      store::format_notice(store::made_as(posts::notice_of(created[0], 0), store::change::op::insert))});
  EXPECT_EQ(posts::notice_of(created[0], 0), store::post_changed(created[0].integer(0, 0), 1, 2));
  store::answer retitled;
  sent = sent_by([&] { retitled = a.write(store::batch().add(threads::update_owned(), 1, 1, "Welcome!")); });
  ASSERT_TRUE(retitled.ok());
  ASSERT_EQ(retitled[0].size(), 1u);
  EXPECT_EQ(sent, std::vector<std::string>{store::format_notice(store::thread_changed(1, store::change::op::update))});
}

TEST_F(Notices, ABulkLoadSendsNoPerRowNotices) {
  auto sent = sent_by([&] {
    db.query("BEGIN; SET LOCAL granite.bulk_load = 'on'; INSERT INTO users (username) VALUES ('bulk'); COMMIT");
  });
  EXPECT_TRUE(sent.empty());
}
