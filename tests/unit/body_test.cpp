#include <gtest/gtest.h>

#include <limits>
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

namespace {
// The page a query of /api/users asks for.
result<features::page> parse(std::string query) {
  http::request r;
  r.path = "/api/users";
  r.query = std::move(query);
  return features::parse_page(r);
}
}  // namespace

TEST(Page, LimitAndAfterWithDefaults) {
  auto d = parse("");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->limit, 100);
  EXPECT_EQ(d->cursor, 0);
  EXPECT_EQ(d->rows_to_read(), 101);
  auto given = parse("after=42&limit=1000&other=x");
  ASSERT_TRUE(given.ok());
  EXPECT_EQ(given->limit, 1000);
  EXPECT_EQ(given->cursor, 42);
  for (const char* bad : {"limit=1001", "limit=0", "after=-5", "limit=+5", "limit=5&limit=5", "after=%"})
    EXPECT_FALSE(parse(bad).ok()) << bad;
  auto both = parse("limit=x&after=y");
  ASSERT_FALSE(both.ok());
  EXPECT_EQ(both.err().fields.size(), 2u);
}

TEST(Page, OrderAndBeforeChooseTheSideAndTheWay) {
  auto newest = parse("order=desc");
  ASSERT_TRUE(newest.ok());
  EXPECT_TRUE(newest->below && newest->descending && !newest->from_cursor);
  EXPECT_EQ(newest->cursor, std::numeric_limits<std::int64_t>::max());
  auto older = parse("order=desc&before=50&limit=5");
  ASSERT_TRUE(older.ok());
  EXPECT_TRUE(older->below && older->from_cursor);
  EXPECT_EQ(older->cursor, 50);
  auto newer = parse("after=50&order=desc");
  ASSERT_TRUE(newer.ok());
  EXPECT_TRUE(!newer->below && newer->descending);
  EXPECT_EQ(newer->cursor, 50);
  auto back = parse("before=50");
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->below && !back->descending);
  auto asc = parse("order=asc");
  ASSERT_TRUE(asc.ok());
  EXPECT_TRUE(!asc->below && !asc->descending && asc->cursor == 0);
  for (const char* bad : {"order=DESC", "order=", "order=desc&order=desc", "before=-1", "before=x", "before=1&before=2"})
    EXPECT_FALSE(parse(bad).ok()) << bad;
  auto two = parse("after=1&before=9");
  ASSERT_FALSE(two.ok());
  ASSERT_EQ(two.err().fields.size(), 1u);
  EXPECT_NE(two.err().fields[0].message.find("not both"), std::string::npos);
}

TEST(Page, TheExtraRowBecomesTheLinkHeader) {
  http::request r;
  r.path = "/api/posts/in-thread/3";
  features::page p{.cursor = 10, .limit = 2};
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

// Each way and side of a page: the rows come nearest to the cursor first,
// are shown in the page's order, and link to both neighbours; the span is
// mirrored below a cursor.
TEST(Page, LinksBothWaysOnEitherSideOfTheCursor) {
  http::request r;
  r.path = "/api/threads";
  auto answer = [&](std::string query, std::vector<std::int64_t> ids) {
    r.query = std::move(query);
    auto p = features::parse_page(r);
    EXPECT_TRUE(p.ok()) << r.query;
    return features::json_page(
        ids.size(), *p, r, [&](features::json_text& out, std::size_t i) { out.integer(ids[i]); },
        [&](std::size_t i) { return ids[i]; });
  };
  auto link = [](const http::response& res) { return res.headers.empty() ? "" : res.headers[0].second; };
  // Newest first from the top: no prev; next goes down.
  auto top = answer("order=desc&limit=2", {9, 8, 7});
  EXPECT_EQ(top.body, "[9,8]");
  EXPECT_EQ(link(top), "</api/threads?limit=2&order=desc&before=8>; rel=\"next\"");
  EXPECT_EQ(top.page, (http::page_span{-std::numeric_limits<std::int64_t>::max(), -8, -7, true}));
  // Further down: both ways.
  auto down = answer("order=desc&limit=2&before=8", {7, 6, 5});
  EXPECT_EQ(down.body, "[7,6]");
  EXPECT_EQ(link(down), "</api/threads?limit=2&order=desc&before=6>; rel=\"next\", "
                        "</api/threads?limit=2&order=desc&after=7>; rel=\"prev\"");
  // Back up from there: read upward from 7, shown newest first.
  auto up = answer("order=desc&limit=2&after=7", {8, 9, 10});
  EXPECT_EQ(up.body, "[9,8]");
  EXPECT_EQ(link(up), "</api/threads?limit=2&order=desc&before=8>; rel=\"next\", "
                      "</api/threads?limit=2&order=desc&after=9>; rel=\"prev\"");
  EXPECT_EQ(up.page, (http::page_span{7, 9, 10, false}));
  // Ascending, before a cursor: read downward, shown oldest first.
  auto before = answer("before=5&limit=2", {4, 3, 2});
  EXPECT_EQ(before.body, "[3,4]");
  EXPECT_EQ(link(before), "</api/threads?limit=2&after=4>; rel=\"next\", </api/threads?limit=2&before=3>; rel=\"prev\"");
  EXPECT_EQ(before.page, (http::page_span{-5, -3, -2, true}));
  // The first page of the list, read whole: no Link at all.
  auto whole = answer("limit=5", {1, 2});
  EXPECT_TRUE(whole.headers.empty());
  // A page from a cursor with nothing there: nothing to link to.
  auto nothing = answer("before=1", {});
  EXPECT_EQ(nothing.body, "[]");
  EXPECT_TRUE(nothing.headers.empty());
  EXPECT_EQ(nothing.page, (http::page_span{-1, -1, 0, true}));
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
