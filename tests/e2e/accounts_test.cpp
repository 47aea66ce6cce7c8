// Accounts and sign-in against the real binary and database.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "features/users/users.hpp"
#include "support/forum.hpp"
#include "support/testkit.hpp"

using namespace granite;
using nlohmann::json;

namespace {

struct Accounts : testkit::forum_suite<Accounts> {
  static testkit::http_response sign_in_raw(const std::string& username, const std::string& password) {
    return api->call("POST", "/api/sessions", json{{"username", username}, {"password", password}}.dump());
  }
};

double median_ms(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

TEST_F(Accounts, SignUpAnswersTheUserWithLocationAndNeverThePassword) {
  auto r = api->call("POST", "/api/users",
                     R"({"username":"ada_l","name":"Ada Lovelace","bio":"Notes on the engine.","password":"analytical engine"})");
  ASSERT_EQ(r.status, 201) << r.body;
  auto body = json::parse(r.body);
  auto id = body["id"].get<std::int64_t>();
  EXPECT_EQ(r.header("Location"), "/api/users/" + std::to_string(id));
  EXPECT_EQ(r.body, nlohmann::ordered_json({{"id", id},
                                            {"username", "ada_l"},
                                            {"name", "Ada Lovelace"},
                                            {"bio", "Notes on the engine."},
                                            {"updatedAt", body["updatedAt"]}})
                        .dump());
  EXPECT_EQ(api->call("GET", r.header("Location")).body, r.body);
  // Stored as an Argon2id string at the configured cost, never in clear.
  auto stored = db->query("SELECT password_hash FROM users WHERE id = " + std::to_string(id));
  EXPECT_TRUE(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$")) << stored;
  EXPECT_EQ(stored.find("analytical"), std::string::npos);
  // Seeded ids are kept; new ones come after them.
  EXPECT_GT(id, 7);
}

TEST_F(Accounts, SignUpNamesEveryBadFieldAtOnce) {
  auto r = api->call("POST", "/api/users",
                     json{{"username", "Not Valid!"},
                          {"name", std::string(101, 'n')},
                          {"bio", std::string(1001, 'b')},
                          {"password", "short"},
                          {"admin", true}}
                         .dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(testkit::field_errors(r),
            "admin: unknown field admin; this route accepts username, name, bio, password\n"
            "bio: bio must be at most 1000 characters, got 1001\n"
            "name: name must be at most 100 characters, got 101\n"
            "password: password must be 10 to 256 characters, got 5\n"
            "username: username may hold only a-z, 0-9 and _\n");
  auto missing = api->call("POST", "/api/users", R"({"name":"x"})");
  EXPECT_EQ(testkit::field_errors(missing), "password: password is required\nusername: username is required\n");
  auto types = api->call("POST", "/api/users", R"({"username":5,"password":null,"bio":["x"]})");
  EXPECT_EQ(testkit::field_errors(types),
            "bio: bio must be a string, not an array\n"
            "password: password must be a string, not null\n"
            "username: username must be a string, not a number\n");
  EXPECT_EQ(testkit::field_errors(api->call("POST", "/api/users", R"({"username":"ab","password":"0123456789"})")),
            "username: username must be 3 to 32 characters, got 2\n");
  // Limits count characters, not bytes: 100 emoji are a valid name.
  std::string emoji;
  for (int i = 0; i < 100; ++i) emoji += "😀";
  auto ok = api->call("POST", "/api/users", json{{"username", "emoji_name"}, {"name", emoji}, {"password", "0123456789"}}.dump());
  EXPECT_EQ(ok.status, 201) << ok.body;
  EXPECT_EQ(json::parse(ok.body)["name"], emoji);
}

TEST_F(Accounts, UsernamesAreUniqueRegardlessOfCase) {
  auto r = api->call("POST", "/api/users", json{{"username", "ines"}, {"password", "0123456789"}}.dump());
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(json::parse(r.body)["detail"], "the username ines is taken");
  // Seeded usernames may hold capitals; a new one matching them is taken too.
  db->query("INSERT INTO users (username) VALUES ('MixedCase')");
  EXPECT_EQ(api->call("POST", "/api/users", json{{"username", "mixedcase"}, {"password", "0123456789"}}.dump()).status,
            409);
}

TEST_F(Accounts, ConcurrentSignUpsWithOneUsernameGiveOne201AndThe409s) {
  for (int round = 0; round < 4; ++round) {
    int contenders = round == 3 ? 8 : 2;
    std::string name = "race_" + std::to_string(round);
    std::vector<int> statuses(static_cast<std::size_t>(contenders));
    std::vector<std::thread> threads;
    for (int i = 0; i < contenders; ++i)
      threads.emplace_back([&, i] {
        statuses[static_cast<std::size_t>(i)] =
            api->call("POST", "/api/users", json{{"username", name}, {"password", "0123456789"}}.dump()).status;
      });
    for (auto& t : threads) t.join();
    EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 201), 1) << name;
    EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 409), contenders - 1) << name;
    EXPECT_EQ(db->query("SELECT count(*) FROM users WHERE username = '" + name + "'"), "1");
  }
}

TEST_F(Accounts, SignInGivesATokenThatIsStoredOnlyAsItsHash) {
  api->sign_up("token_owner");
  auto r = api->call("POST", "/api/sessions", json{{"username", "Token_Owner"}, {"password", testkit::test_password}}.dump());
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.header("Cache-Control"), "no-store");
  EXPECT_EQ(r.header("Location"), "/api/sessions/current");
  auto body = json::parse(r.body);
  auto token = body["token"].get<std::string>();
  EXPECT_TRUE(std::regex_match(token, std::regex("[A-Za-z0-9_-]{43}"))) << token;  // 256 bits
  EXPECT_TRUE(std::regex_match(body["expiresAt"].get<std::string>(),
                               std::regex(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)")));
  // Seven days by default (auth.session_ttl_s).
  auto seconds_left = std::stod(db->query("SELECT extract(epoch FROM '" + body["expiresAt"].get<std::string>() +
                                          "'::timestamptz - now())"));
  EXPECT_NEAR(seconds_left, 7 * 24 * 3600, 60);
  EXPECT_EQ(db->query("SELECT count(*) FROM sessions WHERE token_sha256 = sha256(convert_to('" + token + "', 'UTF8'))"),
            "1");
  EXPECT_EQ(db->query("SELECT count(*) FROM sessions WHERE position(convert_to('" + token + "', 'UTF8') in token_sha256) > 0"),
            "0");
  auto me = api->call("GET", "/api/sessions/current", "", token);
  ASSERT_EQ(me.status, 200) << me.body;
  EXPECT_EQ(json::parse(me.body)["user"]["username"], "token_owner");
}

TEST_F(Accounts, WrongUsernameAndWrongPasswordLookTheSame) {
  // One worker whose hashing thread neither rests between hashes nor waits
  // for idle CPU, so that the times compare the work done, not the
  // bulkhead's pacing.
  testkit::server timed({.database_url = db->url(),
                         .workers = 1,
                         .extra_args = {"--set", "auth.hash_cpu_percent=100", "--set", "auth.hash_priority=low"}});
  testkit::forum_client client(timed.port());
  auto sign_in = [&](const std::string& username, const std::string& password) {
    return client.call("POST", "/api/sessions", json{{"username", username}, {"password", password}}.dump());
  };
  client.sign_up("enum_target");
  std::vector<double> wrong_password, wrong_username;
  testkit::http_response a, b;
  for (int i = 0; i < 9; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    a = sign_in("enum_target", "not the password");
    auto t1 = std::chrono::steady_clock::now();
    b = sign_in("no_such_user_" + std::to_string(i), "not the password");
    auto t2 = std::chrono::steady_clock::now();
    wrong_password.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    wrong_username.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
  }
  EXPECT_EQ(a.status, 401);
  EXPECT_EQ(b.status, 401);
  auto strip = [](const std::string& body) {
    auto doc = json::parse(body);
    doc.erase("requestId");
    return doc.dump();
  };
  EXPECT_EQ(strip(a.body), strip(b.body));
  EXPECT_EQ(a.header("WWW-Authenticate"), b.header("WWW-Authenticate"));
  // Both run one Argon2id check (a decoy hash for unknown usernames). Without
  // it an unknown username would answer in a small fraction of the time.
  double pw = median_ms(wrong_password), user = median_ms(wrong_username);
  std::printf("sign-in 401 medians: wrong password %.1f ms, unknown username %.1f ms\n", pw, user);
  EXPECT_GT(user, pw * 0.5);
  EXPECT_GT(pw, user * 0.5);
  // A seeded account has no password at all: it cannot sign in.
  EXPECT_EQ(sign_in_raw("ines", "anything at all").status, 401);
}

TEST_F(Accounts, SignOutEndsTheSessionAndExpiredTokensAreRefused) {
  auto member = api->member("session_user");
  auto second = api->sign_in("session_user");
  ASSERT_EQ(api->call("GET", "/api/sessions/current", "", member.token).status, 200);
  auto out = api->call("DELETE", "/api/sessions/current", "", member.token);
  EXPECT_EQ(out.status, 204);
  EXPECT_TRUE(out.body.empty());
  EXPECT_EQ(api->call("GET", "/api/sessions/current", "", member.token).status, 401);
  EXPECT_EQ(api->call("DELETE", "/api/sessions/current", "", member.token).status, 401);
  EXPECT_EQ(api->call("POST", "/api/threads", R"({"title":"after sign-out"})", member.token).status, 401);
  // The other session lives on, until it expires.
  ASSERT_EQ(api->call("POST", "/api/threads", R"({"title":"still signed in"})", second).status, 201);
  db->query("UPDATE sessions SET expires_at = now() - interval '1 second' WHERE user_id = " + std::to_string(member.id));
  auto expired = api->call("POST", "/api/threads", R"({"title":"expired"})", second);
  EXPECT_EQ(expired.status, 401);
  EXPECT_NE(json::parse(expired.body)["detail"].get<std::string>().find("expired"), std::string::npos);
  // Expired sessions of an account are cleared at its next sign-in.
  api->sign_in("session_user");
  EXPECT_EQ(db->query("SELECT count(*) FROM sessions WHERE user_id = " + std::to_string(member.id)), "1");
}

TEST_F(Accounts, MalformedAuthorizationIs401WithAChallenge) {
  for (const std::string& header : std::vector<std::string>{"Basic dXNlcjpwYXNz", "Bearer", "Bearer short", "Bearer " + std::string(43, '!'),
                             "Bearer " + std::string(43, 'A'), "bearer " + std::string(44, 'A')}) {
    testkit::http_client c(srv->port());
    auto r = c.request("DELETE", "/api/sessions/current", {{"Authorization", header}});
    EXPECT_EQ(r.status, 401) << header;
    EXPECT_EQ(r.header("WWW-Authenticate"), "Bearer realm=\"granite\"") << header;
    EXPECT_EQ(r.header("Content-Type"), "application/problem+json");
  }
}

TEST_F(Accounts, ANewPasswordSignsOutTheOtherSessions) {
  auto member = api->member("rotator");
  auto other = api->sign_in("rotator");
  auto r = api->call("PATCH", "/api/users/" + std::to_string(member.id), R"({"password":"a brand new passphrase"})",
                     member.token);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body.find("passphrase"), std::string::npos);
  EXPECT_EQ(api->call("GET", "/api/sessions/current", "", other).status, 401);
  EXPECT_EQ(api->call("GET", "/api/sessions/current", "", member.token).status, 200);
  EXPECT_EQ(sign_in_raw("rotator", testkit::test_password).status, 401);
  EXPECT_EQ(sign_in_raw("rotator", "a brand new passphrase").status, 201);
}

// The new password and the sign-out of the other sessions are one
// transaction: when the sign-out fails (here a trigger makes it fail, as a
// lost connection or a statement timeout would), the password is not changed
// either, so a stolen token never outlives a password change the client was
// told had failed.
TEST_F(Accounts, APasswordChangeAndTheSignOutOfTheOtherSessionsAreOneTransaction) {
  auto member = api->member("atomic_rotator");
  auto other = api->sign_in("atomic_rotator");
  db->query("CREATE FUNCTION refuse_sign_out() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'the sign-out fails'; END $$");
  db->query("CREATE TRIGGER refuse_sign_out BEFORE DELETE ON sessions FOR EACH ROW EXECUTE FUNCTION refuse_sign_out()");
  auto r = api->call("PATCH", "/api/users/" + std::to_string(member.id), R"({"password":"a brand new passphrase"})",
                     member.token);
  db->query("DROP TRIGGER refuse_sign_out ON sessions");
  db->query("DROP FUNCTION refuse_sign_out()");
  EXPECT_GE(r.status, 500) << r.body;
  EXPECT_EQ(sign_in_raw("atomic_rotator", "a brand new passphrase").status, 401) << "the new password stayed";
  EXPECT_EQ(sign_in_raw("atomic_rotator", testkit::test_password).status, 201);
  EXPECT_EQ(api->call("GET", "/api/sessions/current", "", other).status, 200);
}

TEST_F(Accounts, AnOlderHashCostIsUpgradedAtSignIn) {
  auto id = api->sign_up("old_hash");
  auto cheap = users::hash_password(testkit::test_password, {1, 64 * 1024});
  db->query("UPDATE users SET password_hash = '" + cheap + "' WHERE id = " + std::to_string(id));
  ASSERT_FALSE(api->sign_in("old_hash").empty());
  auto stored = db->query("SELECT password_hash FROM users WHERE id = " + std::to_string(id));
  EXPECT_TRUE(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$")) << stored;
  EXPECT_FALSE(api->sign_in("old_hash").empty());
}

// A password change that lands while a sign-in with the old password is
// being checked: the sign-in checks at the configured cost (slow), the
// change is made through an instance that hashes cheaply (fast), so that it
// commits while the check runs. Whatever the order, once the change is
// answered no session made with the old password is valid, the old password
// signs in no more and the new one does: the session and any rehash are
// written only if the hash checked is still the account's.
struct PasswordRace : Accounts {
  static inline std::unique_ptr<testkit::server> cheap;
  static void SetUpTestSuite() {
    Accounts::SetUpTestSuite();
    auto args = testkit::brisk_hashing();
    args.insert(args.end(), {"--set", "auth.argon2_ops_limit=1", "--set", "auth.argon2_memory_kib=8"});
    cheap = std::make_unique<testkit::server>(
        testkit::server::options{.database_url = db->url(), .workers = 1, .extra_args = args});
  }
  static void TearDownTestSuite() {
    cheap.reset();
    Accounts::TearDownTestSuite();
  }

  // Signs in with the old password on the slow instance while the owner
  // changes it on the cheap one; checks what is true afterwards.
  static void race(const std::string& username, std::int64_t id, const std::string& owner_token) {
    const std::string fresh = "the password after the change";
    testkit::http_response signed_in;
    std::thread old_password([&] { signed_in = sign_in_raw(username, testkit::test_password); });
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    testkit::forum_client fast(cheap->port());
    auto changed = fast.call("PATCH", "/api/users/" + std::to_string(id), json{{"password", fresh}}.dump(), owner_token);
    old_password.join();
    ASSERT_EQ(changed.status, 200) << changed.body;
    ASSERT_TRUE(signed_in.status == 201 || signed_in.status == 401) << signed_in.body;
    if (signed_in.status == 201) {
      auto token = json::parse(signed_in.body)["token"].get<std::string>();
      EXPECT_EQ(api->call("GET", "/api/sessions/current", "", token).status, 401)
          << username << ": a session made with the old password outlived the change";
    }
    EXPECT_EQ(sign_in_raw(username, testkit::test_password).status, 401) << username << ": the old password";
    EXPECT_EQ(sign_in_raw(username, fresh).status, 201) << username << ": the new password";
  }
};

TEST_F(PasswordRace, ASignInRacingAPasswordChangeLeavesNoSessionOfTheOldPassword) {
  for (int trial = 0; trial < 5; ++trial) {
    auto name = "race_session_" + std::to_string(trial);
    auto member = api->member(name);
    race(name, member.id, member.token);
  }
}

TEST_F(PasswordRace, TheRehashOfARacingSignInNeverOverwritesTheNewPassword) {
  for (int trial = 0; trial < 5; ++trial) {
    auto name = "race_rehash_" + std::to_string(trial);
    testkit::forum_client fast(cheap->port());
    auto member = fast.member(name);  // hashed at a cost below the configured one: the slow sign-in rehashes it
    ASSERT_FALSE(db->query("SELECT password_hash FROM users WHERE id = " + std::to_string(member.id))
                     .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    race(name, member.id, member.token);
  }
}

TEST_F(Accounts, ChangingAndDeletingAnAccountIsForItsOwnerOnly) {
  auto owner = api->member("acct_owner");
  auto other = api->member("acct_other");
  auto path = "/api/users/" + std::to_string(owner.id);
  EXPECT_EQ(api->call("PATCH", path, R"({"bio":"x"})").status, 401);
  EXPECT_EQ(api->call("PATCH", path, R"({"bio":"x"})", other.token).status, 403);
  EXPECT_EQ(api->call("PATCH", "/api/users/999999", R"({"bio":"x"})", other.token).status, 404);
  auto changed = api->call("PATCH", path, R"({"bio":"new bio","name":"New Name"})", owner.token);
  ASSERT_EQ(changed.status, 200) << changed.body;
  EXPECT_EQ(json::parse(changed.body)["bio"], "new bio");
  EXPECT_EQ(json::parse(changed.body)["username"], "acct_owner");  // absent fields keep their value
  EXPECT_EQ(api->call("PATCH", path, R"({"username":"acct_other"})", owner.token).status, 409);
  EXPECT_EQ(api->call("PATCH", path, R"({"username":"acct_renamed"})", owner.token).status, 200);
  EXPECT_EQ(api->call("DELETE", path).status, 401);
  EXPECT_EQ(api->call("DELETE", path, "", other.token).status, 403);
  EXPECT_EQ(api->call("DELETE", path, "", owner.token).status, 204);
  EXPECT_EQ(api->call("GET", path).status, 404);
  // The deleted account's sessions went with it.
  EXPECT_EQ(api->call("GET", "/api/sessions/current", "", owner.token).status, 401);
}

TEST_F(Accounts, TokensExpireAfterTheConfiguredLifetime) {
  auto args = testkit::brisk_hashing();
  args.insert(args.end(), {"--set", "auth.session_ttl_s=1"});
  testkit::server short_lived({.database_url = db->url(), .workers = 1, .extra_args = args});
  testkit::forum_client client(short_lived.port());
  auto member = client.member("short_lived");
  ASSERT_EQ(client.call("GET", "/api/sessions/current", "", member.token).status, 200);
  ASSERT_TRUE(testkit::eventually([&] { return client.call("GET", "/api/sessions/current", "", member.token).status == 401; },
                                  std::chrono::seconds(3)));
  EXPECT_EQ(client.call("POST", "/api/threads", R"({"title":"too late"})", member.token).status, 401);
}
