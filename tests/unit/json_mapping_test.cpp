#include <gtest/gtest.h>

#include "features/posts/posts.hpp"
#include "features/threads/threads.hpp"
#include "features/users/users.hpp"

// The original API serialised with JSON.stringify: compact, keys in
// declaration order, UTF-8 kept as is, control characters escaped.

TEST(JsonMapping, UserFieldsInTheOriginalOrder) {
  granite::users::user u{7, "ada", "Ada L.", "Counts things."};
  EXPECT_EQ(granite::users::to_json(u), R"({"id":7,"username":"ada","name":"Ada L.","bio":"Counts things."})");
}

TEST(JsonMapping, ThreadUsesCreatedByAsTheOriginal) {
  granite::threads::thread t{3, "Hello", 7};
  EXPECT_EQ(granite::threads::to_json(t), R"({"id":3,"title":"Hello","createdBy":7})");
}

TEST(JsonMapping, PostKeepsTheOriginalFieldsFirst) {
  std::vector<granite::posts::post> posts{{11, 3, "hi", 7, "2026-11-26T16:22:40.123Z"},
                                          {12, 3, "again", 8, "2026-11-26T16:22:41.000Z"}};
  EXPECT_EQ(granite::posts::to_json(posts),
            R"([{"thread":3,"text":"hi","user":7,"id":11,"createdAt":"2026-11-26T16:22:40.123Z"},)"
            R"({"thread":3,"text":"again","user":8,"id":12,"createdAt":"2026-11-26T16:22:41.000Z"}])");
}

TEST(JsonMapping, EmptyListsAreEmptyArrays) {
  EXPECT_EQ(granite::users::to_json(std::vector<granite::users::user>{}), "[]");
  EXPECT_EQ(granite::posts::to_json(std::vector<granite::posts::post>{}), "[]");
}

TEST(JsonMapping, EscapesLikeJsonStringify) {
  granite::users::user u{1, "q\"b\\s", "line\nbreak\ttab", std::string("ctl\x01\x1f") + "</script> é 😀 \u2028"};
  EXPECT_EQ(granite::users::to_json(u),
            "{\"id\":1,\"username\":\"q\\\"b\\\\s\",\"name\":\"line\\nbreak\\ttab\","
            "\"bio\":\"ctl\\u0001\\u001f</script> é 😀 \u2028\"}");
}
