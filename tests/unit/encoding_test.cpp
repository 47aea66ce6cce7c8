// Content codings of kept responses: which variant a request takes, and the
// gzip variant itself.
#include "http/encoding.hpp"

#include <gtest/gtest.h>

#include <string>

#include "granite/http/cache.hpp"
#include "support/testkit.hpp"

using namespace granite::http;

namespace {

std::string page_of(int rows) {
  std::string body = "[";
  for (int i = 1; i <= rows; ++i)
    body += (i > 1 ? "," : "") + std::string("{\"thread\":7,\"text\":\"post ") + std::to_string(i) +
            "\",\"user\":3,\"id\":" + std::to_string(i) + ",\"createdAt\":\"2026-12-03T04:00:00Z\"}";
  return body + "]";
}

}  // namespace

TEST(Encoding, GzipIsTakenWhenTheClientWantsItAtLeastAsMuchAsTheIdentity) {
  for (const char* yes : {"gzip", "gzip, deflate, br", "br;q=1.0, gzip;q=0.8", "GZIP", "x-gzip", "*", "gzip;q=1",
                          "gzip; q=0.001, identity;q=0", "gzip;q=0.001", "*;q=0.2, identity;q=0.1", "gzip;Q=0.5, identity;q=0.5", "deflate, , gzip", "identity;q=0, gzip",
                          "gzip;level=9;q=0.3, identity;q=0.2", "*;q=0.5, gzip", "br, gzip;q=1.000"})
    EXPECT_TRUE(prefers_gzip(yes)) << yes;
  for (const char* no : {"", "identity", "br", "deflate, br", "gzip;q=0", "gzip;q=0.000", "*;q=0",
                         "gzip;q=0.5, identity", "*, gzip;q=0", "gzip;q=1.5", "gzip;q=2", "gzip;q=0.5000",
                         "gzip;q=", "gzip;q", "gzip;=1", "gzip;q=.5", "gzip;q=0,5x", "gz ip", "\"gzip\"",
                         "gzip;q=0.5, identity;q=0.9", "identity;q=1, *;q=0.5", "identity, *;q=0.9", "gzip;", "gzip; ;q=1", "gzip;q=1;"})
    EXPECT_FALSE(prefers_gzip(no)) << no;
}

TEST(Encoding, AGzipVariantInflatesToTheBodyAndOnlyWhenItIsWorthIt) {
  auto body = page_of(100);
  auto gz = gzip_of(body);
  ASSERT_FALSE(gz.empty());
  EXPECT_LT(gz.size(), body.size() / 3) << "a page of posts shrinks to well under a third";
  EXPECT_EQ(granite::testkit::gunzip(gz), body);
  EXPECT_EQ(gz.substr(0, 2), "\x1f\x8b");
  EXPECT_TRUE(gzip_of(page_of(1)).empty()) << "under 1 KiB: sent as it is";
  std::string noise;
  for (std::uint32_t x = 12345; noise.size() < 4096;) {
    x = x * 1103515245 + 12345;
    noise += static_cast<char>(x >> 24);
  }
  EXPECT_TRUE(gzip_of(noise).empty()) << "what does not shrink by an eighth is not kept twice";
}

// A record's tags are made of its version: both variants name it, each
// its own, whatever the bytes.
TEST(Encoding, AKeptRecordsVariantsTakeTheirTagsFromItsVersion) {
  response r = json(200, page_of(50));
  r.etag = "\"r1.1733400000123456\"";
  auto kept = kept_response(std::move(r), nullptr, true);
  ASSERT_FALSE(kept->gzip.empty());
  EXPECT_EQ(kept->etag, "\"r1.1733400000123456\"");
  EXPECT_EQ(kept->gzip_etag, "\"r1.1733400000123456-gzip\"");
  EXPECT_EQ(choose_variant(*kept, "gzip").etag, kept->gzip_etag);
  EXPECT_EQ(choose_variant(*kept, "identity").etag, kept->etag);
}

TEST(Encoding, AKeptResponseCarriesBothVariantsWithTheirOwnEtags) {
  response r = json(200, page_of(50));
  r.headers.emplace_back("Link", "</api/posts/in-thread/7?limit=50&after=50>; rel=\"next\"");
  auto kept = kept_response(std::move(r), nullptr, true);
  ASSERT_FALSE(kept->gzip.empty());
  EXPECT_NE(kept->gzip_etag, kept->etag);
  EXPECT_EQ(kept->gzip_etag, etag_of(kept->gzip, kept->headers));
  auto gz = choose_variant(*kept, "gzip");
  EXPECT_TRUE(gz.gzip);
  EXPECT_EQ(gz.body, kept->gzip);
  EXPECT_EQ(gz.etag, kept->gzip_etag);
  auto plain = choose_variant(*kept, "br");
  EXPECT_FALSE(plain.gzip);
  EXPECT_EQ(plain.body, kept->body);
  EXPECT_EQ(plain.etag, kept->etag);
  EXPECT_TRUE(kept->varies);
  // Not compressed (not to be kept, and the client takes no gzip): another
  // client may get gzip, so it varies; a small body never does.
  auto unkept = kept_response(json(200, page_of(50)), nullptr, false);
  EXPECT_TRUE(unkept->gzip.empty());
  EXPECT_TRUE(unkept->varies);
  EXPECT_FALSE(kept_response(json(200, page_of(1)), nullptr, true)->varies);
  EXPECT_FALSE(kept_response(json(200, page_of(1)), nullptr, false)->varies);
}
