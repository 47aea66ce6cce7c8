// The change-notice format on its own (the triggers' side is
// tests/integration/notices_test.cpp).
#include "granite/store/notices.hpp"

#include <gtest/gtest.h>

using namespace granite::store;

TEST(NoticeFormat, EachChangeHasOneText) {
  EXPECT_EQ(format_notice(user_changed(5)), "u:5");
  EXPECT_EQ(format_notice(thread_changed(4)), "t:4");
  EXPECT_EQ(format_notice(post_changed(10, 4, 5)), "p:10:4:5");
  EXPECT_EQ(format_notice(anything_changed()), "*");
  EXPECT_EQ(format_notice(user_changed(9223372036854775807)), "u:9223372036854775807");
  // With what the change was: new, changed in place, deleted.
  EXPECT_EQ(format_notice(user_changed(5, change::op::insert)), "u+:5");
  EXPECT_EQ(format_notice(thread_changed(4, change::op::update)), "t=:4");
  EXPECT_EQ(format_notice(post_changed(10, 4, 5, change::op::remove)), "p-:10:4:5");
  EXPECT_EQ(format_notice(made_as(anything_changed(), change::op::remove)), "*");
}

TEST(NoticeFormat, ParsesWhatItFormats) {
  for (const auto& c : {user_changed(1), thread_changed(77), post_changed(3, 2, 1), anything_changed(),
                        post_changed(9223372036854775807, 1, 9223372036854775807),
                        user_changed(2, change::op::insert), thread_changed(3, change::op::remove),
                        post_changed(4, 5, 6, change::op::update)})
    EXPECT_EQ(parse_notice(format_notice(c)), c) << format_notice(c);
  EXPECT_EQ(parse_notice("u:007"), user_changed(7));  // leading zeros, as ids in paths
}

TEST(NoticeFormat, RefusesAnythingElse) {
  for (const char* bad : {"", "u", "u:", "u:x", "u:1:", "u:1:2", "p:1:2", "p:1:2:3:4", "p:1::3", "t:-1", "t:+1",
                          "t:0", "x:1", "u:99999999999999999999", "**", "u 1", "U:1", " u:1", "u:1 ",
                          "u+", "u+:", "u+5", "u++:5", "u*:5", "u+-:5", "p=:1:2", "t-:0", "+:5", "*+"})
    EXPECT_FALSE(parse_notice(bad)) << bad;
}
