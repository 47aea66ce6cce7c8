#include <gtest/gtest.h>

#include "granite/store/seed.hpp"

using granite::store::parse_seed;
using granite::store::seed_error;

namespace {
std::string error_of(const std::string& text) {
  try {
    parse_seed(text);
  } catch (const seed_error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(SeedFile, ParsesTheOriginalShape) {
  auto d = parse_seed(R"({
    "users": [{"id": 1, "username": "a", "name": "A", "bio": "x"}, {"id": 5, "username": "b", "name": "B", "bio": ""}],
    "threads": [{"id": 2, "title": "T", "createdBy": 5}],
    "posts": [{"thread": 2, "text": "hello", "user": 1}, {"thread": 2, "text": "again", "user": 5}]})");
  ASSERT_EQ(d.users.size(), 2u);
  EXPECT_EQ(d.users[1].id, 5);
  EXPECT_EQ(d.users[1].username, "b");
  ASSERT_EQ(d.threads.size(), 1u);
  EXPECT_EQ(d.threads[0].created_by, 5);
  ASSERT_EQ(d.posts.size(), 2u);
  EXPECT_FALSE(d.posts[0].id.has_value());
  EXPECT_EQ(d.posts[1].text, "again");
}

TEST(SeedFile, SectionsMayBeMissingAndNameAndBioDefaultToEmpty) {
  auto d = parse_seed(R"({"users": [{"id": 1, "username": "solo"}]})");
  EXPECT_EQ(d.users[0].name, "");
  EXPECT_EQ(d.users[0].bio, "");
  EXPECT_TRUE(d.threads.empty());
  EXPECT_TRUE(parse_seed("{}").posts.empty());
}

TEST(SeedFile, InvalidJsonNamesLineAndColumn) {
  auto message = error_of("{\n  \"users\": [\n    {\"id\": 1,, }\n  ]\n}");
  EXPECT_NE(message.find("not valid JSON at line 3"), std::string::npos) << message;
  EXPECT_NE(error_of("\"\xff\"").find("not valid JSON"), std::string::npos);  // invalid UTF-8
  EXPECT_NE(error_of("").find("not valid JSON"), std::string::npos);
}

TEST(SeedFile, WrongShapesNameTheRecord) {
  EXPECT_NE(error_of("[]").find("JSON object"), std::string::npos);
  EXPECT_NE(error_of(R"({"users": {}})").find("users: must be an array"), std::string::npos);
  EXPECT_NE(error_of(R"({"comments": []})").find("unknown top-level field \"comments\""), std::string::npos);
  EXPECT_NE(error_of(R"({"users": [5]})").find("users[0]: must be an object"), std::string::npos);
  EXPECT_NE(error_of(R"({"users": [{"id": 1, "username": "a", "mail": "x"}]})").find("users[0]: unknown field \"mail\""),
            std::string::npos);
  EXPECT_NE(error_of(R"({"users": [{"id": 1}]})").find("users[0]: missing field \"username\""), std::string::npos);
}

TEST(SeedFile, WrongTypesAndRangesNameTheField) {
  EXPECT_NE(error_of(R"({"users": [{"id": "1", "username": "a"}]})").find("users[0].id: must be a positive integer, got \"1\""),
            std::string::npos);
  EXPECT_NE(error_of(R"({"users": [{"id": 1.5, "username": "a"}]})").find("users[0].id"), std::string::npos);
  EXPECT_NE(error_of(R"({"users": [{"id": 0, "username": "a"}]})").find("users[0].id: must be a positive"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"users": [{"id": -3, "username": "a"}]})").find("users[0].id"), std::string::npos);
  EXPECT_NE(error_of(R"({"users": [{"id": 18446744073709551615, "username": "a"}]})").find("at most"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"users": [{"id": 1, "username": 7}]})").find("users[0].username: must be a string"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"users": [{"id": 1, "username": ""}]})").find("must not be empty"), std::string::npos);
  EXPECT_NE(error_of(R"({"threads": [{"id": 1, "title": "t", "createdBy": null}]})").find("threads[0].createdBy"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"posts": [{"thread": 1, "text": ["x"], "user": 1}]})").find("posts[0].text: must be a string"),
            std::string::npos);
}

TEST(SeedFile, NulCharactersAreRefused) {
  auto message = error_of(R"({"posts": [{"thread": 1, "text": "ok"}, {"thread": 1, "text": "a\u0000b", "user": 1}]})");
  // posts[0] is missing "user": the first bad record is named first.
  EXPECT_NE(message.find("posts[0]: missing field \"user\""), std::string::npos) << message;
  message = error_of(R"({"posts": [{"thread": 1, "text": "a\u0000b", "user": 1}]})");
  EXPECT_NE(message.find("posts[0].text: contains a NUL character"), std::string::npos) << message;
}

TEST(SeedFile, DuplicateIdsAndUsernamesNameBothRecords) {
  auto message = error_of(R"({"users": [{"id": 1, "username": "a"}, {"id": 2, "username": "b"}, {"id": 1, "username": "c"}]})");
  EXPECT_NE(message.find("users[2].id: 1 is also the id of users[0]"), std::string::npos) << message;
  message = error_of(R"({"users": [{"id": 1, "username": "Alice"}, {"id": 2, "username": "alice"}]})");
  EXPECT_NE(message.find("users[1].username: \"alice\" is also the username of users[0]"), std::string::npos)
      << message;
  EXPECT_NE(error_of(R"({"threads": [{"id": 4, "title": "a", "createdBy": 1}, {"id": 4, "title": "b", "createdBy": 1}]})")
                .find("threads[1].id"),
            std::string::npos);
}

TEST(SeedFile, PostIdsAreAllOrNone) {
  auto d = parse_seed(R"({"posts": [{"id": 9, "thread": 1, "text": "a", "user": 1}, {"id": 4, "thread": 1, "text": "b", "user": 1}]})");
  EXPECT_EQ(*d.posts[0].id, 9);
  EXPECT_NE(error_of(R"({"posts": [{"id": 9, "thread": 1, "text": "a", "user": 1}, {"thread": 1, "text": "b", "user": 1}]})")
                .find("posts[1]: either every post has an \"id\" or none does"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"posts": [{"id": 9, "thread": 1, "text": "a", "user": 1}, {"id": 9, "thread": 1, "text": "b", "user": 1}]})")
                .find("posts[1].id: 9 is also the id of posts[0]"),
            std::string::npos);
}
