// Keyset pagination of every list route, against the real binary and database.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>

#include "support/forum.hpp"
#include "support/testkit.hpp"

using namespace granite;
using nlohmann::json;

namespace {

struct Pagination : testkit::forum_suite<Pagination> {
  static void SetUpTestSuite() {
    forum_suite::SetUpTestSuite();
    // 1 100 more users, so that the default and the largest page are full.
    db->query("INSERT INTO users (username) SELECT 'bulk_' || n FROM generate_series(1, 1100) n");
  }

  // The target of the `rel` link in a Link header; empty when none.
  static std::string link_of(const std::string& header, const std::string& rel) {
    static const std::regex one(R"re(<([^>]+)>; rel="(next|prev)")re");
    for (auto it = std::sregex_iterator(header.begin(), header.end(), one); it != std::sregex_iterator(); ++it)
      if ((*it)[2] == rel) return (*it)[1];
    return "";
  }

  // Follows the `rel` links from `first` to the end; every id seen, in the
  // order of the pages; `last` the last page's target.
  static std::vector<std::int64_t> walk(const std::string& first, int* pages = nullptr, const std::string& rel = "next",
                                        std::string* last = nullptr) {
    std::vector<std::int64_t> ids;
    std::string next = first;
    int count = 0;
    while (!next.empty()) {
      if (last) *last = next;
      auto r = api->call("GET", next);
      EXPECT_EQ(r.status, 200) << next << ": " << r.body;
      if (r.status != 200) break;
      for (const auto& item : json::parse(r.body)) ids.push_back(item["id"].get<std::int64_t>());
      auto header = r.header("Link");
      static const std::regex shape(R"re(<[^>]+>; rel="(next|prev)"(, <[^>]+>; rel="(next|prev)")?)re");
      EXPECT_TRUE(header.empty() || std::regex_match(header, shape)) << header;
      next = link_of(header, rel);
      if (++count > 10000) break;
    }
    if (pages) *pages = count;
    return ids;
  }
};

}  // namespace

TEST_F(Pagination, DefaultLimitIs100AndTheLargestIs1000) {
  auto r = api->call("GET", "/api/users");
  ASSERT_EQ(r.status, 200);
  auto page = json::parse(r.body);
  ASSERT_EQ(page.size(), 100u);
  EXPECT_EQ(r.header("Link"), "</api/users?limit=100&after=" + std::to_string(page.back()["id"].get<std::int64_t>()) +
                                  ">; rel=\"next\"");
  EXPECT_EQ(json::parse(api->call("GET", "/api/users?limit=1000").body).size(), 1000u);
  EXPECT_EQ(json::parse(api->call("GET", "/api/users?limit=1").body).size(), 1u);
}

TEST_F(Pagination, BadLimitsAndCursorsAre400NamingTheParameter) {
  for (const std::string& q : std::vector<std::string>{"limit=0", "limit=1001", "limit=-1", "limit=abc", "limit=", "limit=1e2", "limit=99999999999999999999"})
    EXPECT_EQ(testkit::field_errors(api->call("GET", "/api/threads?" + q)).substr(0, 7), "limit: ") << q;
  for (const std::string& q : std::vector<std::string>{"after=-1", "after=x", "after=1.5", "after="})
    EXPECT_EQ(testkit::field_errors(api->call("GET", "/api/posts/in-thread/1?" + q)).substr(0, 7), "after: ") << q;
  EXPECT_EQ(testkit::field_errors(api->call("GET", "/api/users?limit=5&limit=6")), "limit: limit is given more than once\n");
  for (const std::string& q : std::vector<std::string>{"before=-1", "before=x", "before=", "before=1&before=2"})
    EXPECT_EQ(testkit::field_errors(api->call("GET", "/api/threads?" + q)).substr(0, 8), "before: ") << q;
  for (const std::string& q : std::vector<std::string>{"order=DESC", "order=newest", "order=", "order=asc&order=desc"})
    EXPECT_EQ(testkit::field_errors(api->call("GET", "/api/posts/by-user/1?" + q)).substr(0, 7), "order: ") << q;
  EXPECT_EQ(testkit::field_errors(api->call("GET", "/api/users?after=3&before=9")),
            "before: a page has one cursor: give after or before, not both\n");
  EXPECT_EQ(api->call("GET", "/api/users?limit=%zz").status, 400);
  // Encoded forms of valid values are fine; unknown parameters are ignored.
  EXPECT_EQ(json::parse(api->call("GET", "/api/users?limit=%32&utm_source=x").body).size(), 2u);
}

TEST_F(Pagination, EveryListRouteWalksToTheEndWithoutRepeats) {
  auto member = api->member("pager");
  auto thread = api->start_thread(member.token, "paged thread");
  db->query("INSERT INTO posts (thread_id, user_id, text) SELECT " + std::to_string(thread) + ", " +
            std::to_string(member.id) + ", 'post ' || n FROM generate_series(1, 250) n");
  struct {
    std::string first;
    std::size_t expected;
  } routes[] = {
      {"/api/users?limit=333", static_cast<std::size_t>(std::stoi(db->query("SELECT count(*) FROM users")))},
      {"/api/threads?limit=2", static_cast<std::size_t>(std::stoi(db->query("SELECT count(*) FROM threads")))},
      {"/api/posts/in-thread/" + std::to_string(thread) + "?limit=50", 250},  // exactly 5 pages
      {"/api/posts/by-user/" + std::to_string(member.id) + "?limit=7", 250},
  };
  for (const auto& r : routes) {
    int pages = 0;
    auto ids = walk(r.first, &pages);
    EXPECT_EQ(ids.size(), r.expected) << r.first;
    EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()) && std::adjacent_find(ids.begin(), ids.end()) == ids.end())
        << r.first;
    if (r.first.find("limit=50") != std::string::npos) {
      EXPECT_EQ(pages, 5) << "a full last page has no Link";
    }
  }
  // Past the end: an empty page for a parent that exists, 404 for one that does not.
  EXPECT_EQ(api->call("GET", "/api/posts/in-thread/" + std::to_string(thread) + "?after=9223372036854775").body, "[]");
  EXPECT_EQ(api->call("GET", "/api/posts/in-thread/424242?limit=5").status, 404);
}

// Newest first, and back: from the top of every list the next links walk
// down through every record once, and the prev links walk back up; the
// ascending pages walk back the same way.
TEST_F(Pagination, EveryListRouteWalksBothWaysInEitherOrder) {
  auto member = api->member("two_way_pager");
  auto thread = api->start_thread(member.token, "two-way thread");
  db->query("INSERT INTO posts (thread_id, user_id, text) SELECT " + std::to_string(thread) + ", " +
            std::to_string(member.id) + ", 'post ' || n FROM generate_series(1, 120) n");
  // Pages of a size that takes several of them on each list.
  const std::pair<std::string, std::string> lists[] = {
      {"/api/users", "97"},
      {"/api/threads", "2"},
      {"/api/posts/in-thread/" + std::to_string(thread), "37"},
      {"/api/posts/by-user/" + std::to_string(member.id), "37"},
  };
  for (const auto& [list, limit] : lists) {
    auto ascending = walk(list + "?limit=1000");
    ASSERT_FALSE(ascending.empty()) << list;
    std::vector<std::int64_t> newest_first(ascending.rbegin(), ascending.rend());
    int pages = 0;
    std::string bottom, top;
    EXPECT_EQ(walk(list + "?order=desc&limit=" + limit, &pages, "next", &bottom), newest_first) << list;
    EXPECT_GE(pages, 2) << list;
    // Back up from the last page: the pages come in the other order, each
    // still newest first; together, every record once more.
    auto up = walk(bottom, nullptr, "prev", &top);
    std::sort(up.begin(), up.end());
    EXPECT_EQ(up, ascending) << list;
    EXPECT_TRUE(link_of(api->call("GET", top).header("Link"), "prev").empty()) << list << ": the top has no prev";
    // The ascending pages walk back from their end the same way.
    std::string end;
    walk(list + "?limit=" + limit, nullptr, "next", &end);
    auto back = walk(end, nullptr, "prev");
    std::sort(back.begin(), back.end());
    EXPECT_EQ(back, ascending) << list;
  }
  // order=desc below a cursor, and ascending before one, hold the same records.
  auto page = json::parse(api->call("GET", "/api/posts/in-thread/" + std::to_string(thread) + "?limit=120").body);
  auto tenth = page[10]["id"].get<std::int64_t>();
  auto older = json::parse(api->call("GET", "/api/posts/in-thread/" + std::to_string(thread) + "?order=desc&limit=3&before=" +
                                               std::to_string(tenth)).body);
  auto before = json::parse(api->call("GET", "/api/posts/in-thread/" + std::to_string(thread) + "?limit=3&before=" +
                                                std::to_string(tenth)).body);
  ASSERT_EQ(older.size(), 3u);
  EXPECT_EQ(older[0]["id"], page[9]["id"]);
  EXPECT_EQ(older[2]["id"], page[7]["id"]);
  EXPECT_EQ(before[0]["id"], page[7]["id"]);
  EXPECT_EQ(before[2]["id"], page[9]["id"]);
}

// Pages are read while another client keeps posting to the same thread:
// every post that existed before the walk is seen exactly once, in order.
TEST_F(Pagination, StableUnderConcurrentInserts) {
  auto member = api->member("busy_writer");
  auto thread = api->start_thread(member.token, "busy thread");
  db->query("INSERT INTO posts (thread_id, user_id, text) SELECT " + std::to_string(thread) + ", " +
            std::to_string(member.id) + ", 'before ' || n FROM generate_series(1, 400) n");
  std::set<std::int64_t> before;
  for (const auto& id : walk("/api/posts/in-thread/" + std::to_string(thread) + "?limit=1000")) before.insert(id);
  ASSERT_EQ(before.size(), 400u);

  std::atomic<bool> reading{true};
  std::atomic<int> written{0};
  std::thread writer([&] {
    while (reading && written < 2000) {
      api->write_post(member.token, thread, "during " + std::to_string(written.load()));
      ++written;
    }
  });
  ASSERT_TRUE(testkit::eventually([&] { return written >= 5; })) << "the writer cannot post";
  int pages = 0;
  std::vector<std::int64_t> seen;
  for (int round = 0; round < 3; ++round) {
    seen = walk("/api/posts/in-thread/" + std::to_string(thread) + "?limit=23", &pages);
    EXPECT_TRUE(std::adjacent_find(seen.begin(), seen.end(), std::greater_equal<>()) == seen.end())
        << "ids repeat or go back";
    std::set<std::int64_t> unique(seen.begin(), seen.end());
    for (auto id : before) EXPECT_TRUE(unique.count(id)) << "post " << id << " was skipped";
  }
  // Newest first from the top: the new posts come only above the walk's
  // first page, so every older post is still seen exactly once.
  auto down = walk("/api/posts/in-thread/" + std::to_string(thread) + "?order=desc&limit=23");
  EXPECT_TRUE(std::adjacent_find(down.begin(), down.end(), std::less_equal<>()) == down.end()) << "ids repeat or go up";
  std::set<std::int64_t> unique_down(down.begin(), down.end());
  for (auto id : before) EXPECT_TRUE(unique_down.count(id)) << "post " << id << " was skipped newest first";
  reading = false;
  writer.join();
  std::printf("walked %d pages of 23 while %d posts were written\n", pages, written.load());
  EXPECT_GT(written.load(), 0);
  EXPECT_GT(seen.size(), before.size()) << "the walk saw none of the new posts";
}
