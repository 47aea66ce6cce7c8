// Sign-in and sign-up attempts per client address, for the whole instance:
// the budget is shared by every worker, refusals are 429 with Retry-After
// whether the account exists or not, and the address is the one the
// trusted proxies name, never one a client forges.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/forum.hpp"
#include "support/http_client.hpp"
#include "support/testkit.hpp"

using namespace granite;

namespace {

class Attempts : public testkit::seeded_suite<Attempts> {
 protected:
  // 3 at once, then one every 10 s.
  testkit::server start(std::vector<std::string> more = {}) {
    std::vector<std::string> args = {"--set", "auth.attempts_per_minute=6", "--set", "auth.attempts_burst=3"};
    auto brisk = testkit::brisk_hashing();
    args.insert(args.end(), brisk.begin(), brisk.end());
    args.insert(args.end(), more.begin(), more.end());
    return testkit::server({.database_url = url, .workers = 2, .extra_args = args});
  }

  // A sign-in on a fresh connection (so both workers take some).
  static testkit::http_response try_password(int port, const std::string& username, const std::string& password,
                                             const std::string& forwarded_for = "") {
    testkit::http_client c(port);
    std::vector<std::pair<std::string, std::string>> headers = {{"Content-Type", "application/json"}};
    if (!forwarded_for.empty()) headers.emplace_back("X-Forwarded-For", forwarded_for);
    return c.request("POST", "/api/sessions", headers,
                     nlohmann::json{{"username", username}, {"password", password}}.dump());
  }
  // A wrong password.
  static testkit::http_response sign_in(int port, const std::string& username, const std::string& forwarded_for = "") {
    return try_password(port, username, "not the password", forwarded_for);
  }
};

}  // namespace

TEST_F(Attempts, AClientsBudgetIsSharedByEveryWorkerAndRefusalsAre429WithRetryAfter) {
  auto srv = start();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(sign_in(srv.port(), "ada").status, 401) << "attempt " << i;
  int refused = 0;
  for (const char* who : {"ada", "no_such_user_at_all"}) {
    auto r = sign_in(srv.port(), who);
    ASSERT_EQ(r.status, 429) << who << ": " << r.body;
    ++refused;
    EXPECT_EQ(r.header("Content-Type"), "application/problem+json");
    int wait = std::stoi(r.header("Retry-After"));
    EXPECT_GE(wait, 1);
    EXPECT_LE(wait, 10);
    auto problem = nlohmann::json::parse(r.body);
    EXPECT_EQ(problem["status"], 429);
    EXPECT_NE(problem["detail"].get<std::string>().find("retry in"), std::string::npos);
  }
  // Sign-ups draw on the same budget.
  testkit::http_client c(srv.port());
  auto up = c.request("POST", "/api/users", {{"Content-Type", "application/json"}},
                      R"({"username":"newcomer","password":"a long enough password"})");
  EXPECT_EQ(up.status, 429);
  ++refused;
  // Other routes are not limited.
  EXPECT_EQ(testkit::get(srv.port(), "/api/users/1").status, 200);
  // Both workers answered some of the attempts: the budget is the instance's.
  EXPECT_TRUE(testkit::eventually([&] {
    auto log = srv.log();
    return log.find("[worker 0 ") != std::string::npos && log.find("POST /api/sessions 429") != std::string::npos;
  }));
  std::string page;
  EXPECT_TRUE(testkit::eventually([&] {
    page = testkit::get(srv.metrics_port(), "/metrics").body;
    return testkit::metric_value(page, R"(granite_sign_in_attempts_refused_total{reason="client"})") == refused;
  })) << page;
}

TEST_F(Attempts, TheAddressIsTheOneATrustedProxyNamesAndNoOtherwise) {
  {
    // No proxy is trusted: a forged X-Forwarded-For changes nothing.
    auto srv = start();
    for (int i = 0; i < 3; ++i) EXPECT_EQ(sign_in(srv.port(), "ada", "198.51.100." + std::to_string(i)).status, 401);
    EXPECT_EQ(sign_in(srv.port(), "ada", "198.51.100.99").status, 429);
  }
  {
    // Behind a trusted proxy: each client has its own budget, and an IPv6
    // client is counted by its /64.
    auto srv = start({"--set", "http.trusted_proxies=127.0.0.0/8"});
    for (int i = 0; i < 3; ++i) EXPECT_EQ(sign_in(srv.port(), "ada", "198.51.100.1").status, 401);
    EXPECT_EQ(sign_in(srv.port(), "ada", "198.51.100.1").status, 429);
    EXPECT_EQ(sign_in(srv.port(), "ada", "198.51.100.2").status, 401) << "another client";
    for (int i = 0; i < 3; ++i)
      EXPECT_EQ(sign_in(srv.port(), "ada", "2001:db8:1:2::" + std::to_string(i + 1)).status, 401);
    EXPECT_EQ(sign_in(srv.port(), "ada", "2001:db8:1:2:ffff::9").status, 429) << "the same /64";
    EXPECT_EQ(sign_in(srv.port(), "ada", "2001:db8:1:3::1").status, 401) << "another /64";
  }
}

// Failed sign-ins are counted per username in PostgreSQL: the limit holds
// across instances, for usernames that exist and for those that do not,
// and never keeps the owner out of a network they signed in from.
TEST_F(Attempts, FailedSignInsBlockAUsernameFleetWideButNeverTheOwnersNetwork) {
  std::vector<std::string> rules = {"--set", "auth.attempts_per_minute=0",        "--set",
                                    "auth.account_free_failures=2", "--set", "http.trusted_proxies=127.0.0.0/8"};
  auto one = start(rules);
  auto two = start(rules);  // another instance of the fleet, the same database
  const std::string home = "198.51.100.7", attacker = "203.0.113.5", elsewhere = "192.0.2.44";
  const std::string password = "the owner's own password";
  {
    testkit::http_client c(one.port());
    ASSERT_EQ(c.request("POST", "/api/users", {{"Content-Type", "application/json"}},
                        nlohmann::json{{"username", "owner"}, {"password", password}}.dump())
                  .status,
              201);
  }
  ASSERT_EQ(try_password(one.port(), "owner", password, home).status, 201);  // home is a known network now

  // Two free failures, the third blocks the username for 1 s, on either
  // instance: what needs the block is asked at once.
  auto block = [&](const std::string& name) {
    EXPECT_EQ(try_password(one.port(), name, "guess one", attacker).status, 401) << name;
    EXPECT_EQ(try_password(two.port(), name, "guess two", attacker).status, 401) << name;
    EXPECT_EQ(try_password(one.port(), name, "guess three", attacker).status, 401) << name << ": counted, blocks 1 s";
    auto r = try_password(two.port(), name, "guess four", attacker);
    EXPECT_EQ(r.status, 429) << name << ": " << r.body;
    EXPECT_EQ(r.header("Retry-After"), "1") << name;
  };
  block("owner");
  // The right password from an unknown network waits too; from the owner's
  // network (another address of the same /24) it goes through.
  EXPECT_EQ(try_password(one.port(), "owner", password, elsewhere).status, 429);
  EXPECT_EQ(try_password(two.port(), "owner", password, "198.51.100.200").status, 201);
  // A success forgets the failures.
  EXPECT_EQ(try_password(one.port(), "owner", "guess five", attacker).status, 401);
  // A username nobody has is blocked alike.
  block("ghost");
  // The block doubles with each failure beyond the free ones.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ(try_password(one.port(), "ghost", "guess five", attacker).status, 401);
  auto longer = try_password(one.port(), "ghost", "guess six", attacker);
  EXPECT_EQ(longer.status, 429);
  EXPECT_EQ(longer.header("Retry-After"), "2");
  // Each instance counts the refusals it answered: two each.
  for (auto* srv : {&one, &two}) {
    std::string page;
    EXPECT_TRUE(testkit::eventually([&] {
      page = testkit::get(srv->metrics_port(), "/metrics").body;
      return testkit::metric_value(page, R"(granite_sign_in_attempts_refused_total{reason="username"})") == 2;
    })) << page;
  }
}

// Attempts in flight together are each counted before their password is
// checked, in one statement that also decides whether the username is
// blocked: however many arrive at once, on however many instances and from
// however many addresses, no more are checked than the rule allows.
TEST_F(Attempts, ParallelGuessesAreCheckedNoMoreOftenThanTheLimitAllows) {
  std::vector<std::string> rules = {"--set", "auth.attempts_per_minute=0", "--set", "auth.account_free_failures=5",
                                    "--set", "http.trusted_proxies=127.0.0.0/8"};
  auto one = start(rules);
  auto two = start(rules);
  // 40 guesses at once from 40 addresses, over both instances: how many
  // were checked (401) and how many refused for the block (429).
  auto burst = [&](const std::string& name) {
    constexpr int guesses = 40;
    std::vector<int> status(guesses);
    std::vector<std::thread> attackers;
    for (int i = 0; i < guesses; ++i)
      attackers.emplace_back([&, i] {
        auto port = (i % 2 ? one : two).port();
        status[i] = try_password(port, name, "guess " + std::to_string(i), "203.0.113." + std::to_string(i + 1)).status;
      });
    for (auto& t : attackers) t.join();
    auto checked = std::count(status.begin(), status.end(), 401);
    EXPECT_EQ(checked + std::count(status.begin(), status.end(), 429), guesses) << name;
    std::printf("%s: %ld of %d parallel guesses checked\n", name.c_str(), static_cast<long>(checked), guesses);
    return checked;
  };
  // A username whose free failures are spent and whose last block has
  // expired: the next guess blocks it for 16 s, and it is the only one.
  db->query("INSERT INTO sign_in_failures VALUES ('ada', 9, now(), now() - interval '1 second')");
  EXPECT_EQ(burst("ada"), 1);
  // A username with nothing against it: its 5 free failures, and the guess
  // that blocks it for 1 s (all 40 arrive well within it).
  for (const char* name : {"nobody_at_all", "ada_l"}) {
    auto checked = burst(name);
    EXPECT_GE(checked, 1) << name;
    EXPECT_LE(checked, 6) << name;
  }
}
