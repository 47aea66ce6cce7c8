// Moderation against the real binary and database: roles given on the
// command line, removal and restore of posts and threads (tombstones for
// everyone else), locked threads, the moderation log, who may do what, and
// read caches (of this instance and of another one) that never show removed
// content to anyone.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "granite/exit_codes.hpp"
#include "support/forum.hpp"
#include "support/testkit.hpp"

using namespace granite;
using nlohmann::json;

namespace {

struct Moderation : testkit::forum_suite<Moderation> {
  static testkit::run_result granite(const std::vector<std::string>& args) {
    return testkit::run_granite(args, {{"DATABASE_URL", db->url()}});
  }
  // A signed-in member whom the command line made a moderator.
  static testkit::forum_client::account moderator(const std::string& username) {
    auto m = api->member(username);
    auto r = granite({"grant", "moderator", username});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return m;
  }
  static std::string path(const char* base, std::int64_t id, const char* action = "") {
    return std::string(base) + "/" + std::to_string(id) + action;
  }
};

json body_of(const testkit::http_response& r) { return json::parse(r.body); }

// The secret words that removed posts and threads were made of: they must
// never reach anyone but a moderator.
const std::string secret = "forbidden-words-";

}  // namespace

TEST_F(Moderation, RolesAreGivenAndTakenOnTheCommandLineOnly) {
  api->member("role_holder");
  auto unknown = granite({"grant", "moderator", "nobody_by_that_name"});
  EXPECT_EQ(unknown.exit_code, exit_code::no_user);
  EXPECT_NE(unknown.err.find("no account has the username"), std::string::npos) << unknown.err;

  auto granted = granite({"grant", "moderator", "ROLE_HOLDER"});  // usernames are case-blind
  EXPECT_EQ(granted.exit_code, 0) << granted.err;
  EXPECT_NE(granted.err.find("is now a moderator"), std::string::npos) << granted.err;
  auto again = granite({"grant", "moderator", "role_holder"});
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_NE(again.err.find("is a moderator already"), std::string::npos) << again.err;
  auto listed = granite({"moderators"});
  EXPECT_EQ(listed.exit_code, 0);
  EXPECT_NE(listed.out.find("role_holder (user "), std::string::npos) << listed.out;

  auto revoked = granite({"revoke", "moderator", "role_holder"});
  EXPECT_EQ(revoked.exit_code, 0);
  EXPECT_NE(revoked.err.find("is no longer a moderator"), std::string::npos) << revoked.err;
  auto twice = granite({"revoke", "moderator", "role_holder"});
  EXPECT_EQ(twice.exit_code, 0);
  EXPECT_NE(twice.err.find("is not a moderator already"), std::string::npos) << twice.err;
  EXPECT_EQ(granite({"moderators"}).out.find("role_holder"), std::string::npos);

  EXPECT_EQ(granite({"grant"}).exit_code, exit_code::usage);
  EXPECT_EQ(granite({"grant", "moderator"}).exit_code, exit_code::usage);
  EXPECT_EQ(granite({"grant", "admin", "role_holder"}).exit_code, exit_code::usage);
  EXPECT_EQ(granite({"grant", "moderator", "a", "b"}).exit_code, exit_code::usage);
}

// Every moderation route for every kind of caller: anonymous (401), a
// member and the record's own author (403), a moderator (200, or 404 for a
// record that is not there), a moderator whose role was revoked (403 from
// the next request on), and a malformed id (400).
TEST_F(Moderation, AuthorizationMatrix) {
  auto author = api->member("matrix_author");
  auto member = api->member("matrix_member");
  auto mod = moderator("matrix_moderator");
  auto former = moderator("matrix_former");
  ASSERT_EQ(granite({"revoke", "moderator", "matrix_former"}).exit_code, 0);
  auto thread = api->start_thread(author.token, "matrix thread");
  auto post = api->write_post(author.token, thread, "matrix post");

  struct route {
    std::string method, target;
  };
  std::vector<route> routes;
  for (const char* action : {"/remove", "/restore"}) routes.push_back({"POST", path("/api/posts", post, action)});
  for (const char* action : {"/remove", "/restore", "/lock", "/unlock"})
    routes.push_back({"POST", path("/api/threads", thread, action)});
  routes.push_back({"GET", path("/api/moderation/posts", post)});
  routes.push_back({"GET", path("/api/moderation/threads", thread)});
  routes.push_back({"GET", "/api/moderation/log"});

  for (const auto& r : routes) {
    SCOPED_TRACE(r.method + " " + r.target);
    EXPECT_EQ(api->call(r.method, r.target).status, 401);
    EXPECT_EQ(api->call(r.method, r.target, "", "not-a-token").status, 401);
    EXPECT_EQ(api->call(r.method, r.target, "", member.token).status, 403);
    auto by_author = api->call(r.method, r.target, "", author.token);
    EXPECT_EQ(by_author.status, 403);
    EXPECT_NE(by_author.body.find("granite grant moderator"), std::string::npos) << by_author.body;
    EXPECT_EQ(api->call(r.method, r.target, "", former.token).status, 403);
    auto by_moderator = api->call(r.method, r.target, "", mod.token);
    EXPECT_EQ(by_moderator.status, 200) << by_moderator.body;
    EXPECT_EQ(by_moderator.header("Cache-Control"), "private, no-store");
  }
  // Records that are not there, and ids that are not ids.
  for (const auto& [method, target] :
       std::vector<std::pair<std::string, std::string>>{{"POST", "/api/posts/999999/remove"},
                                                        {"POST", "/api/threads/999999/lock"},
                                                        {"GET", "/api/moderation/posts/999999"},
                                                        {"GET", "/api/moderation/threads/999999"}}) {
    EXPECT_EQ(api->call(method, target, "", mod.token).status, 404) << target;
    EXPECT_EQ(api->call(method, target, "", member.token).status, 403) << target;
  }
  EXPECT_EQ(api->call("POST", "/api/posts/x1/remove", "", mod.token).status, 400);
  EXPECT_EQ(api->call("GET", "/api/moderation/threads/0", "", mod.token).status, 400);
  EXPECT_EQ(api->call("GET", "/api/moderation/log?limit=0", "", mod.token).status, 400);
  // Nobody made anyone a moderator through the API.
  EXPECT_EQ(db->query("SELECT count(*) FROM moderators m JOIN users u ON u.id = m.user_id WHERE u.username LIKE "
                      "'matrix_%'"),
            "1");
}

// A removed post stays in its place as a tombstone for everyone but
// moderators: its text and author are null, in the record, in its thread's
// pages and in its author's, from every worker and through the cache; a
// moderator reads it whole, and restoring it brings it back as it was.
TEST_F(Moderation, ARemovedPostIsATombstoneInItsPlace) {
  auto author = api->member("tomb_author");
  auto mod = moderator("tomb_moderator");
  auto thread = api->start_thread(author.token, "tombstones");
  std::vector<std::int64_t> posts;
  for (int i = 0; i < 3; ++i) posts.push_back(api->write_post(author.token, thread, secret + std::to_string(i)));
  auto target = posts[1];
  auto record = path("/api/posts", target);
  auto in_thread = path("/api/posts/in-thread", thread);
  auto by_user = path("/api/posts/by-user", author.id);
  // Read (and so cache) everything first, on both workers.
  for (int i = 0; i < 4; ++i)
    for (const auto& t : {record, in_thread, by_user}) ASSERT_EQ(api->call("GET", t).status, 200);
  auto before = body_of(api->call("GET", record));

  auto removed = api->call("POST", record + "/remove", json{{"reason", "spam"}}.dump(), mod.token);
  ASSERT_EQ(removed.status, 200) << removed.body;
  auto whole = body_of(removed);
  EXPECT_EQ(whole["text"], secret + "1") << "the moderator sees it whole";
  EXPECT_EQ(whole["user"], author.id);
  EXPECT_EQ(whole["removed"], true);
  EXPECT_NE(removed.header("ETag"), "\"r1.0\"") << "a removal changes the record's version";

  for (int i = 0; i < 4; ++i) {
    auto one = api->call("GET", record);
    ASSERT_EQ(one.status, 200);
    EXPECT_EQ(one.body.find(secret), std::string::npos) << one.body;
    auto tomb = body_of(one);
    EXPECT_TRUE(tomb["text"].is_null()) << one.body;
    EXPECT_TRUE(tomb["user"].is_null()) << one.body;
    EXPECT_EQ(tomb["removed"], true);
    EXPECT_EQ(tomb["id"], target);
    EXPECT_EQ(tomb["thread"], thread);
    EXPECT_EQ(tomb["createdAt"], before["createdAt"]);
    EXPECT_EQ(one.header("ETag"), removed.header("ETag"));
    for (const auto& list : {in_thread, by_user}) {
      auto page = api->call("GET", list);
      ASSERT_EQ(page.status, 200);
      EXPECT_EQ(page.body.find(secret + "1"), std::string::npos) << page.body;
      auto rows = body_of(page);
      ASSERT_EQ(rows.size(), 3u) << "the tombstone keeps its place: " << page.body;
      EXPECT_EQ(rows[1]["id"], target);
      EXPECT_TRUE(rows[1]["text"].is_null());
      EXPECT_EQ(rows[0]["text"], secret + "0");
      EXPECT_FALSE(rows[0].contains("removed"));
    }
    // Newest first too.
    auto desc = body_of(api->call("GET", in_thread + "?order=desc"));
    ASSERT_EQ(desc.size(), 3u);
    EXPECT_TRUE(desc[1]["text"].is_null());
  }
  auto seen = api->call("GET", path("/api/moderation/posts", target), "", mod.token);
  ASSERT_EQ(seen.status, 200);
  EXPECT_EQ(body_of(seen)["text"], secret + "1");
  // The moderator's read kept nothing for others.
  EXPECT_EQ(api->call("GET", record).body.find(secret), std::string::npos);

  // Its author may no longer edit it, but may still delete it (below).
  auto edit = api->call("PATCH", record, R"({"text":"edited"})", author.token);
  EXPECT_EQ(edit.status, 409) << edit.body;
  EXPECT_NE(edit.body.find("removed by a moderator"), std::string::npos) << edit.body;

  auto restored = api->call("POST", record + "/restore", "", mod.token);
  ASSERT_EQ(restored.status, 200) << restored.body;
  EXPECT_FALSE(body_of(restored).contains("removed"));
  for (int i = 0; i < 4; ++i) {
    auto back = body_of(api->call("GET", record));
    EXPECT_EQ(back["text"], secret + "1");
    EXPECT_EQ(back["user"], author.id);
    EXPECT_FALSE(back.contains("removed"));
    EXPECT_EQ(body_of(api->call("GET", in_thread))[1]["text"], secret + "1");
  }
  // Removed again, then deleted by its author: gone, as any delete.
  ASSERT_EQ(api->call("POST", record + "/remove", "", mod.token).status, 200);
  EXPECT_EQ(api->call("DELETE", record, "", author.token).status, 204);
  EXPECT_EQ(api->call("GET", record).status, 404);
  EXPECT_EQ(body_of(api->call("GET", in_thread)).size(), 2u);
}

// Removing what is removed already (or restoring what is not) answers the
// record as it is and logs nothing; the log holds one entry per change,
// with who, what, when and why, newest first on request.
TEST_F(Moderation, TheLogHoldsEachChangeOnce) {
  auto author = api->member("log_author");
  auto mod = moderator("log_moderator");
  auto thread = api->start_thread(author.token, "logged");
  auto post = api->write_post(author.token, thread, "logged post");
  auto top = std::stoll("0" + db->query("SELECT max(id) FROM moderation_log"));

  EXPECT_EQ(api->call("POST", path("/api/posts", post, "/remove"), R"({"reason":"off topic"})", mod.token).status, 200);
  auto twice = api->call("POST", path("/api/posts", post, "/remove"), R"({"reason":"again"})", mod.token);
  EXPECT_EQ(twice.status, 200);
  EXPECT_EQ(body_of(twice)["removed"], true);
  EXPECT_EQ(api->call("POST", path("/api/posts", post, "/restore"), "", mod.token).status, 200);
  EXPECT_EQ(api->call("POST", path("/api/posts", post, "/restore"), "", mod.token).status, 200);
  EXPECT_EQ(api->call("POST", path("/api/threads", thread, "/lock"), R"({"reason":"heated"})", mod.token).status, 200);

  auto log = api->call("GET", "/api/moderation/log?after=" + std::to_string(top), "", mod.token);
  ASSERT_EQ(log.status, 200) << log.body;
  auto entries = body_of(log);
  ASSERT_EQ(entries.size(), 3u) << log.body;
  EXPECT_EQ(entries[0]["action"], "remove");
  EXPECT_EQ(entries[0]["post"], post);
  EXPECT_TRUE(entries[0]["thread"].is_null());
  EXPECT_EQ(entries[0]["reason"], "off topic");
  EXPECT_EQ(entries[0]["moderator"], mod.id);
  EXPECT_FALSE(entries[0]["at"].get<std::string>().empty());
  EXPECT_EQ(entries[1]["action"], "restore");
  EXPECT_TRUE(entries[1]["reason"].is_null());
  EXPECT_EQ(entries[2]["action"], "lock");
  EXPECT_EQ(entries[2]["thread"], thread);
  EXPECT_TRUE(entries[2]["post"].is_null());
  EXPECT_LT(entries[0]["id"].get<std::int64_t>(), entries[2]["id"].get<std::int64_t>());

  auto newest = api->call("GET", "/api/moderation/log?order=desc&limit=1", "", mod.token);
  ASSERT_EQ(newest.status, 200);
  EXPECT_EQ(body_of(newest)[0]["id"], entries[2]["id"]);
  EXPECT_NE(newest.header("Link").find("rel=\"next\""), std::string::npos) << newest.header("Link");

  // A reason is optional, at most 500 characters, and the body holds nothing else.
  auto remove = path("/api/posts", post, "/remove");
  EXPECT_EQ(api->call("POST", remove, json{{"reason", std::string(501, 'x')}}.dump(), mod.token).status, 400);
  EXPECT_EQ(api->call("POST", remove, R"({"reason":"   "})", mod.token).status, 400);
  EXPECT_EQ(api->call("POST", remove, R"({"why":"typo"})", mod.token).status, 400);
  EXPECT_EQ(api->call("POST", remove, "reason", mod.token, "text/plain").status, 415);
  EXPECT_EQ(db->query("SELECT count(*) FROM moderation_log WHERE id > " + std::to_string(top)), "3");
}

// A locked thread takes no new posts but a moderator's; a removed one takes
// none, shows as a tombstone, and its author can no longer retitle it.
TEST_F(Moderation, LockedAndRemovedThreadsRefuseNewPosts) {
  auto author = api->member("lock_author");
  auto member = api->member("lock_member");
  auto mod = moderator("lock_moderator");
  auto thread = api->start_thread(author.token, secret + "thread");
  auto post_in = [&](const std::string& token) {
    return api->call("POST", "/api/posts", json{{"thread", thread}, {"text", "a reply"}}.dump(), token);
  };
  ASSERT_EQ(post_in(member.token).status, 201);

  auto locked = api->call("POST", path("/api/threads", thread, "/lock"), "", mod.token);
  ASSERT_EQ(locked.status, 200) << locked.body;
  EXPECT_EQ(body_of(locked)["locked"], true);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(body_of(api->call("GET", path("/api/threads", thread)))["locked"], true);
  auto refused = post_in(member.token);
  EXPECT_EQ(refused.status, 409) << refused.body;
  EXPECT_NE(refused.body.find("is locked"), std::string::npos) << refused.body;
  EXPECT_EQ(post_in(author.token).status, 409);
  EXPECT_EQ(post_in(mod.token).status, 201) << "moderators may still post";
  // Edits of what is there go on.
  auto edit = api->call("PATCH", path("/api/threads", thread), json{{"title", secret + "retitled"}}.dump(),
                        author.token);
  EXPECT_EQ(edit.status, 200) << edit.body;

  ASSERT_EQ(api->call("POST", path("/api/threads", thread, "/unlock"), "", mod.token).status, 200);
  EXPECT_FALSE(body_of(api->call("GET", path("/api/threads", thread))).contains("locked"));
  EXPECT_EQ(post_in(member.token).status, 201);

  ASSERT_EQ(api->call("POST", path("/api/threads", thread, "/remove"), "", mod.token).status, 200);
  for (int i = 0; i < 4; ++i) {
    auto one = api->call("GET", path("/api/threads", thread));
    EXPECT_EQ(one.body.find(secret), std::string::npos) << one.body;
    auto tomb = body_of(one);
    EXPECT_TRUE(tomb["title"].is_null());
    EXPECT_TRUE(tomb["createdBy"].is_null());
    EXPECT_EQ(tomb["removed"], true);
    auto list = api->call("GET", "/api/threads?after=" + std::to_string(thread - 1) + "&limit=1");
    EXPECT_EQ(list.body.find(secret), std::string::npos) << list.body;
    EXPECT_EQ(body_of(list)[0]["id"], thread);
  }
  auto gone = post_in(mod.token);
  EXPECT_EQ(gone.status, 409);
  EXPECT_NE(gone.body.find("removed by a moderator"), std::string::npos) << gone.body;
  EXPECT_EQ(api->call("PATCH", path("/api/threads", thread), R"({"title":"again"})", author.token).status, 409);
  auto whole = api->call("GET", path("/api/moderation/threads", thread), "", mod.token);
  EXPECT_EQ(body_of(whole)["title"], secret + "retitled");
  ASSERT_EQ(api->call("POST", path("/api/threads", thread, "/restore"), "", mod.token).status, 200);
  EXPECT_EQ(body_of(api->call("GET", path("/api/threads", thread)))["title"], secret + "retitled");
}

// Another instance's cache learns of a removal from the change stream: once
// it shows the tombstone, it never shows the removed text again, however
// its moderators read.
TEST_F(Moderation, AnotherInstanceDropsWhatWasRemoved) {
  testkit::server other({.database_url = db->url(), .extra_args = testkit::brisk_hashing()});
  testkit::forum_client there(other.port());
  auto author = api->member("far_author");
  auto mod = moderator("far_moderator");
  auto thread = api->start_thread(author.token, "far");
  auto post = api->write_post(author.token, thread, secret + "far");
  auto record = path("/api/posts", post);
  auto page = path("/api/posts/in-thread", thread);
  for (int i = 0; i < 4; ++i) {
    ASSERT_NE(there.call("GET", record).body.find(secret), std::string::npos);
    ASSERT_NE(there.call("GET", page).body.find(secret), std::string::npos);
  }
  ASSERT_EQ(api->call("POST", record + "/remove", "", mod.token).status, 200);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (there.call("GET", record).body.find(secret) != std::string::npos ||
         there.call("GET", page).body.find(secret) != std::string::npos) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the other instance still shows the removed post";
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(there.call("GET", path("/api/moderation/posts", post), "", mod.token).status, 200);
    EXPECT_EQ(there.call("GET", record).body.find(secret), std::string::npos);
    EXPECT_EQ(there.call("GET", page).body.find(secret), std::string::npos);
  }
}
