// Idempotency-Key on writes (features/idempotency.hpp), against the real
// binary and database: a repeat gets the first response and applies
// nothing, the key with another request is 422, a repeat while the first
// still runs is 409, a write that changed nothing keeps nothing, and keys
// expire.
#include <gtest/gtest.h>

#include <future>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <thread>

#include "support/forum.hpp"
#include "support/testkit.hpp"

using namespace granite;
using nlohmann::json;

namespace {

struct Keys : testkit::forum_suite<Keys> {
  using headers = std::vector<std::pair<std::string, std::string>>;
  static headers key(const std::string& k) { return {{"Idempotency-Key", k}}; }
  std::string count(const std::string& sql) { return db->query("SELECT count(*) FROM " + sql); }
};

std::string post_body(std::int64_t thread, const std::string& text) {
  return json{{"thread", thread}, {"text", text}}.dump();
}

}  // namespace

TEST_F(Keys, ARepeatGetsTheFirstResponseAndAppliesNothing) {
  auto me = api->member("keys_repeat");
  auto thread = api->start_thread(me.token, "keyed");
  auto body = post_body(thread, "only once");
  auto first = api->call_with(key("\"post-1\""), "POST", "/api/posts", body, me.token);
  ASSERT_EQ(first.status, 201) << first.body;
  EXPECT_EQ(first.header("Idempotent-Replayed"), "");
  for (int i = 0; i < 2; ++i) {
    auto again = api->call_with(key("\"post-1\""), "POST", "/api/posts", body, me.token);
    EXPECT_EQ(again.status, 201) << again.body;
    EXPECT_EQ(again.body, first.body);
    EXPECT_EQ(again.header("Location"), first.header("Location"));
    EXPECT_EQ(again.header("Idempotent-Replayed"), "true");
  }
  // The bare form of the same key is the same key.
  auto bare = api->call_with(key("post-1"), "POST", "/api/posts", body, me.token);
  EXPECT_EQ(bare.body, first.body);
  EXPECT_EQ(count("posts WHERE text = 'only once'"), "1");
  // Without a key, a repeat is a new post.
  EXPECT_EQ(api->call("POST", "/api/posts", body, me.token).status, 201);
  EXPECT_EQ(count("posts WHERE text = 'only once'"), "2");
}

// The first response, not the record as it is now: a later change of the
// record does not change what the key answers.
TEST_F(Keys, PatchAndDeleteReplayTheirFirstAnswer) {
  auto me = api->member("keys_patch");
  auto thread = api->start_thread(me.token, "before");
  auto path = "/api/threads/" + std::to_string(thread);
  auto first = api->call_with(key("retitle"), "PATCH", path, R"({"title":"after"})", me.token);
  ASSERT_EQ(first.status, 200) << first.body;
  ASSERT_EQ(api->call("PATCH", path, R"({"title":"later"})", me.token).status, 200);
  auto again = api->call_with(key("retitle"), "PATCH", path, R"({"title":"after"})", me.token);
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(json::parse(api->call("GET", path).body)["title"], "later");

  auto gone = api->call_with(key("drop"), "DELETE", path, "", me.token);
  EXPECT_EQ(gone.status, 204);
  auto repeat = api->call_with(key("drop"), "DELETE", path, "", me.token);
  EXPECT_EQ(repeat.status, 204) << "a repeated DELETE is answered as the first, not 404";
  EXPECT_EQ(repeat.header("Idempotent-Replayed"), "true");
  EXPECT_EQ(api->call("DELETE", path, "", me.token).status, 404);
}

TEST_F(Keys, AccountChangesAndDeletionsAreKeptToo) {
  auto me = api->member("keys_account");
  auto path = "/api/users/" + std::to_string(me.id);
  auto first = api->call_with(key("bio"), "PATCH", path, R"({"bio":"x"})", me.token);
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(api->call_with(key("bio"), "PATCH", path, R"({"bio":"x"})", me.token).body, first.body);
  EXPECT_EQ(api->call_with(key("bio"), "PATCH", path, R"({"bio":"y"})", me.token).status, 422);
  // A change of password is told apart from another by everything but the
  // password itself: no digest of a password is kept.
  auto pw = api->call_with(key("pw"), "PATCH", path, R"({"password":"a new long password"})", me.token);
  ASSERT_EQ(pw.status, 200) << pw.body;
  EXPECT_EQ(api->call_with(key("pw"), "PATCH", path, R"({"password":"a new long password"})", me.token).status, 200);
  EXPECT_EQ(api->call_with(key("pw"), "PATCH", path, R"({"password":"a new long password","bio":"z"})", me.token)
                .status,
            422);
  auto digest = db->query("SELECT encode(request_sha256, 'hex') FROM idempotency_keys WHERE user_id = " +
                          std::to_string(me.id) + " AND key = 'pw'");
  EXPECT_EQ(digest.size(), 64u);

  auto gone = api->call_with(key("leave"), "DELETE", path, "", me.token);
  EXPECT_EQ(gone.status, 204);
  // The account is gone, and its session with it: the repeat is refused
  // before the key is looked at.
  EXPECT_EQ(api->call_with(key("leave"), "DELETE", path, "", me.token).status, 401);
}

TEST_F(Keys, TheKeyWithAnotherRequestIs422) {
  auto me = api->member("keys_reuse");
  auto thread = api->start_thread(me.token, "reuse");
  ASSERT_EQ(api->call_with(key("k"), "POST", "/api/posts", post_body(thread, "one"), me.token).status, 201);
  auto other_body = api->call_with(key("k"), "POST", "/api/posts", post_body(thread, "two"), me.token);
  EXPECT_EQ(other_body.status, 422) << other_body.body;
  EXPECT_EQ(other_body.header("Content-Type"), "application/problem+json");
  EXPECT_NE(json::parse(other_body.body)["detail"].get<std::string>().find("another request"), std::string::npos);
  auto other_route = api->call_with(key("k"), "POST", "/api/threads", R"({"title":"one"})", me.token);
  EXPECT_EQ(other_route.status, 422);
  EXPECT_EQ(count("posts WHERE text = 'two'"), "0");
  // Keys are each user's own.
  auto you = api->member("keys_reuse_other");
  EXPECT_EQ(api->call_with(key("k"), "POST", "/api/posts", post_body(thread, "two"), you.token).status, 201);
}

TEST_F(Keys, AWriteThatChangedNothingKeepsNothing) {
  auto owner = api->member("keys_owner");
  auto me = api->member("keys_intruder");
  auto thread = api->start_thread(owner.token, "not yours");
  auto path = "/api/threads/" + std::to_string(thread);
  EXPECT_EQ(api->call_with(key("free"), "PATCH", path, R"({"title":"mine"})", me.token).status, 403);
  EXPECT_EQ(api->call_with(key("free"), "DELETE", "/api/threads/987654", "", me.token).status, 404);
  EXPECT_EQ(api->call_with(key("free"), "POST", "/api/posts", post_body(987654, "x"), me.token).status, 400);
  // The key is still free: another request may take it.
  EXPECT_EQ(api->call_with(key("free"), "POST", "/api/threads", R"({"title":"mine"})", me.token).status, 201);
}

TEST_F(Keys, MalformedKeysAre400BeforeAnythingIsDone) {
  auto me = api->member("keys_malformed");
  auto thread = api->start_thread(me.token, "malformed");
  auto body = post_body(thread, "never written");
  for (const std::string& k : {std::string("\"\""), std::string("\"open"), std::string("two words"),
                               std::string("\"x\";p=1"), std::string("\"bad\\escape\""), std::string(256, 'k'),
                               std::string("caf\xc3\xa9")}) {
    auto r = api->call_with(key(k), "POST", "/api/posts", body, me.token);
    EXPECT_EQ(r.status, 400) << k;
    EXPECT_NE(testkit::field_errors(r).find("Idempotency-Key: "), std::string::npos) << r.body;
  }
  auto twice = api->call_with({{"Idempotency-Key", "a"}, {"Idempotency-Key", "b"}}, "POST", "/api/posts", body,
                              me.token);
  EXPECT_EQ(twice.status, 400);
  // Even a request refused for its key's sake signs nobody in and writes
  // nothing.
  EXPECT_EQ(api->call_with(key("\"\""), "POST", "/api/posts", body).status, 400);
  EXPECT_EQ(count("posts WHERE text = 'never written'"), "0");
  // Escapes and the longest key are taken.
  EXPECT_EQ(api->call_with(key("\"a\\\"b\\\\c\""), "POST", "/api/posts", body, me.token).status, 201);
  EXPECT_EQ(api->call_with(key(std::string(255, 'k')), "POST", "/api/threads", R"({"title":"t"})", me.token).status,
            201);
  EXPECT_EQ(db->query("SELECT key FROM idempotency_keys WHERE key LIKE 'a%' AND user_id = " + std::to_string(me.id)),
            "a\"b\\c");
}

// The rows a key keeps are the write's as PostgreSQL wrote them: text that
// needs quoting in a record comes back byte for byte.
TEST_F(Keys, KeptRowsComeBackExactly) {
  auto me = api->member("keys_text");
  auto thread = api->start_thread(me.token, "text");
  const std::string hostile = "a \"quoted\", (parenthesised) back\\slash\ttab\nline \xe2\x9c\x93 ''";
  auto body = post_body(thread, hostile);
  auto first = api->call_with(key("hostile"), "POST", "/api/posts", body, me.token);
  ASSERT_EQ(first.status, 201);
  auto again = api->call_with(key("hostile"), "POST", "/api/posts", body, me.token);
  EXPECT_EQ(again.header("Idempotent-Replayed"), "true");
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(json::parse(again.body)["text"], hostile);
  // Fields that are empty strings stay empty strings.
  auto path = "/api/users/" + std::to_string(me.id);
  auto cleared = api->call_with(key("clear"), "PATCH", path, R"({"name":"","bio":""})", me.token);
  ASSERT_EQ(cleared.status, 200) << cleared.body;
  EXPECT_EQ(api->call_with(key("clear"), "PATCH", path, R"({"name":"","bio":""})", me.token).body, cleared.body);
}

// While the first request of a key runs, a repeat is 409 with Retry-After;
// once it has committed, the repeat gets its response. A granite of its
// own, with two write connections: the repeat must not queue behind the
// first on a one-connection lane.
TEST_F(Keys, ARepeatWhileTheFirstRunsIs409) {
  testkit::server two({.database_url = db->url(), .workers = 1,
                       .extra_args = {"--set", "database.write_connections=2"}});
  testkit::forum_client on(two.port());
  auto me = api->member("keys_running");
  auto thread = api->start_thread(me.token, "held");
  auto path = "/api/threads/" + std::to_string(thread);
  pqxx::connection blocker(db->url());
  pqxx::work hold(blocker);
  hold.exec("SELECT 1 FROM threads WHERE id = " + std::to_string(thread) + " FOR UPDATE");
  auto first = std::async(std::launch::async,
                          [&] { return on.call_with(key("slow"), "PATCH", path, R"({"title":"t2"})", me.token); });
  // The first waits on the row; its transaction holds the key's lock (an
  // advisory lock of two integer keys: objsubid 2).
  ASSERT_TRUE(testkit::eventually([&] {
    return db->query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2 "
                     "AND classid = 1735549294 AND database = "
                     "(SELECT oid FROM pg_database WHERE datname = current_database())") == "1";
  }));
  auto second = on.call_with(key("slow"), "PATCH", path, R"({"title":"t2"})", me.token);
  EXPECT_EQ(second.status, 409) << second.body;
  EXPECT_EQ(second.header("Retry-After"), "1");
  hold.commit();
  auto answered = first.get();
  EXPECT_EQ(answered.status, 200) << answered.body;
  auto third = on.call_with(key("slow"), "PATCH", path, R"({"title":"t2"})", me.token);
  EXPECT_EQ(third.body, answered.body);
  EXPECT_EQ(third.header("Idempotent-Replayed"), "true");
}

// An expired key is free again; expired keys are deleted as new ones come.
TEST_F(Keys, KeysExpire) {
  auto me = api->member("keys_expire");
  auto thread = api->start_thread(me.token, "expiry");
  auto body = post_body(thread, "twice after expiry");
  ASSERT_EQ(api->call_with(key("old"), "POST", "/api/posts", body, me.token).status, 201);
  auto ttl = db->query(
      "SELECT round(extract(epoch FROM expires_at - created_at)) FROM idempotency_keys WHERE key = 'old'");
  EXPECT_EQ(ttl, "86400");  // http.idempotency_ttl_s
  db->query("UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = 'old'");
  auto again = api->call_with(key("old"), "POST", "/api/posts", body, me.token);
  EXPECT_EQ(again.status, 201);
  EXPECT_EQ(again.header("Idempotent-Replayed"), "");
  EXPECT_EQ(count("posts WHERE text = 'twice after expiry'"), "2");

  // 20 expired keys: each keyed write deletes up to 8 of them.
  db->query("INSERT INTO idempotency_keys (user_id, key, request_sha256, response_rows, expires_at) "
            "SELECT 0, 'expired-' || g, '', '[]', now() - interval '1 hour' FROM generate_series(1, 20) g");
  auto expired = [&] { return count("idempotency_keys WHERE expires_at <= now()"); };
  EXPECT_EQ(expired(), "20");
  ASSERT_EQ(api->call_with(key("sweep-1"), "POST", "/api/threads", R"({"title":"s"})", me.token).status, 201);
  EXPECT_EQ(expired(), "12");
  ASSERT_EQ(api->call_with(key("sweep-2"), "POST", "/api/threads", R"({"title":"s"})", me.token).status, 201);
  ASSERT_EQ(api->call_with(key("sweep-3"), "POST", "/api/threads", R"({"title":"s"})", me.token).status, 201);
  EXPECT_EQ(expired(), "0");
}

// Sign-up takes a key too, kept for nobody (user 0); sign-in ignores one
// (its token is never stored, so it cannot be answered twice).
TEST_F(Keys, SignUpTakesAKeyAndSignInIgnoresOne) {
  auto body = json{{"username", "keys_signup"}, {"password", testkit::test_password}}.dump();
  auto first = api->call_with(key("u"), "POST", "/api/users", body);
  ASSERT_EQ(first.status, 201) << first.body;
  auto again = api->call_with(key("u"), "POST", "/api/users", body);
  EXPECT_EQ(again.status, 201) << again.body;
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(again.header("Location"), first.header("Location"));
  EXPECT_EQ(again.header("Idempotent-Replayed"), "true");
  EXPECT_EQ(api->call("POST", "/api/users", body).status, 409);
  auto other = json{{"username", "keys_signup_2"}, {"password", testkit::test_password}}.dump();
  EXPECT_EQ(api->call_with(key("u"), "POST", "/api/users", other).status, 422);
  EXPECT_EQ(db->query("SELECT user_id FROM idempotency_keys WHERE key = 'u'"), "0");
  EXPECT_EQ(count("users WHERE username = 'keys_signup_2'"), "0");

  auto s1 = api->call_with(key("s"), "POST", "/api/sessions", body);
  auto s2 = api->call_with(key("s"), "POST", "/api/sessions", body);
  EXPECT_EQ(s1.status, 201);
  EXPECT_EQ(s2.status, 201);
  EXPECT_NE(s1.body, s2.body) << "two sessions, each with a token of its own";
  EXPECT_EQ(count("idempotency_keys WHERE key = 's'"), "0");
}

// A keyed write's statement is prepared on a connection by the first batch
// that needs it; batches sent behind that one count on it. When that
// prepare fails (here it waits on a table lock and is cancelled), the batch
// behind it finds no such statement: it ran nothing, and goes again, never
// answered 500.
TEST_F(Keys, AWriteBehindAPrepareThatFailedIsSentAgain) {
  auto me = api->member("keys_prepare");
  auto thread = api->start_thread(me.token, "prepared");
  const std::string waiting = "FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'";
  // The second post goes behind the first only when it comes before the
  // connection counts as stalled (20 ms without an answer): on a loaded
  // machine it may come later, and wait in granite instead; then again.
  bool behind = false;
  for (int attempt = 0; attempt < 3 && !behind; ++attempt) {
    SCOPED_TRACE("attempt " + std::to_string(attempt));
    testkit::server one({.database_url = db->url(), .workers = 1,
                         .extra_args = {"--set", "database.write_connections=1"}});
    auto keyed_post = [&](const std::string& k, const std::string& text) {
      return std::async(std::launch::async, [&one, &me, k, body = post_body(thread, text)] {
        return testkit::forum_client(one.port()).call_with(key(k), "POST", "/api/posts", body, me.token);
      });
    };
    auto n = std::to_string(attempt);
    pqxx::connection blocker(db->url());
    pqxx::work hold(blocker);
    hold.exec("LOCK TABLE posts IN ACCESS EXCLUSIVE MODE");
    // The first keyed post on the connection prepares its statement, which
    // waits on the lock; the second is sent behind it, counting on that
    // prepare.
    auto first = keyed_post("first-" + n, "prepared once " + n);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    auto second = keyed_post("second-" + n, "sent behind the prepare " + n);
    ASSERT_TRUE(testkit::eventually([&] { return db->query("SELECT count(*) " + waiting) == "1"; }));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    db->query("SELECT pg_cancel_backend(pid) " + waiting);
    // Both go again: the first cancelled before its deadline, the second
    // for the statement it found missing (when it was behind the first).
    behind = testkit::eventually([&] {
      auto page = testkit::get(one.metrics_port(), "/metrics").body;
      return testkit::metric_value(page, "granite_database_retried_total") >= 2;
    }, std::chrono::seconds(2));
    hold.abort();
    auto a = first.get(), b = second.get();
    EXPECT_EQ(a.status, 201) << a.body;
    EXPECT_EQ(b.status, 201) << b.body;
    EXPECT_EQ(count("posts WHERE text = 'prepared once " + n + "'"), "1");
    EXPECT_EQ(count("posts WHERE text = 'sent behind the prepare " + n + "'"), "1");
    auto again = testkit::forum_client(one.port()).call_with(
        key("second-" + n), "POST", "/api/posts", post_body(thread, "sent behind the prepare " + n), me.token);
    EXPECT_EQ(again.body, b.body);
    EXPECT_EQ(again.header("Idempotent-Replayed"), "true");
  }
  EXPECT_TRUE(behind) << "the second post never went behind the first's prepare";
}
