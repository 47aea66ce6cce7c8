#include <gtest/gtest.h>

#include "features/posts/posts.hpp"
#include "features/threads/threads.hpp"
#include "features/users/users.hpp"
#include "granite/features/features.hpp"
#include "granite/store/migrate.hpp"
#include "granite/store/seed.hpp"
#include "support/testkit.hpp"

using namespace granite;

namespace {

struct Store : ::testing::Test {
  testkit::scratch_database db;
  std::unique_ptr<store::connection> c = db.connect();

  void SetUp() override {
    store::migrate(*c);
    features::prepare_statements(*c);
    store::load_seed(*c, store::read_seed_file(testkit::source_path("tests/data/forum.json")), store::seed_mode::add);
  }
};

}  // namespace

TEST_F(Store, UsersByIdAndInIdOrder) {
  auto all = users::list(*c, {});
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].id, 1);
  EXPECT_EQ(all[3].id, 7);
  auto teo = users::find(*c, 2);
  ASSERT_TRUE(teo.ok());
  EXPECT_EQ(teo->username, "teo");
  EXPECT_EQ(teo->bio, "Emoji 🪨 and right-to-left: שלום עולם");
  auto missing = users::find(*c, 4);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.err().kind, error::code::not_found);
  EXPECT_EQ(missing.err().message, "no user with id 4");
}

TEST_F(Store, ThreadsByIdAndInIdOrder) {
  auto all = threads::list(*c, {});
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[1].title, "<script>alert('x')</script>");
  EXPECT_EQ(all[2].created_by, 3);
  EXPECT_FALSE(threads::find(*c, 3).ok());
}

TEST_F(Store, PostsInThreadInCreationOrder) {
  auto in1 = posts::in_thread(*c, 1, {});
  ASSERT_TRUE(in1.ok());
  ASSERT_EQ(in1->size(), 3u);
  EXPECT_EQ((*in1)[0].text, "First!");
  EXPECT_EQ((*in1)[1].text, "Line one\nline two\r\nline three");
  EXPECT_EQ((*in1)[2].text, "Control \x01 and \x1f characters");
  EXPECT_LT((*in1)[0].id, (*in1)[1].id);
}

TEST_F(Store, EmptyThreadIsAnEmptyListAndMissingThreadIsNotFound) {
  auto empty = posts::in_thread(*c, 5, {});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  auto missing = posts::in_thread(*c, 4, {});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.err().message, "no thread with id 4");
}

TEST_F(Store, PagesFollowTheKeysetCursor) {
  auto first = users::list(*c, {.after = 0, .limit = 2});
  ASSERT_EQ(first.size(), 3u);  // one more than the limit: more remain
  auto next = users::list(*c, {.after = first[1].id, .limit = 2});
  ASSERT_EQ(next.size(), 2u);  // users 3 and 7: the last page
  EXPECT_EQ(next[0].id, first[2].id);
  auto in1 = posts::in_thread(*c, 1, {.after = 0, .limit = 1});
  ASSERT_TRUE(in1.ok());
  ASSERT_EQ(in1->size(), 2u);
  auto past_the_end = posts::in_thread(*c, 1, {.after = 1000, .limit = 1});
  ASSERT_TRUE(past_the_end.ok());  // the thread exists: an empty page, not 404
  EXPECT_TRUE(past_the_end->empty());
}

TEST_F(Store, PostsByUser) {
  auto by3 = posts::by_user(*c, 3, {});
  ASSERT_TRUE(by3.ok());
  ASSERT_EQ(by3->size(), 2u);
  EXPECT_EQ((*by3)[0].text, "Robert'); DROP TABLE posts;--");
  EXPECT_EQ((*by3)[0].thread, 2);
  EXPECT_TRUE(posts::by_user(*c, 7, {})->empty());
  EXPECT_FALSE(posts::by_user(*c, 8, {}).ok());
}
