// No lost updates: updatedAt, an ETag made of each record's version, and
// PATCH and DELETE with If-Match, compared inside the write's own
// statement; against the real binary and database.
#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "support/forum.hpp"
#include "support/testkit.hpp"

using namespace granite;
using nlohmann::json;

namespace {

struct Conditional : testkit::forum_suite<Conditional> {};

std::string id_path(const std::string& base, std::int64_t id) { return base + "/" + std::to_string(id); }

const std::regex record_tag(R"("r1\.-?\d+")");

// A write with If-Match (and a token).
testkit::http_response conditional(const testkit::forum_client& api, const std::string& method,
                                   const std::string& target, const std::string& if_match,
                                   const std::string& body, const std::string& token) {
  return api.call_with({{"If-Match", if_match}}, method, target, body, token);
}

}  // namespace

// Every record shows when it last changed (null until it does), and its
// ETag is made of that version ("r1.0" until then): the same from any
// worker, on a read and on the write's answer.
TEST_F(Conditional, RecordsCarryUpdatedAtAndAnEtagOfTheirVersion) {
  auto me = api->member("versions_owner");
  auto thread = api->start_thread(me.token, "versioned");
  auto made = api->call("POST", "/api/posts", json{{"thread", thread}, {"text", "first"}}.dump(), me.token);
  ASSERT_EQ(made.status, 201) << made.body;
  auto post = json::parse(made.body);
  auto path = id_path("/api/posts", post["id"].get<std::int64_t>());
  EXPECT_EQ(made.header("ETag"), "\"r1.0\"") << "never changed: version 0";
  EXPECT_TRUE(post["updatedAt"].is_null()) << made.body;

  // Both workers, and the cache's hit and miss, give the same tag.
  for (int i = 0; i < 6; ++i) {
    auto read = api->call("GET", path);
    EXPECT_EQ(read.header("ETag"), made.header("ETag"));
    EXPECT_EQ(read.body, made.body);
  }
  auto changed = conditional(*api, "PATCH", path, made.header("ETag"), R"({"text":"second"})", me.token);
  ASSERT_EQ(changed.status, 200) << changed.body;
  EXPECT_TRUE(std::regex_match(changed.header("ETag"), record_tag));
  EXPECT_NE(changed.header("ETag"), made.header("ETag"));
  auto after = json::parse(changed.body);
  EXPECT_GT(after["updatedAt"].get<std::string>(), post["createdAt"].get<std::string>());
  EXPECT_EQ(after["createdAt"], post["createdAt"]);
  for (int i = 0; i < 4; ++i) {
    auto read = api->call("GET", path);
    EXPECT_EQ(read.header("ETag"), changed.header("ETag"));
    EXPECT_EQ(read.body, changed.body);
  }

  // A PATCH that changes nothing keeps the version (and so the tag).
  auto same = conditional(*api, "PATCH", path, changed.header("ETag"), R"({"text":"second"})", me.token);
  EXPECT_EQ(same.status, 200);
  EXPECT_EQ(same.header("ETag"), changed.header("ETag"));

  // updatedAt is written by granite from the version, createdAt by
  // PostgreSQL: the same format, to the millisecond.
  for (const char* table : {"posts", "threads", "users"}) {
    auto in_db = db->query(std::string("SELECT rfc3339(updated_at) FROM ") + table +
                           " WHERE updated_at IS NOT NULL ORDER BY id DESC LIMIT 1");
    if (in_db.empty()) continue;
    auto id = db->query(std::string("SELECT id FROM ") + table + " WHERE updated_at IS NOT NULL ORDER BY id DESC LIMIT 1");
    auto shown = json::parse(api->call("GET", std::string("/api/") + table + "/" + id).body);
    EXPECT_EQ(shown["updatedAt"], in_db) << table;
  }

  // Users and threads have them too; pages show updatedAt on every record.
  auto user = api->call("GET", id_path("/api/users", me.id));
  EXPECT_TRUE(std::regex_match(user.header("ETag"), record_tag));
  EXPECT_TRUE(json::parse(user.body).contains("updatedAt"));
  auto t = api->call("GET", id_path("/api/threads", thread));
  EXPECT_TRUE(std::regex_match(t.header("ETag"), record_tag));
  for (const auto& item : json::parse(api->call("GET", "/api/posts/in-thread/" + std::to_string(thread)).body))
    EXPECT_TRUE(item.contains("updatedAt")) << item;
}

// A long post is sent gzipped to a client that takes it: that variant has
// its own tag, which names the same version for If-Match.
TEST_F(Conditional, TheGzipVariantsTagNamesTheSameVersion) {
  auto me = api->member("versions_gzip");
  std::string text;
  for (int i = 0; text.size() < 4000; ++i) text += "words that compress well " + std::to_string(i % 10) + " ";
  auto id = api->write_post(me.token, 1, text);
  auto path = id_path("/api/posts", id);
  auto plain = api->call("GET", path);
  auto gz = api->call_with({{"Accept-Encoding", "gzip"}}, "GET", path);
  ASSERT_EQ(gz.header("Content-Encoding"), "gzip");
  auto tag = plain.header("ETag");
  EXPECT_EQ(gz.header("ETag"), tag.substr(0, tag.size() - 1) + "-gzip\"");
  EXPECT_EQ(api->call_with({{"If-None-Match", gz.header("ETag")}, {"Accept-Encoding", "gzip"}}, "GET", path).status, 304);
  auto changed = conditional(*api, "PATCH", path, gz.header("ETag"), R"({"text":"short now"})", me.token);
  EXPECT_EQ(changed.status, 200) << changed.body;
}

// A stale If-Match changes nothing and is 412 with the current tag, on
// every record and both methods; the owner and the record are checked
// first (403, 404), and * takes any version.
TEST_F(Conditional, AStaleIfMatchIs412WithTheCurrentEtagAndChangesNothing) {
  auto owner = api->member("stale_owner");
  auto other = api->member("stale_other");
  auto thread = api->start_thread(owner.token, "stale thread");
  auto post = api->write_post(owner.token, thread, "stale post");
  struct route {
    std::string base, body, field;
    std::int64_t id;
  } routes[] = {
      {"/api/posts", R"({"text":"changed"})", "text", post},
      {"/api/threads", R"({"title":"changed"})", "title", thread},
      {"/api/users", R"({"bio":"changed"})", "bio", owner.id},
  };
  for (const auto& r : routes) {
    auto path = id_path(r.base, r.id);
    auto first = api->call("GET", path);
    auto old_tag = first.header("ETag");
    auto now = conditional(*api, "PATCH", path, old_tag, r.body, owner.token);
    ASSERT_EQ(now.status, 200) << path << ": " << now.body;
    auto current = now.header("ETag");

    auto stale = conditional(*api, "PATCH", path, old_tag, R"({")" + r.field + R"(":"overwritten"})", owner.token);
    EXPECT_EQ(stale.status, 412) << path << ": " << stale.body;
    EXPECT_EQ(stale.header("Content-Type"), "application/problem+json");
    EXPECT_EQ(stale.header("ETag"), current) << path;
    EXPECT_EQ(conditional(*api, "DELETE", path, old_tag, "", owner.token).status, 412) << path;
    // Weak tags never match (If-Match compares strongly), nor another's.
    EXPECT_EQ(conditional(*api, "PATCH", path, "W/" + current, r.body, owner.token).status, 412) << path;
    EXPECT_EQ(conditional(*api, "PATCH", path, "\"0123456789abcdef\"", r.body, owner.token).status, 412) << path;
    EXPECT_EQ(api->call("GET", path).body, now.body) << path << ": the refused writes changed nothing";

    // Someone else's record is 403 and a missing one 404, whatever the tag.
    EXPECT_EQ(conditional(*api, "PATCH", path, old_tag, r.body, other.token).status, 403) << path;
    EXPECT_EQ(conditional(*api, "PATCH", id_path(r.base, 987654321), old_tag, r.body, other.token).status, 404);
    // A list naming the current tag among others, and *, match.
    auto listed = conditional(*api, "PATCH", path, old_tag + ", " + current,
                              R"({")" + r.field + R"(":"listed"})", owner.token);
    EXPECT_EQ(listed.status, 200) << path << ": " << listed.body;
    EXPECT_EQ(conditional(*api, "PATCH", path, "*", r.body, owner.token).status, 200) << path;
    // A malformed If-Match is 400 before anything is done.
    auto malformed = conditional(*api, "PATCH", path, "r1.5", r.body, owner.token);
    EXPECT_EQ(malformed.status, 400) << path;
    EXPECT_NE(malformed.body.find("If-Match"), std::string::npos) << malformed.body;
  }
  // The deletes, with the current tag: posts, then the thread.
  for (const auto& r : {routes[0], routes[1]}) {
    auto path = id_path(r.base, r.id);
    auto tag = api->call("GET", path).header("ETag");
    EXPECT_EQ(conditional(*api, "DELETE", path, tag, "", owner.token).status, 204) << path;
    EXPECT_EQ(conditional(*api, "DELETE", path, tag, "", owner.token).status, 404) << path;
  }
}

// A new password with a stale If-Match changes nothing: not the password,
// and no other session is signed out.
TEST_F(Conditional, AStalePasswordChangeSignsNobodyOut) {
  auto me = api->member("stale_password");
  auto elsewhere = api->sign_in("stale_password");
  auto path = id_path("/api/users", me.id);
  auto old_tag = api->call("GET", path).header("ETag");
  ASSERT_EQ(conditional(*api, "PATCH", path, old_tag, R"({"name":"New Name"})", me.token).status, 200);
  auto stale = conditional(*api, "PATCH", path, old_tag, R"({"password":"another long password"})", me.token);
  EXPECT_EQ(stale.status, 412) << stale.body;
  EXPECT_EQ(api->call("GET", "/api/sessions/current", "", elsewhere).status, 200) << "the other session lives";
  EXPECT_FALSE(api->sign_in("stale_password").empty()) << "the old password still signs in";
  // With the current tag the change is made, and signs the others out.
  auto current = api->call("GET", path).header("ETag");
  auto changed = conditional(*api, "PATCH", path, current, R"({"password":"another long password"})", me.token);
  EXPECT_EQ(changed.status, 200) << changed.body;
  EXPECT_EQ(changed.header("ETag"), current) << "a password is not shown: the version stays";
  EXPECT_EQ(api->call("GET", "/api/sessions/current", "", elsewhere).status, 401);
}

// A keyed write is the same request only with the same If-Match.
TEST_F(Conditional, AnIdempotencyKeyCoversIfMatch) {
  auto me = api->member("keyed_conditional");
  auto post = api->write_post(me.token, 1, "keyed");
  auto path = id_path("/api/posts", post);
  auto tag = api->call("GET", path).header("ETag");
  auto first = api->call_with({{"If-Match", tag}, {"Idempotency-Key", "cond-1"}}, "PATCH", path, R"({"text":"k"})",
                              me.token);
  ASSERT_EQ(first.status, 200) << first.body;
  auto again = api->call_with({{"If-Match", tag}, {"Idempotency-Key", "cond-1"}}, "PATCH", path, R"({"text":"k"})",
                              me.token);
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.header("Idempotent-Replayed"), "true");
  EXPECT_EQ(again.header("ETag"), first.header("ETag"));
  EXPECT_EQ(again.body, first.body);
  auto other = api->call_with({{"If-Match", "*"}, {"Idempotency-Key", "cond-1"}}, "PATCH", path, R"({"text":"k"})",
                              me.token);
  EXPECT_EQ(other.status, 422) << other.body;
  // A 412 keeps nothing under its key: its repeat runs again (and is 412
  // again), and the key then takes the request with the current tag.
  for (int i = 0; i < 2; ++i) {
    auto refused = api->call_with({{"If-Match", tag}, {"Idempotency-Key", "cond-2"}}, "PATCH", path,
                                  R"({"text":"l"})", me.token);
    EXPECT_EQ(refused.status, 412) << refused.body;
    EXPECT_EQ(refused.header("Idempotent-Replayed"), "");
  }
  auto current = api->call("GET", path).header("ETag");
  EXPECT_EQ(api->call_with({{"If-Match", current}, {"Idempotency-Key", "cond-2"}}, "PATCH", path, R"({"text":"l"})",
                           me.token)
                .status,
            200);
}

// http.require_if_match: a PATCH or DELETE of a record without If-Match is
// 428; other writes (a new post, a sign-out) need none.
TEST(ConditionalRequired, WithoutIfMatchARecordsPatchOrDeleteIs428) {
  testkit::scratch_database db;
  auto args = testkit::brisk_hashing();
  args.insert(args.end(), {"--set", "http.require_if_match=true"});
  testkit::server srv({.database_url = db.seeded(), .extra_args = args});
  testkit::forum_client api(srv.port());
  auto me = api.member("required_tags");
  auto post = api.write_post(me.token, 1, "needs a tag");
  auto path = id_path("/api/posts", post);
  for (const auto& target : {path, id_path("/api/users", me.id), std::string("/api/threads/1")}) {
    auto bare = api.call("PATCH", target, R"({"text":"x","title":"x","bio":"x"})", me.token);
    EXPECT_EQ(bare.status, 428) << target << ": " << bare.body;
    EXPECT_NE(bare.body.find("If-Match"), std::string::npos) << bare.body;
    EXPECT_EQ(api.call("DELETE", target, "", me.token).status, 428) << target;
  }
  auto tag = api.call("GET", path).header("ETag");
  EXPECT_EQ(conditional(api, "PATCH", path, tag, R"({"text":"with its tag"})", me.token).status, 200);
  EXPECT_EQ(conditional(api, "DELETE", path, "*", "", me.token).status, 204);
  EXPECT_EQ(api.call("DELETE", "/api/sessions/current", "", me.token).status, 204);
}

// The lost-update race: two clients read a post, each through its own
// instance, and both patch it with the tag they read, at once. Exactly one
// wins, the other gets 412, and the post holds the winner's text. Eight
// posts are raced at once, 25 rounds each, through two instances on one
// database.
TEST(ConditionalRace, TwoEditorsOnTwoInstancesExactlyOneWins) {
  testkit::scratch_database db;
  auto url = db.seeded();
  testkit::server a({.database_url = url, .extra_args = testkit::brisk_hashing()});
  testkit::server b({.database_url = url, .extra_args = testkit::brisk_hashing()});
  testkit::forum_client via_a(a.port()), via_b(b.port());
  auto me = via_a.member("race_editor");
  constexpr int posts = 8, rounds = 25;
  std::atomic<int> wins{0}, refused{0}, other{0}, lost{0};
  std::vector<std::thread> racers;
  for (int p = 0; p < posts; ++p)
    racers.emplace_back([&, p] {
      auto path = id_path("/api/posts", via_a.write_post(me.token, 1, "race " + std::to_string(p)));
      for (int round = 0; round < rounds; ++round) {
        // Both read first (each from its instance, which may have kept it).
        std::string tag_a, tag_b;
        ASSERT_TRUE(testkit::eventually([&] {
          tag_a = via_a.call("GET", path).header("ETag");
          tag_b = via_b.call("GET", path).header("ETag");
          return !tag_a.empty() && tag_a == tag_b;
        }));
        std::string text_a = "a" + std::to_string(round), text_b = "b" + std::to_string(round);
        testkit::http_response ra, rb;
        std::thread other_editor(
            [&] { rb = conditional(via_b, "PATCH", path, tag_b, json{{"text", text_b}}.dump(), me.token); });
        ra = conditional(via_a, "PATCH", path, tag_a, json{{"text", text_a}}.dump(), me.token);
        other_editor.join();
        for (const auto* r : {&ra, &rb}) {
          if (r->status == 200) wins++;
          else if (r->status == 412) refused++;
          else other++;
        }
        if (ra.status + rb.status != 612) continue;  // one 200 and one 412
        auto winner = ra.status == 200 ? text_a : text_b;
        auto loser_saw = ra.status == 200 ? rb.header("ETag") : ra.header("ETag");
        if (db.query("SELECT text FROM posts WHERE id = " + path.substr(path.rfind('/') + 1)) != winner) lost++;
        if (loser_saw != (ra.status == 200 ? ra.header("ETag") : rb.header("ETag"))) lost++;
      }
    });
  for (auto& t : racers) t.join();
  std::printf("[ race     ] %d posts x %d rounds: %d won, %d refused 412, %d other, %d lost\n", posts, rounds,
              wins.load(), refused.load(), other.load(), lost.load());
  EXPECT_EQ(wins, posts * rounds);
  EXPECT_EQ(refused, posts * rounds);
  EXPECT_EQ(other, 0);
  EXPECT_EQ(lost, 0);
}
