#include <gtest/gtest.h>

#include "granite/http/ids.hpp"

using granite::http::parse_id;

TEST(Ids, AcceptsPositiveDecimalIntegers) {
  EXPECT_EQ(*parse_id("1", "user id"), 1);
  EXPECT_EQ(*parse_id("42", "user id"), 42);
  EXPECT_EQ(*parse_id("007", "user id"), 7);  // as the original's parseInt did
  EXPECT_EQ(*parse_id("9223372036854775807", "user id"), 9223372036854775807LL);
}

TEST(Ids, RefusesEverythingElseWithAClearMessage) {
  for (const char* bad : {"abc", "-1", "0x10", "1e3", "+5", "1.0", " 1", "1 ", "", "0", "00",
                          "9223372036854775808", "99999999999999999999999"}) {
    auto r = parse_id(bad, "thread id");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.err().kind, granite::error::code::invalid_argument);
    EXPECT_EQ(r.err().message.rfind("thread id must be", 0), 0u) << r.err().message;
  }
}

TEST(Ids, LongInputIsShortenedInTheMessage) {
  auto r = parse_id(std::string(500, 'x'), "user id");
  ASSERT_FALSE(r.ok());
  EXPECT_LT(r.err().message.size(), 120u);
}
