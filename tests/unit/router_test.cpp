#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "granite/http/router.hpp"

using namespace granite::http;

namespace {

response echo(const request&, const params& p) { return text(200, std::string(p.get("id"))); }

router make() {
  router r;
  r.add(verb::get, "/", plain_handler([](const request&, const params&) { return text(200, "root"); }));
  r.add(verb::get, "/api/", plain_handler([](const request&, const params&) { return text(200, "api"); }));
  r.add(verb::get, "/api/users", plain_handler([](const request&, const params&) { return text(200, "list"); }));
  r.add(verb::get, "/api/users/{id}", plain_handler(echo));
  r.add(verb::post, "/api/things", plain_handler(echo));
  return r;
}

request req(verb v, std::string target) {
  request r;
  r.method = v;
  r.target = target;
  split_target(target, r.path, r.query);
  return r;
}

std::string run(const router& r, verb v, const std::string& target) {
  auto m = r.find(req(v, target));
  if (!m.found) return "status " + std::to_string(m.refusal.status);
  return std::get<plain_handler>(m.found->run)(req(v, target), m.values).body;
}

}  // namespace

TEST(Router, MatchesLiteralAndParameterSegments) {
  auto r = make();
  EXPECT_EQ(run(r, verb::get, "/"), "root");
  EXPECT_EQ(run(r, verb::get, "/api/"), "api");
  EXPECT_EQ(run(r, verb::get, "/api/users"), "list");
  EXPECT_EQ(run(r, verb::get, "/api/users/17"), "17");
}

TEST(Router, TrailingSlashIsOptionalAsInTheOriginal) {
  auto r = make();
  EXPECT_EQ(run(r, verb::get, "/api"), "api");
  EXPECT_EQ(run(r, verb::get, "/api/users/"), "list");
  EXPECT_EQ(run(r, verb::get, "/api/users/17/"), "17");
}

TEST(Router, QueryStringsAndFragmentsDoNotBreakRouting) {
  auto r = make();
  EXPECT_EQ(run(r, verb::get, "/api/users?limit=5"), "list");
  EXPECT_EQ(run(r, verb::get, "/api/users/3?x=/api/other#frag"), "3");
  EXPECT_EQ(run(r, verb::get, "/?"), "root");
  auto q = req(verb::get, "/api/users?a=1&b=2");
  EXPECT_EQ(q.path, "/api/users");
  EXPECT_EQ(q.query, "a=1&b=2");
}

TEST(Router, AbsoluteFormTargetsUseTheirPath) {
  auto r = make();
  EXPECT_EQ(run(r, verb::get, "http://example.test/api/users/8"), "8");
  EXPECT_EQ(run(r, verb::get, "http://example.test"), "root");
}

TEST(Router, PercentEscapesAreDecodedInParameters) {
  auto r = make();
  EXPECT_EQ(run(r, verb::get, "/api/users/%31%32"), "12");
  EXPECT_EQ(run(r, verb::get, "/api/%75sers/5"), "5");
  EXPECT_EQ(run(r, verb::get, "/api/users/%zz"), "status 400");
  EXPECT_EQ(run(r, verb::get, "/api/users/%4"), "status 400");
}

TEST(Router, UnknownPathIs404AsProblemJson) {
  auto r = make();
  auto m = r.find(req(verb::get, "/api/nothing"));
  ASSERT_EQ(m.found, nullptr);
  EXPECT_EQ(m.refusal.status, 404);
  EXPECT_EQ(m.refusal.content_type, "application/problem+json");
  auto body = nlohmann::json::parse(m.refusal.body);
  EXPECT_EQ(body["status"], 404);
  EXPECT_EQ(body["title"], "Not Found");
  EXPECT_EQ(body["instance"], "/api/nothing");
  EXPECT_FALSE(body["detail"].get<std::string>().empty());
  EXPECT_EQ(run(r, verb::get, "//api/users"), "status 404");
  EXPECT_EQ(run(r, verb::get, "/api/users/1/2"), "status 404");
}

TEST(Router, WrongMethodIs405WithAllow) {
  auto r = make();
  auto m = r.find(req(verb::delete_, "/api/users/5"));
  ASSERT_EQ(m.found, nullptr);
  EXPECT_EQ(m.refusal.status, 405);
  ASSERT_EQ(m.refusal.headers.size(), 1u);
  EXPECT_EQ(m.refusal.headers[0].first, "Allow");
  EXPECT_EQ(m.refusal.headers[0].second, "GET, HEAD");
  EXPECT_EQ(r.find(req(verb::get, "/api/things")).refusal.headers[0].second, "POST");
}

TEST(Router, HeadIsAnsweredWhereGetIs) {
  auto r = make();
  auto m = r.find(req(verb::head, "/api/users/9"));
  ASSERT_NE(m.found, nullptr);
  EXPECT_EQ(m.found->pattern, "/api/users/{id}");
  EXPECT_EQ(r.find(req(verb::head, "/api/things")).refusal.status, 405);
}

// A {name:noun} segment is an id, parsed once as the route is matched: the
// handler gets the number, or the error naming it, and decides when to
// answer it. The pattern is shown (metrics, access log) without the noun.
TEST(Router, IdSegmentsAreParsedOnceIntoNumbersOrTheirError) {
  router r;
  r.add(verb::get, "/api/posts/in-thread/{threadId:thread}", plain_handler(echo));
  r.add(verb::get, "/api/users/{id}", plain_handler(echo));
  auto m = r.find(req(verb::get, "/api/posts/in-thread/%34%32"));
  ASSERT_NE(m.found, nullptr);
  EXPECT_EQ(m.found->pattern, "/api/posts/in-thread/{threadId}");
  ASSERT_TRUE(m.values.id("threadId"));
  EXPECT_EQ(*m.values.id("threadId"), 42);
  EXPECT_EQ(m.values.get("threadId"), "42");

  for (std::string bad : {"0", "-1", "4x", "9223372036854775808"}) {
    auto refused = r.find(req(verb::get, "/api/posts/in-thread/" + bad));
    ASSERT_NE(refused.found, nullptr) << bad;  // the route answers, with the error
    const auto& id = refused.values.id("threadId");
    ASSERT_FALSE(id) << bad;
    EXPECT_EQ(id.err().kind, granite::error::code::invalid_argument);
    EXPECT_EQ(id.err().message.rfind("thread id must be ", 0), 0u) << id.err().message;
    EXPECT_NE(id.err().message.find("\"" + bad + "\""), std::string::npos) << id.err().message;
  }
  // A segment without a noun is text; a name the route lacks is no id.
  auto plain = r.find(req(verb::get, "/api/users/7"));
  EXPECT_FALSE(plain.values.id("id"));
  EXPECT_FALSE(plain.values.id("threadId"));
  EXPECT_EQ(plain.values.get("id"), "7");
}
