// Conformance: granite's answers, on every route and for the outcomes a
// client meets (successes, refusals, conditional writes, pages, 304s), are
// what the OpenAPI document it serves says they are.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/forum.hpp"
#include "support/openapi_check.hpp"
#include "support/testkit.hpp"

using namespace granite;
using nlohmann::json;

namespace {

struct Conformance : testkit::forum_suite<Conformance> {
  testkit::openapi_check doc;
  int checked = 0;

  // One request, its answer held against the document.
  testkit::http_response call(const std::string& method, const std::string& target, const std::string& body = "",
                              const std::string& token = "",
                              std::vector<std::pair<std::string, std::string>> more = {}) {
    auto r = api->call_with(more, method, target, body, token);
    EXPECT_EQ(doc.problems(method, target, r), "") << method << " " << target << " answered " << r.status << ": "
                                                   << r.body;
    ++checked;
    return r;
  }
};

}  // namespace

// The checker itself: an answer that breaks the document is caught.
TEST_F(Conformance, TheCheckerFindsWhatBreaksTheDocument) {
  testkit::http_response r;
  r.status = 200;
  r.headers["content-type"] = "application/json; charset=utf-8";
  r.body = R"({"id":1,"username":"a","name":"","bio":""})";
  EXPECT_NE(doc.problems("GET", "/api/users/1", r).find("updatedAt"), std::string::npos) << "a required field";
  r.body = R"({"id":0,"username":"a","name":"","bio":"","updatedAt":"2026-12-05T10:00:00.000Z"})";
  EXPECT_NE(doc.problems("GET", "/api/users/1", r).find("below"), std::string::npos) << "an id of 0";
  r.body = R"({"id":1,"username":"a","name":"","bio":"","updatedAt":"yesterday"})";
  EXPECT_NE(doc.problems("GET", "/api/users/1", r).find("date-time"), std::string::npos);
  r.body = R"({"id":1,"username":"a","name":"","bio":"","updatedAt":1733392800000})";
  EXPECT_NE(doc.problems("GET", "/api/users/1", r).find("not of type"), std::string::npos) << "neither string nor null";
  r.body = R"({"id":1,"username":"a","name":"","bio":"","updatedAt":null})";
  EXPECT_EQ(doc.problems("GET", "/api/users/1", r), "");
  r.body = R"({"id":1,"username":"a","name":"","bio":"","updatedAt":"2026-12-05T10:00:00.000Z"})";
  EXPECT_EQ(doc.problems("GET", "/api/users/1", r), "");
  r.headers["etag"] = "\"0123456789abcdef\"";
  EXPECT_NE(doc.problems("GET", "/api/users/1", r).find("ETag"), std::string::npos) << "not a record's tag";
  r.status = 418;
  EXPECT_NE(doc.problems("GET", "/api/users/1", r).find("not documented"), std::string::npos);
  EXPECT_NE(doc.problems("GET", "/api/nowhere", r).find("no path"), std::string::npos);
}

TEST_F(Conformance, EveryRouteAnswersAsDocumented) {
  // Reads, pages, 304s, refusals.
  for (const char* target : {"/", "/api/", "/api/openapi.json", "/health", "/health/ready", "/health/cache",
                             "/health/database", "/api/users", "/api/users?limit=2", "/api/users/1", "/api/users/4",
                             "/api/users/abc", "/api/users?limit=0", "/api/threads", "/api/threads/2", "/api/threads/99",
                             "/api/posts/1", "/api/posts/999999", "/api/posts/in-thread/1", "/api/posts/in-thread/1?limit=1",
                             "/api/posts/in-thread/3", "/api/posts/by-user/1", "/api/posts/by-user/9", "/api/posts/x",
                             "/api/users?order=desc&limit=2", "/api/threads?before=3", "/api/posts/by-user/1?order=desc",
                             "/api/posts/in-thread/1?order=desc&after=1&limit=1", "/api/users?after=1&before=2",
                             "/api/threads?order=sideways"})
    call("GET", target);
  auto user = call("GET", "/api/users/1");
  call("GET", "/api/users/1", "", "", {{"If-None-Match", user.header("ETag")}});
  auto page = call("GET", "/api/users");
  call("GET", "/api/users", "", "", {{"If-None-Match", page.header("ETag")}});
  call("HEAD", "/api/posts/1");

  // Accounts and sessions.
  auto made = call("POST", "/api/users", R"({"username":"conform","password":")" + testkit::test_password + R"("})");
  ASSERT_EQ(made.status, 201) << made.body;
  auto me = json::parse(made.body)["id"].get<std::int64_t>();
  call("POST", "/api/users", R"({"username":"conform","password":")" + testkit::test_password + R"("})");  // 409
  call("POST", "/api/users", R"({"username":"x"})");                                                        // 400
  auto unsupported = api->call("POST", "/api/users", "{}", "", "text/plain");
  EXPECT_EQ(unsupported.status, 415);
  EXPECT_EQ(doc.problems("POST", "/api/users", unsupported), "");
  call("POST", "/api/sessions", R"({"username":"conform","password":"wrong password"})");                 // 401
  auto signed_in = call("POST", "/api/sessions", R"({"username":"conform","password":")" + testkit::test_password + R"("})");
  ASSERT_EQ(signed_in.status, 201) << signed_in.body;
  auto token = json::parse(signed_in.body)["token"].get<std::string>();
  call("GET", "/api/sessions/current", "", token);
  call("GET", "/api/sessions/current");  // 401
  auto other = api->member("conform_other");

  // Threads and posts: made, changed (with and without tags), refused.
  auto thread = call("POST", "/api/threads", R"({"title":"conformance"})", token);
  ASSERT_EQ(thread.status, 201) << thread.body;
  auto thread_path = "/api/threads/" + std::to_string(json::parse(thread.body)["id"].get<std::int64_t>());
  call("POST", "/api/threads", R"({"title":"anonymous"})");  // 401
  auto post = call("POST", "/api/posts", json{{"thread", json::parse(thread.body)["id"]}, {"text", "hello"}}.dump(), token);
  ASSERT_EQ(post.status, 201) << post.body;
  auto post_path = "/api/posts/" + std::to_string(json::parse(post.body)["id"].get<std::int64_t>());
  call("POST", "/api/posts", R"({"thread":987654321,"text":"nowhere"})", token);  // 400
  auto user_path = "/api/users/" + std::to_string(me);
  for (const auto& [path, body] : {std::pair{thread_path, std::string(R"({"title":"changed"})")},
                                   std::pair{post_path, std::string(R"({"text":"changed"})")},
                                   std::pair{user_path, std::string(R"({"bio":"changed"})")}}) {
    auto tag = call("GET", path).header("ETag");
    auto changed = call("PATCH", path, body, token, {{"If-Match", tag}});
    EXPECT_EQ(changed.status, 200) << path;
    EXPECT_EQ(call("PATCH", path, body, token, {{"If-Match", tag}}).status, 412) << path;
    EXPECT_EQ(call("DELETE", path, "", token, {{"If-Match", tag}}).status, 412) << path;
    call("PATCH", path, body, token, {{"If-Match", "not a tag"}});  // 400
    call("PATCH", path, body, other.token);                         // 403
    call("PATCH", path, body);                                      // 401
    call("PATCH", path, "[]", token);                               // 400
    call("PATCH", path, body, token, {{"Idempotency-Key", "conform-1"}});
    call("PATCH", path, body, token, {{"Idempotency-Key", "conform-1"}});  // replayed
  }
  call("PATCH", "/api/posts/987654321", R"({"text":"x"})", token);  // 404

  // Moderation: actions, tombstones, whole reads, the log, refusals.
  auto mod = api->member("conform_moderator");
  auto thread_id = std::to_string(json::parse(thread.body)["id"].get<std::int64_t>());
  auto post_id = std::to_string(json::parse(post.body)["id"].get<std::int64_t>());
  ASSERT_EQ(testkit::run_granite({"grant", "moderator", "conform_moderator"}, {{"DATABASE_URL", db->url()}}).exit_code, 0);
  for (const char* action : {"/lock", "/unlock", "/remove"}) {
    EXPECT_EQ(call("POST", thread_path + action, R"({"reason":"conformance"})", mod.token).status, 200) << action;
    call("POST", thread_path + action, "", mod.token);  // nothing changes
  }
  call("GET", thread_path);                                             // a tombstone
  call("GET", "/api/threads?order=desc&limit=3");                       // with a tombstone
  call("POST", "/api/posts", R"({"thread":)" + thread_id + R"(,"text":"late"})", token);  // 409
  call("PATCH", thread_path, R"({"title":"x"})", token);                // 409
  call("GET", "/api/moderation/threads/" + thread_id, "", mod.token);
  call("POST", thread_path + "/restore", "", mod.token);
  EXPECT_EQ(call("POST", post_path + "/remove", R"({"reason":"conformance"})", mod.token).status, 200);
  call("GET", post_path);
  call("GET", "/api/posts/in-thread/" + thread_id);
  call("GET", "/api/moderation/posts/" + post_id, "", mod.token);
  call("PATCH", post_path, R"({"text":"x"})", token);                   // 409
  call("POST", post_path + "/restore", "", token);                      // 403
  call("POST", post_path + "/restore", "");                             // 401
  call("POST", post_path + "/restore", R"({"reason":""})", mod.token);  // 400
  auto plain = api->call("POST", post_path + "/restore", "x", mod.token, "text/plain");
  EXPECT_EQ(plain.status, 415);
  EXPECT_EQ(doc.problems("POST", post_path + "/restore", plain), "");
  call("POST", "/api/posts/987654321/restore", "", mod.token);         // 404
  call("POST", post_path + "/restore", "", mod.token);
  call("GET", "/api/moderation/log?order=desc&limit=2", "", mod.token);
  call("GET", "/api/moderation/log", "", token);                        // 403
  EXPECT_EQ(call("DELETE", post_path, "", token, {{"If-Match", "*"}}).status, 204);
  EXPECT_EQ(call("DELETE", thread_path, "", token).status, 204);
  call("DELETE", "/api/sessions/current", "", token);
  call("DELETE", "/api/sessions/current", "", token);  // 401
  auto again = api->sign_in("conform");
  EXPECT_EQ(call("DELETE", user_path, "", again).status, 204);
  std::printf("[ conform  ] %d answers held against the document\n", checked);
}

// http.require_if_match's 428.
TEST(ConformanceRequired, The428IsAsDocumented) {
  testkit::scratch_database db;
  auto args = testkit::brisk_hashing();
  args.insert(args.end(), {"--set", "http.require_if_match=true"});
  testkit::server srv({.database_url = db.seeded(), .extra_args = args});
  testkit::forum_client api(srv.port());
  testkit::openapi_check doc;
  auto me = api.member("conform_required");
  for (const auto& [method, target] : {std::pair{"PATCH", "/api/posts/1"}, std::pair{"DELETE", "/api/threads/1"},
                                       std::pair{"DELETE", "/api/users/1"}}) {
    auto r = api.call(method, target, std::string(method) == "PATCH" ? R"({"text":"x"})" : "", me.token);
    EXPECT_EQ(r.status, 428);
    EXPECT_EQ(doc.problems(method, target, r), "");
  }
}
