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

using granite::http::presented_position;

TEST(Positions, TheHeaderComesFirstThenTheCookie) {
  EXPECT_EQ(*presented_position("", ""), 0u);
  EXPECT_EQ(*presented_position("0/16B3F28", ""), 0x16B3F28u);
  EXPECT_EQ(*presented_position(" 1/0 ", "granite_position=0/5"), 0x100000000u);
  EXPECT_EQ(*presented_position("", "theme=dark; granite_position=0/16B3F28; lang=en"), 0x16B3F28u);
  EXPECT_EQ(*presented_position("", "granite_position=\"0/10\""), 0x10u);
  // Another cookie whose name ends the same is not it.
  EXPECT_EQ(*presented_position("", "my_granite_position=0/10"), 0u);
}

TEST(Positions, AMalformedHeaderIsRefusedAndAMalformedCookieIgnored) {
  for (const char* bad : {"yesterday", "0/", "/1", "0/16b3f28", "0/16B3F28 extra", "123456789/1"}) {
    auto r = presented_position(bad, "granite_position=0/10");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.err().kind, granite::error::code::invalid_argument);
    EXPECT_NE(r.err().message.find("Granite-Position"), std::string::npos) << r.err().message;
  }
  EXPECT_EQ(*presented_position("", "granite_position=yesterday"), 0u);
  EXPECT_EQ(*presented_position("", "granite_position=yesterday; granite_position=0/20"), 0x20u);
  EXPECT_EQ(*presented_position("", ";;=; granite_position"), 0u);
}
