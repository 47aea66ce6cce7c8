// Writes with ownership, validation and hostile text, against the real
// binary and database.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/forum.hpp"
#include "support/testkit.hpp"

using namespace granite;
using nlohmann::json;

namespace {

struct Writes : testkit::forum_suite<Writes> {
  std::string count(const std::string& table, const std::string& where) {
    return db->query("SELECT count(*) FROM " + table + " WHERE " + where);
  }
};

std::string id_path(const std::string& base, std::int64_t id) { return base + "/" + std::to_string(id); }

}  // namespace

// Every write route: anonymous 401, someone else 403, a missing record 404,
// the owner 2xx.
TEST_F(Writes, AuthorizationMatrix) {
  auto owner = api->member("matrix_owner");
  auto other = api->member("matrix_other");
  auto thread = api->start_thread(owner.token, "owned thread");
  auto post = api->write_post(owner.token, thread, "owned post");

  EXPECT_EQ(api->call("POST", "/api/threads", R"({"title":"t"})").status, 401);
  EXPECT_EQ(api->call("POST", "/api/posts", json{{"thread", thread}, {"text", "x"}}.dump()).status, 401);

  struct route {
    std::string base, body;
    std::int64_t id;
  } routes[] = {
      {"/api/threads", R"({"title":"changed"})", thread},
      {"/api/posts", R"({"text":"changed"})", post},
      {"/api/users", R"({"bio":"changed"})", owner.id},
  };
  for (const auto& r : routes) {
    auto path = id_path(r.base, r.id);
    auto missing = id_path(r.base, 987654321);
    EXPECT_EQ(api->call("PATCH", path, r.body).status, 401) << path;
    EXPECT_EQ(api->call("DELETE", path).status, 401) << path;
    EXPECT_EQ(api->call("PATCH", path, r.body, other.token).status, 403) << path;
    EXPECT_EQ(api->call("DELETE", path, "", other.token).status, 403) << path;
    EXPECT_EQ(api->call("PATCH", missing, r.body, other.token).status, 404) << missing;
    EXPECT_EQ(api->call("DELETE", missing, "", other.token).status, 404) << missing;
    auto changed = api->call("PATCH", path, r.body, owner.token);
    EXPECT_EQ(changed.status, 200) << path << ": " << changed.body;
    EXPECT_EQ(api->call("GET", path).body, changed.body) << path;
  }
  // Nothing changed hands: the refused writes left the records as they were.
  EXPECT_EQ(json::parse(api->call("GET", id_path("/api/threads", thread)).body)["createdBy"], owner.id);
  EXPECT_EQ(api->call("DELETE", id_path("/api/posts", post), "", owner.token).status, 204);
  EXPECT_EQ(api->call("GET", id_path("/api/posts", post)).status, 404);
  EXPECT_EQ(api->call("DELETE", id_path("/api/threads", thread), "", owner.token).status, 204);
  EXPECT_EQ(api->call("GET", id_path("/api/threads", thread)).status, 404);
}

TEST_F(Writes, TheAuthorIsTheSignedInUser) {
  auto author = api->member("author_a");
  auto r = api->call("POST", "/api/posts", json{{"thread", 1}, {"text", "hello"}}.dump(), author.token);
  ASSERT_EQ(r.status, 201) << r.body;
  auto post = json::parse(r.body);
  EXPECT_EQ(post["user"], author.id);
  EXPECT_EQ(post["thread"], 1);
  EXPECT_EQ(r.header("Location"), id_path("/api/posts", post["id"].get<std::int64_t>()));
  EXPECT_EQ(api->call("GET", r.header("Location")).body, r.body);
  // The body cannot name an author.
  auto spoof = api->call("POST", "/api/posts", json{{"thread", 1}, {"text", "x"}, {"user", 1}}.dump(), author.token);
  EXPECT_EQ(testkit::field_errors(spoof), "user: unknown field user; this route accepts thread, text\n");
  auto thread = api->call("POST", "/api/threads", json{{"title", "x"}, {"createdBy", 1}}.dump(), author.token);
  EXPECT_EQ(thread.status, 400);
  // A missing thread is a bad field of the body.
  auto nowhere = api->call("POST", "/api/posts", json{{"thread", 424242}, {"text", "x"}}.dump(), author.token);
  EXPECT_EQ(testkit::field_errors(nowhere), "thread: no thread with id 424242\n");
}

TEST_F(Writes, DeletingAThreadDeletesEveryPostInIt) {
  auto starter = api->member("thread_starter");
  auto guest = api->member("thread_guest");
  auto thread = api->start_thread(starter.token, "short-lived");
  api->write_post(starter.token, thread, "mine");
  auto guest_post = api->write_post(guest.token, thread, "a guest's post");
  auto elsewhere = api->write_post(guest.token, 1, "in another thread");
  ASSERT_EQ(api->call("DELETE", id_path("/api/threads", thread), "", starter.token).status, 204);
  EXPECT_EQ(count("posts", "thread_id = " + std::to_string(thread)), "0");
  EXPECT_EQ(api->call("GET", id_path("/api/posts", guest_post)).status, 404);
  EXPECT_EQ(api->call("GET", id_path("/api/posts/in-thread", thread)).status, 404);
  EXPECT_EQ(api->call("GET", id_path("/api/posts", elsewhere)).status, 200);
}

TEST_F(Writes, DeletingAUserDeletesTheirSessionsPostsAndThreads) {
  auto leaver = api->member("leaver");
  auto stayer = api->member("stayer");
  auto own_thread = api->start_thread(leaver.token, "leaver's thread");
  auto stayer_in_it = api->write_post(stayer.token, own_thread, "reply in the leaver's thread");
  auto leaver_elsewhere = api->write_post(leaver.token, 1, "the leaver's post in thread 1");
  auto stayer_thread = api->start_thread(stayer.token, "stayer's thread");
  api->write_post(leaver.token, stayer_thread, "the leaver replies");
  ASSERT_EQ(api->call("DELETE", id_path("/api/users", leaver.id), "", leaver.token).status, 204);
  auto who = std::to_string(leaver.id);
  EXPECT_EQ(count("sessions", "user_id = " + who), "0");
  EXPECT_EQ(count("posts", "user_id = " + who), "0");
  EXPECT_EQ(count("threads", "created_by = " + who), "0");
  EXPECT_EQ(api->call("GET", id_path("/api/posts", stayer_in_it)).status, 404);  // went with the thread
  EXPECT_EQ(api->call("GET", id_path("/api/posts", leaver_elsewhere)).status, 404);
  EXPECT_EQ(api->call("GET", id_path("/api/threads", stayer_thread)).status, 200);
  EXPECT_EQ(api->call("GET", id_path("/api/posts/in-thread", stayer_thread)).body, "[]");
  EXPECT_EQ(api->call("GET", id_path("/api/posts/by-user", leaver.id)).status, 404);
}

TEST_F(Writes, BodiesMustBeJson) {
  auto member = api->member("json_only");
  auto post = [&](const std::string& body, const std::string& type) {
    return api->call("POST", "/api/threads", body, member.token, type);
  };
  EXPECT_EQ(post(R"({"title":"t"})", "").status, 415);
  EXPECT_EQ(post(R"({"title":"t"})", "text/plain").status, 415);
  EXPECT_EQ(post("title=t", "application/x-www-form-urlencoded").status, 415);
  EXPECT_EQ(post(R"({"title":"t"})", "application/json; charset=latin1").status, 415);
  EXPECT_EQ(post(R"({"title":"t"})", "Application/JSON; Charset=\"UTF-8\"").status, 201);
  auto r = post(R"({"title":"t"})", "text/plain");
  EXPECT_EQ(r.header("Content-Type"), "application/problem+json");
  EXPECT_EQ(json::parse(r.body)["detail"], "the body must be application/json, not text/plain");

  auto bad = [&](const std::string& body, const std::string& detail_part) {
    auto res = post(body, "application/json");
    EXPECT_EQ(res.status, 400) << body;
    auto doc = json::parse(res.body);
    EXPECT_NE(doc["detail"].get<std::string>().find(detail_part), std::string::npos) << body << " -> " << doc["detail"];
    EXPECT_TRUE(doc["errors"].is_array()) << body;
  };
  bad("{", "not valid JSON");
  bad(R"({"title":"t",})", "not valid JSON");
  bad(R"(["title"])", "must be a JSON object, not an array");
  bad("null", "must be a JSON object, not null");
  bad("\"x\"", "must be a JSON object, not a string");
  bad(R"({"title":"a","title":"b"})", "title is given more than once");
  bad(std::string(30000, '[') + std::string(30000, ']'), "nests deeper than 32 levels");
  bad("{\"title\":\"\xff\xfe\"}", "not valid JSON");  // not UTF-8
  bad(R"({"title":"\ud800"})", "not valid JSON");      // a lone surrogate
  bad(R"({"title":""})", "title must be 1 to 200 characters, got 0");
  bad(R"({"title":"   "})", "title must not be blank");
  bad(R"({"title":"a\u0000b"})", "title must not contain NUL");
  bad(R"({"title":1.5})", "title must be a string, not a fractional number");
  EXPECT_EQ(api->call("POST", "/api/posts", R"({"thread":"1","text":"x"})", member.token).status, 400);
  EXPECT_EQ(testkit::field_errors(api->call("POST", "/api/posts", R"({"thread":0,"text":""})", member.token)),
            "text: text must be 1 to 10000 characters, got 0\n"
            "thread: thread must be an id (an integer from 1 to 9223372036854775807), not 0\n");
  auto huge = api->call("POST", "/api/posts", R"({"thread":1e400,"text":"x"})", member.token);
  EXPECT_EQ(huge.status, 400);
  EXPECT_NE(huge.body.find("not valid JSON"), std::string::npos) << huge.body;
}

TEST_F(Writes, BodiesAreAtMost64KiB) {
  auto member = api->member("big_body");
  std::string text(64 * 1024, 'a');
  auto r = api->call("POST", "/api/posts", json{{"thread", 1}, {"text", text}}.dump(), member.token);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.header("Content-Type"), "application/problem+json");
  // Just under the limit the body is read, and the text rule answers.
  std::string long_text(20000, 'a');
  auto over = api->call("POST", "/api/posts", json{{"thread", 1}, {"text", long_text}}.dump(), member.token);
  EXPECT_EQ(testkit::field_errors(over), "text: text must be 1 to 10000 characters, got 20000\n");
}

TEST_F(Writes, HostileTextIsStoredAndReturnedByteForByte) {
  auto member = api->member("hostile");
  std::string ten_thousand;
  for (int i = 0; i < 10000; ++i) ten_thousand += (i % 3 == 0) ? "😀" : (i % 3 == 1 ? "ש" : "x");
  std::vector<std::string> texts = {
      "Robert'); DROP TABLE posts;--",
      "' OR '1'='1",
      "<script>alert(document.cookie)</script><img src=x onerror=alert(1)>",
      "emoji 🪨👩‍👩‍👧‍👦 and flags 🇪🇺",
      "right-to-left: \u202Eevil\u202C שלום עולם مرحبا",
      "control \x01\x1f\x7f, tab\t, newlines\r\n, quotes \" \\ and \u2028\u2029",
      "$1 $2 %s %n {{template}} ${injection}",
      "\xEF\xBB\xBF byte-order mark and zero\u200Bwidth",
      ten_thousand,
  };
  auto thread = api->start_thread(member.token, texts[2]);
  for (const auto& text : texts) {
    auto r = api->call("POST", "/api/posts", json{{"thread", thread}, {"text", text}}.dump(), member.token);
    ASSERT_EQ(r.status, 201) << r.body.substr(0, 200);
    EXPECT_EQ(json::parse(r.body)["text"], text);
    auto again = api->call("GET", r.header("Location"));
    EXPECT_EQ(json::parse(again.body)["text"], text);
    auto stored = db->query("SELECT text FROM posts WHERE id = " + std::to_string(json::parse(r.body)["id"].get<std::int64_t>()));
    EXPECT_EQ(stored, text);
  }
  auto listed = json::parse(api->call("GET", id_path("/api/posts/in-thread", thread)).body);
  ASSERT_EQ(listed.size(), texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(listed[i]["text"], texts[i]);
  EXPECT_EQ(json::parse(api->call("GET", id_path("/api/threads", thread)).body)["title"], texts[2]);
  // The tables are intact.
  EXPECT_EQ(api->call("GET", "/api/users/1").status, 200);
}

// curl sends `Expect: 100-continue` with bodies over 1 KiB and waits for the
// go-ahead before sending them.
TEST_F(Writes, ExpectContinueIsAnsweredBeforeTheBody) {
  auto member = api->member("expecting");
  std::string body = json{{"title", std::string(2000, 't').substr(0, 200)}}.dump();
  testkit::http_client c(srv->port());
  auto go_ahead = c.raw("POST /api/threads HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        "Authorization: Bearer " + member.token + "\r\nExpect: 100-continue\r\n"
                        "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n");
  EXPECT_EQ(go_ahead.status, 100);
  auto created = c.raw(body);
  EXPECT_EQ(created.status, 201) << created.body;
  // Too large: refused with the header, no go-ahead, the body never sent.
  testkit::http_client big(srv->port());
  auto refused = big.raw("POST /api/threads HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         "Expect: 100-continue\r\nContent-Length: 70000\r\n\r\n");
  EXPECT_EQ(refused.status, 413);
}
