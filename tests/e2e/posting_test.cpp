// An account's budget of new posts and threads (posting.budget in
// posting.window_s): checked by the insert in the database, so one account
// has one budget whichever instance its requests reach; beyond it 429 with
// Retry-After, nothing written and nothing kept under an Idempotency-Key;
// room again once the oldest leave the window.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "support/forum.hpp"
#include "support/http_client.hpp"
#include "support/testkit.hpp"

using namespace granite;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

class Posting : public testkit::seeded_suite<Posting> {
 protected:
  // Three posts and threads in any 2 s.
  testkit::server start() {
    auto args = testkit::brisk_hashing();
    args.insert(args.end(), {"--set", "posting.budget=3", "--set", "posting.window_s=2"});
    return testkit::server({.database_url = url, .workers = 2, .extra_args = args});
  }

  static testkit::http_response post(const testkit::forum_client& api, const std::string& token, const std::string& text,
                                     const std::string& key = "") {
    std::vector<std::pair<std::string, std::string>> more;
    if (!key.empty()) more.emplace_back("Idempotency-Key", key);
    return api.call_with(more, "POST", "/api/posts", json{{"thread", 1}, {"text", text}}.dump(), token);
  }

  // A 429 as a client sees it: problem+json, Retry-After within the window.
  static void expect_over_budget(const testkit::http_response& r) {
    ASSERT_EQ(r.status, 429) << r.body;
    EXPECT_EQ(r.header("Content-Type"), "application/problem+json");
    int wait = std::stoi(r.header("Retry-After"));
    EXPECT_GE(wait, 1);
    EXPECT_LE(wait, 2);
    auto detail = json::parse(r.body)["detail"].get<std::string>();
    EXPECT_NE(detail.find("posts and threads in the last 2 s"), std::string::npos) << detail;
  }

  std::string count_posts(const std::string& text) {
    return db->query("SELECT count(*) FROM posts WHERE text = '" + text + "'");
  }
};

}  // namespace

TEST_F(Posting, AnAccountsPostsAndThreadsShareOneBudgetAcrossInstances) {
  auto a = start();
  auto b = start();
  testkit::forum_client api_a(a.port()), api_b(b.port());
  auto me = api_a.member("prolific");
  auto other = api_a.member("quiet");

  ASSERT_EQ(post(api_a, me.token, "first of three").status, 201);
  ASSERT_GT(api_b.start_thread(me.token, "second of three"), 0);
  ASSERT_EQ(post(api_b, me.token, "third of three").status, 201);
  // The fourth, through either instance, post or thread.
  auto refused = post(api_a, me.token, "one too many");
  expect_over_budget(refused);
  expect_over_budget(post(api_b, me.token, "one too many"));
  expect_over_budget(api_b.call("POST", "/api/threads", json{{"title", "one too many"}}.dump(), me.token));
  EXPECT_EQ(count_posts("one too many"), "0");
  EXPECT_EQ(db->query("SELECT count(*) FROM threads WHERE title = 'one too many'"), "0");
  // Another account's budget is its own.
  EXPECT_EQ(post(api_b, other.token, "not mine to pay for").status, 201);

  // Once the oldest have left the window, there is room again.
  std::this_thread::sleep_for(std::chrono::seconds(std::stoi(refused.header("Retry-After"))) + 100ms);
  EXPECT_EQ(post(api_a, me.token, "after the wait").status, 201);

  auto metrics = testkit::get(a.metrics_port(), "/metrics").body;
  EXPECT_GE(testkit::metric_value(metrics, R"(http_requests_total{route="/api/posts",method="POST",code="429"})"), 1)
      << metrics;
}

// A refused keyed post keeps nothing under its key: the same request, sent
// again once there is room, is applied (201), not answered 429 from the key.
TEST_F(Posting, ARefusedKeyedPostIsAppliedWhenSentAgainLater) {
  auto a = start();
  testkit::forum_client api(a.port());
  auto me = api.member("keyed_poster");
  for (int i = 0; i < 3; ++i) ASSERT_EQ(post(api, me.token, "filler " + std::to_string(i)).status, 201);
  auto refused = post(api, me.token, "keyed, refused first", "budget-key-1");
  expect_over_budget(refused);
  std::this_thread::sleep_for(std::chrono::seconds(std::stoi(refused.header("Retry-After"))) + 100ms);
  auto applied = post(api, me.token, "keyed, refused first", "budget-key-1");
  EXPECT_EQ(applied.status, 201) << applied.body;
  EXPECT_EQ(applied.header("Idempotent-Replayed"), "");
  auto replayed = post(api, me.token, "keyed, refused first", "budget-key-1");
  EXPECT_EQ(replayed.status, 201) << replayed.body;
  EXPECT_EQ(replayed.header("Idempotent-Replayed"), "true");
  EXPECT_EQ(count_posts("keyed, refused first"), "1");
}
