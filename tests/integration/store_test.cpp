// The features' SQL against a real PostgreSQL, through the worker's
// pipelined database.
#include <gtest/gtest.h>

#include <limits>

#include "features/posts/posts.hpp"
#include "features/threads/threads.hpp"
#include "features/users/users.hpp"
#include "granite/store/connection.hpp"
#include "granite/store/migrate.hpp"
#include "granite/store/seed.hpp"
#include "support/async_db.hpp"
#include "support/testkit.hpp"

using namespace granite;

namespace {

struct Store : ::testing::Test {
  testkit::scratch_database db;
  std::unique_ptr<testkit::async_db> a;

  void SetUp() override {
    auto c = db.connect();
    store::migrate(*c);
    store::load_seed(*c, store::read_seed_file(testkit::source_path("tests/data/forum.json")), store::seed_mode::add);
    a = std::make_unique<testkit::async_db>(db.url());
  }

  // The first column of every row of the first statement.
  static std::vector<std::string> column(const store::answer& r, int col = 0) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < r[0].size(); ++i) out.emplace_back(r[0].null(i, col) ? "NULL" : r[0].text(i, col));
    return out;
  }
};

}  // namespace

TEST_F(Store, UsersByIdAndInIdOrder) {
  auto all = a->read(users::select_page({}));
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(column(all), (std::vector<std::string>{"1", "2", "3", "7"}));
  auto teo = a->read(users::select_by_id(2));
  ASSERT_TRUE(teo.ok());
  std::string json;
  features::json_text out(json);
  users::write_row(out, teo[0], 0);
  // Nothing changed it since the seed loaded it: updatedAt is null.
  EXPECT_EQ(json, R"({"id":2,"username":"teo","name":"Téodor Lind","bio":"Emoji 🪨 and right-to-left: שלום עולם",)"
                  R"("updatedAt":null})");
  EXPECT_EQ(a->read(users::select_by_id(4))[0].size(), 0u);
}

TEST_F(Store, ThreadsByIdAndInIdOrder) {
  auto all = a->read(threads::select_page({}));
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all[0].size(), 3u);
  EXPECT_EQ(all[0].text(1, 1), "<script>alert('x')</script>");
  EXPECT_EQ(all[0].integer(2, 2), 3);
  EXPECT_EQ(a->read(threads::select_by_id(3))[0].size(), 0u);
}

TEST_F(Store, PostsInThreadInCreationOrder) {
  auto in1 = a->read(posts::select_in_thread(1, {}));
  ASSERT_TRUE(in1.ok());
  EXPECT_EQ(column(in1, 2), (std::vector<std::string>{"First!", "Line one\nline two\r\nline three",
                                                      "Control \x01 and \x1f characters"}));
  EXPECT_LT(in1[0].integer(0, 0), in1[0].integer(1, 0));
}

TEST_F(Store, EmptyThreadIsOneRowWithoutAPostAndMissingThreadIsNoRow) {
  auto empty = a->read(posts::select_in_thread(5, {}));
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(column(empty), std::vector<std::string>{"NULL"});
  auto missing = a->read(posts::select_in_thread(4, {}));
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing[0].size(), 0u);
}

TEST_F(Store, PagesFollowTheKeysetCursor) {
  auto first = a->read(users::select_page({.limit = 2}));
  ASSERT_EQ(first[0].size(), 3u);  // one more than the limit of 2: more remain
  auto next = a->read(users::select_page({.cursor = first[0].integer(1, 0), .limit = 2}));
  EXPECT_EQ(column(next), (std::vector<std::string>{"3", "7"}));  // the last page
  auto in1 = a->read(posts::select_in_thread(1, {.limit = 1}));
  EXPECT_EQ(in1[0].size(), 2u);
  auto past_the_end = a->read(posts::select_in_thread(1, {.cursor = 1000, .limit = 1}));
  EXPECT_EQ(column(past_the_end), std::vector<std::string>{"NULL"});  // the thread exists: an empty page, not 404
}

// Below a cursor the rows come nearest first: the newest first from the
// top, and the page before an ascending one.
TEST_F(Store, PagesBelowACursorComeNearestFirst) {
  features::page newest{.cursor = std::numeric_limits<std::int64_t>::max(), .below = true, .limit = 2};
  EXPECT_EQ(column(a->read(users::select_page(newest))), (std::vector<std::string>{"7", "3", "2"}));
  features::page under3{.cursor = 3, .below = true, .limit = 2};
  EXPECT_EQ(column(a->read(users::select_page(under3))), (std::vector<std::string>{"2", "1"}));
  EXPECT_EQ(column(a->read(threads::select_page(newest))).size(), 3u);
  auto in1 = a->read(posts::select_in_thread(1, newest));
  ASSERT_EQ(in1[0].size(), 3u);
  EXPECT_GT(in1[0].integer(0, 0), in1[0].integer(1, 0));
  features::page under_all{.cursor = 1, .below = true, .limit = 2};
  EXPECT_EQ(column(a->read(posts::select_in_thread(1, under_all))), std::vector<std::string>{"NULL"});
  EXPECT_EQ(a->read(posts::select_in_thread(4, newest))[0].size(), 0u);  // no such thread
  EXPECT_EQ(column(a->read(posts::select_by_user(3, newest))).size(), 2u);
}

TEST_F(Store, PostsByUser) {
  auto by3 = a->read(posts::select_by_user(3, {}));
  ASSERT_EQ(by3[0].size(), 2u);
  EXPECT_EQ(by3[0].text(0, 2), "Robert'); DROP TABLE posts;--");
  EXPECT_EQ(by3[0].integer(0, 1), 2);
  EXPECT_EQ(column(a->read(posts::select_by_user(7, {}))), std::vector<std::string>{"NULL"});
  EXPECT_EQ(a->read(posts::select_by_user(8, {}))[0].size(), 0u);
}

TEST_F(Store, ConstraintsAreNamedAndABatchIsOneTransaction) {
  auto taken = a->write(users::insert({"TEO", std::nullopt, std::nullopt, std::nullopt}, "hash"));
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.failed().what, store::failure::kind::unique);
  auto no_thread = a->write(posts::insert(99, 1, "x"));
  ASSERT_FALSE(no_thread.ok());
  EXPECT_EQ(no_thread.failed().what, store::failure::kind::foreign_key);
  EXPECT_EQ(no_thread.failed().constraint, "posts_thread_id_fkey");
  // The second statement fails: the first one's post is not kept either.
  const store::statement* insert_post = nullptr;
  for (const auto& st : posts::statements())
    if (std::string_view(st.name) == "posts_insert") insert_post = &st;
  ASSERT_TRUE(insert_post);
  store::batch both = posts::insert(1, 1, "kept only with the other");
  both.add(*insert_post, 1, 99, "by nobody", 0, 60);
  auto atomic = a->write(std::move(both));
  ASSERT_FALSE(atomic.ok());
  EXPECT_EQ(db.query("SELECT count(*) FROM posts WHERE text = 'kept only with the other'"), "0");
}
