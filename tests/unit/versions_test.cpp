// A record's version as the API shows it (updatedAt, ETag) and as a
// conditional write reads it back from If-Match.
#include "features/versions.hpp"

#include <gtest/gtest.h>

#include "granite/http/cache.hpp"

using namespace granite;

namespace {

http::request with_if_match(std::string_view value) {
  http::request req;
  req.method = http::verb::patch;
  auto parsed = http::parse_if_match(value);
  EXPECT_TRUE(parsed) << value;
  if (parsed) req.if_match = *parsed;
  return req;
}

}  // namespace

// As SQL's rfc3339() writes createdAt: UTC, milliseconds truncated, the
// calendar counted back before 1970 (checked against PostgreSQL in
// tests/e2e/conditional_test.cpp).
TEST(Versions, UpdatedAtIsRfc3339ToTheMillisecond) {
  EXPECT_EQ(features::updated_at_of(0).view(), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(features::updated_at_of(1733400000123999).view(), "2024-12-05T12:00:00.123Z");
  EXPECT_EQ(features::updated_at_of(951782400000000).view(), "2000-02-29T00:00:00.000Z");  // a leap day
  EXPECT_EQ(features::updated_at_of(4102444799999999).view(), "2099-12-31T23:59:59.999Z");
  EXPECT_EQ(features::updated_at_of(-1).view(), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(features::updated_at_of(-86400000000).view(), "1969-12-31T00:00:00.000Z");
  EXPECT_EQ(features::updated_at_of(253402300800000000).view(), "10000-01-01T00:00:00.000Z");  // past four digits
  EXPECT_EQ(features::updated_at_of(-62135596800000000).view(), "0001-01-01T00:00:00.000Z");
}

TEST(Versions, TheEtagNamesTheFormatAndTheVersion) {
  EXPECT_EQ(features::etag_of_version(1733400000123456), "\"r1.1733400000123456\"");
  EXPECT_EQ(http::gzip_etag_of(features::etag_of_version(7)), "\"r1.7-gzip\"");
}

// Either variant's tag names the version; any other tag names none, so a
// write with only such tags matches nothing (412); * and no If-Match take
// any version (NULL).
TEST(Versions, IfMatchBecomesTheVersionsAWriteMayChange) {
  EXPECT_EQ(features::versions_param(http::request{}), std::nullopt);
  EXPECT_EQ(features::versions_param(with_if_match("*")), std::nullopt);
  EXPECT_EQ(features::versions_param(with_if_match("\"r1.5\"")), "{5}");
  EXPECT_EQ(features::versions_param(with_if_match("\"r1.5-gzip\", \"r1.-3\", W/\"r1.9\"")), "{5,-3}");
  EXPECT_EQ(features::versions_param(with_if_match("\"0123456789abcdef\", \"r2.5\", \"r1.\", \"r1.+5\", \"r1.5x\"")),
            "{}");
  EXPECT_EQ(features::versions_param(with_if_match("\"r1.99999999999999999999\"")), "{}");  // past 64 bits
  EXPECT_EQ(features::versions_param(with_if_match("")), "{}");
}

TEST(Versions, WithRequireIfMatchAWriteWithoutOneIs428) {
  http::request bare;
  bare.path = "/api/posts/1";
  EXPECT_EQ(features::refuse_unconditional(bare, false), std::nullopt);
  auto refused = features::refuse_unconditional(bare, true);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 428);
  EXPECT_EQ(features::refuse_unconditional(with_if_match("*"), true), std::nullopt);
  EXPECT_EQ(features::refuse_unconditional(with_if_match("\"r1.5\""), true), std::nullopt);
}

TEST(Versions, A412CarriesTheCurrentEtag) {
  http::request req;
  req.path = "/api/posts/3";
  auto r = features::changed_since("post", 42, req);
  EXPECT_EQ(r.status, 412);
  EXPECT_EQ(r.etag, "\"r1.42\"");
  EXPECT_NE(r.body.find("post has changed"), std::string::npos) << r.body;
}
