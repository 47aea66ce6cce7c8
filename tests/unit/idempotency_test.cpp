// The pieces of Idempotency-Key that need no server: reading the header
// (http/ids.hpp) and reading back the records a key keeps (store/kept.hpp,
// in the text PostgreSQL 15 writes for ROW(...)::text).
#include <gtest/gtest.h>

#include "granite/http/ids.hpp"
#include "store/kept.hpp"

namespace granite {
namespace {

result<std::optional<std::string>> key_of(const std::string& value, int fields = 1) {
  http::request r;
  r.idempotency_key = value;
  r.idempotency_keys = fields;
  return http::idempotency_key(r);
}

TEST(IdempotencyKey, QuotedAndBareFormsAreTaken) {
  EXPECT_FALSE(*key_of("", 0));  // none sent
  EXPECT_EQ(**key_of("\"8e03978e-40d5\""), "8e03978e-40d5");
  EXPECT_EQ(**key_of("8e03978e-40d5"), "8e03978e-40d5");
  EXPECT_EQ(**key_of("  \"a b\"\t"), "a b");
  EXPECT_EQ(**key_of(R"("q\"uote\\d")"), "q\"uote\\d");
  EXPECT_EQ(**key_of(std::string(255, 'x')), std::string(255, 'x'));
}

TEST(IdempotencyKey, MalformedOnesAreRefused) {
  for (const std::string& bad : {std::string(""), std::string("\"\""), std::string("\"open"), std::string("a b"),
                                 std::string("a,b"), std::string("\"x\";p=1"), std::string(R"("\n")"),
                                 std::string(256, 'x'), std::string("\"caf\xc3\xa9\""), std::string("tab\there")}) {
    auto k = key_of(bad);
    ASSERT_FALSE(k.ok()) << bad;
    EXPECT_EQ(k.err().kind, error::code::invalid_argument);
    ASSERT_EQ(k.err().fields.size(), 1u);
    EXPECT_EQ(k.err().fields[0].field, "Idempotency-Key");
  }
  EXPECT_FALSE(key_of("a", 2).ok());  // sent twice
}

using fields = std::vector<std::optional<std::string>>;

TEST(KeptRecords, ReadAsPostgreSQLWritesThem) {
  // SELECT ROW(1, NULL::text, '', 'a b', 'q"x', 'back\slash', '(p)', 'c,d',
  //            E'tab\there', 'plain')::text
  auto r = store::record_fields(R"rec((1,,"","a b","q""x","back\\slash","(p)","c,d",)rec"
                                "\"tab\there\",plain)");
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, (fields{"1", std::nullopt, "", "a b", "q\"x", "back\\slash", "(p)", "c,d", "tab\there", "plain"}));
  EXPECT_EQ(*store::record_fields("(,)"), (fields{std::nullopt, std::nullopt}));
  EXPECT_EQ(*store::record_fields("(\"\xe2\x9c\x93 \")"), (fields{"\xe2\x9c\x93 "}));
}

TEST(KeptRecords, WhatIsNoRecordIsRefused) {
  for (const char* bad : {"", "1,2", "(1,2", "(1,\"2)", "(1)x", "(1,\\"})
    EXPECT_FALSE(store::record_fields(bad)) << bad;
}

}  // namespace
}  // namespace granite
