#include <gtest/gtest.h>

#include <random>

#include "features/body.hpp"
#include "features/page.hpp"

using namespace granite;
using granite::features::json_body;

namespace {

http::request with_body(std::string body, std::string type = "application/json") {
  http::request r;
  r.content_type = std::move(type);
  r.body = std::move(body);
  return r;
}

std::string messages(const error& e) {
  std::string out;
  for (const auto& f : e.fields) out += f.field + ": " + f.message + "\n";
  return out;
}

constexpr features::text_rule any_text{0, 100};

}  // namespace

TEST(JsonBody, MediaTypesAreJsonInUtf8Only) {
  for (const char* ok : {"application/json", "application/json; charset=utf-8", "APPLICATION/JSON;charset=UTF-8",
                         "application/json ; charset=\"utf-8\"", "application/merge-patch+json",
                         "application/json; boundary=x"})
    EXPECT_TRUE(json_body::parse(with_body("{}", ok)).ok()) << ok;
  for (const char* refused : {"", "text/plain", "application/jsonx", "application/json; charset=iso-8859-1",
                              "multipart/form-data", "application/x-www-form-urlencoded"}) {
    auto r = json_body::parse(with_body("{}", refused));
    ASSERT_FALSE(r.ok()) << refused;
    EXPECT_EQ(r.err().kind, error::code::unsupported_media_type) << refused;
  }
}

TEST(JsonBody, OnlyOneObjectNestedAtMost32Deep) {
  auto nest = [](int depth) { return "{\"a\":" + std::string(depth, '[') + std::string(depth, ']') + "}"; };
  EXPECT_TRUE(json_body::parse(with_body(nest(31))).ok());
  auto deep = json_body::parse(with_body(nest(32)));
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.err().message, "the body nests deeper than 32 levels");
  EXPECT_FALSE(json_body::parse(with_body("")).ok());
  EXPECT_FALSE(json_body::parse(with_body("{} {}")).ok());
  EXPECT_FALSE(json_body::parse(with_body("[]")).ok());
  EXPECT_FALSE(json_body::parse(with_body("{\"a\":1}x")).ok());
}

TEST(JsonBody, DuplicateNamesAreRefusedAtTheTopOnly) {
  auto dup = json_body::parse(with_body(R"({"a":1,"b":2,"a":3})"));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(messages(dup.err()), "a: a is given more than once\n");
  EXPECT_TRUE(json_body::parse(with_body(R"({"a":{"x":1},"b":{"x":2}})")).ok());
}

TEST(JsonBody, TextRulesCountCharactersNotBytes) {
  auto body = json_body::parse(with_body(R"({"s":"😀😀😀","t":"ab","u":"  "})"));
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(body->text("s", {3, 3}, true), "😀😀😀");
  EXPECT_FALSE(body->text("t", {3, 10}, true));
  EXPECT_FALSE(body->text("u", {1, 10, true}, true));
  EXPECT_FALSE(body->text("missing", any_text, false));
  auto refused = body->finish();
  ASSERT_TRUE(refused);
  EXPECT_EQ(messages(*refused), "t: t must be 3 to 10 characters, got 2\nu: u must not be blank\n");
  EXPECT_EQ(features::count_chars("aé😀ש"), 4u);
}

TEST(JsonBody, IdsAreIntegersFromOneToTheLargestBigint) {
  auto body = json_body::parse(with_body(
      R"({"max":9223372036854775807,"over":9223372036854775808,"zero":0,"neg":-1,"frac":1.0,"text":"1","yes":true})"));
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(body->id("max", true), 9223372036854775807);
  for (const char* bad : {"over", "zero", "neg", "frac", "text", "yes"}) EXPECT_FALSE(body->id(bad, true)) << bad;
  EXPECT_FALSE(body->id("absent", true));
  auto refused = body->finish();
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->fields.size(), 7u);
  EXPECT_EQ(refused->fields.back().message, "absent is required");
}

// An integer beyond 64 bits is read as a floating-point number: it is
// refused as a number out of range, not as a fractional one.
TEST(JsonBody, AHugeIntegerIsRefusedAsOutOfRange) {
  auto body = json_body::parse(with_body(R"({"huge":123456789012345678901234567890,"tiny":-99999999999999999999,)"
                                         R"("frac":2.5,"name":1e300})"));
  ASSERT_TRUE(body.ok());
  for (const char* name : {"huge", "tiny", "frac"}) EXPECT_FALSE(body->id(name, true)) << name;
  EXPECT_FALSE(body->text("name", any_text, true));
  auto refused = body->finish();
  ASSERT_TRUE(refused);
  EXPECT_EQ(messages(*refused),
            "huge: huge must be an id (an integer from 1 to 9223372036854775807), not a number out of range\n"
            "tiny: tiny must be an id (an integer from 1 to 9223372036854775807), not a number out of range\n"
            "frac: frac must be an id (an integer from 1 to 9223372036854775807), not a fractional number\n"
            "name: name must be a string, not a number out of range\n");
}

TEST(JsonBody, UnknownFieldsAreNamedWithWhatIsAccepted) {
  auto body = json_body::parse(with_body(R"({"title":"x","titel":"y"})"));
  ASSERT_TRUE(body.ok());
  EXPECT_TRUE(body->text("title", any_text, true));
  auto refused = body->finish();
  ASSERT_TRUE(refused);
  EXPECT_EQ(messages(*refused), "titel: unknown field titel; this route accepts title\n");
}

TEST(Page, LimitAndAfterWithDefaults) {
  auto parse = [](std::string query) {
    http::request r;
    r.path = "/api/users";
    r.query = std::move(query);
    return features::parse_page(r);
  };
  auto d = parse("");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->limit, 100);
  EXPECT_EQ(d->after, 0);
  EXPECT_EQ(d->rows_to_read(), 101);
  auto given = parse("after=42&limit=1000&other=x");
  ASSERT_TRUE(given.ok());
  EXPECT_EQ(given->limit, 1000);
  EXPECT_EQ(given->after, 42);
  for (const char* bad : {"limit=1001", "limit=0", "after=-5", "limit=+5", "limit=5&limit=5", "after=%"})
    EXPECT_FALSE(parse(bad).ok()) << bad;
  auto both = parse("limit=x&after=y");
  ASSERT_FALSE(both.ok());
  EXPECT_EQ(both.err().fields.size(), 2u);
}

TEST(Page, TheExtraRowBecomesTheLinkHeader) {
  http::request r;
  r.path = "/api/posts/in-thread/3";
  features::page p{.after = 10, .limit = 2};
  auto page_of = [&](std::vector<std::int64_t> ids) {
    return features::json_page(
        ids.size(), p, r, [&](features::json_text& out, std::size_t i) { out.integer(ids[i]); },
        [&](std::size_t i) { return ids[i]; });
  };
  auto more = page_of({11, 12, 13});
  EXPECT_EQ(more.body, "[11,12]");
  ASSERT_EQ(more.headers.size(), 1u);
  EXPECT_EQ(more.headers[0].second, "</api/posts/in-thread/3?limit=2&after=12>; rel=\"next\"");
  auto last = page_of({11, 12});
  EXPECT_EQ(last.body, "[11,12]");
  EXPECT_TRUE(last.headers.empty());
  EXPECT_EQ(page_of({}).body, "[]");
}

// Mutated bodies and queries (a fixed seed, so that a failure repeats):
// every one is accepted or refused with an error, none throws or crashes
// (the sanitizer build runs this too).
TEST(JsonBody, SurvivesTwentyThousandMutatedBodies) {
  const std::vector<std::string> corpus = {
      R"({"username":"ada_l","name":"Ada","bio":"x","password":"0123456789"})",
      R"({"thread":1,"text":"hello 😀 שלום \u0000 \ud83d\ude00"})",
      R"({"title":"a","nested":{"a":[1,2,{"b":null}]},"n":-1.5e300})",
      R"({"a":"\u00e9","a":"dup"})",
      "[[[[[[[[[[]]]]]]]]]]",
  };
  std::mt19937 rng(20261126);
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  int accepted = 0, refused = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string body = corpus[pick(corpus.size())];
    for (int m = 0, edits = 1 + static_cast<int>(pick(8)); m < edits && !body.empty(); ++m) {
      switch (pick(5)) {
        case 0: body[pick(body.size())] = static_cast<char>(rng()); break;               // flip a byte
        case 1: body.insert(pick(body.size() + 1), 1, static_cast<char>(rng())); break;  // insert one
        case 2: body.erase(pick(body.size()), 1 + pick(4)); break;                       // delete some
        case 3: body.resize(pick(body.size() + 1)); break;                               // truncate
        case 4: {                                                                        // repeat a piece
          auto at = pick(body.size());
          body.insert(at, body.substr(at, 1 + pick(16)));
          break;
        }
      }
    }
    EXPECT_NO_THROW({
      auto parsed = json_body::parse(with_body(body));
      if (parsed) {
        ++accepted;
        parsed->text("username", {3, 32}, false);
        parsed->text("title", {1, 200, true}, false);
        parsed->id("thread", false);
        parsed->finish();
      } else {
        ++refused;
      }
    }) << body;
    http::request q;
    q.path = "/api/users";
    q.query = body.substr(0, 64);
    EXPECT_NO_THROW(features::parse_page(q)) << q.query;
  }
  std::printf("mutated bodies: %d accepted, %d refused\n", accepted, refused);
  EXPECT_GT(accepted, 0);
  EXPECT_GT(refused, 0);
}
