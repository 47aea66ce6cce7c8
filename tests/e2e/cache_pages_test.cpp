// The read cache's pages of lists, end to end: a change drops only the pages
// it can touch (http::touches), nothing stale is ever served, and a long
// random walk of writes reads the same through a cached instance as through
// one without a cache on the same database.
#include <gtest/gtest.h>

#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "support/forum.hpp"
#include "support/walk.hpp"
#include "support/testkit.hpp"

using namespace granite;
using nlohmann::json;
using testkit::http_client;
using testkit::http_response;

namespace {

struct CachePages : testkit::seeded_suite<CachePages> {};

long hits(http_client& c) { return testkit::cache_stats(c)["hits"]; }

// One granite of one worker, listening for notices, and a connection to it.
struct one_worker {
  testkit::server srv;
  testkit::forum_client api{srv.port()};
  http_client c{srv.port()};
  explicit one_worker(const std::string& url)
      : srv({.database_url = url, .workers = 1, .extra_args = testkit::brisk_hashing()}) {
    EXPECT_TRUE(testkit::eventually([&] { return testkit::cache_stats(c)["listening"] == true; }));
  }
  // Makes a write through this worker and waits for both of its notices:
  // the worker's own, applied before the answer, and the one PostgreSQL
  // sends when it commits, which drops the same pages again if they were
  // read in between (a refill, never a stale page). The tests of what a
  // change drops read after both.
  template <class Write>
  auto write(Write w) {
    long before = testkit::cache_stats(c)["notices"];
    auto out = w();
    EXPECT_TRUE(testkit::eventually([&] { return testkit::cache_stats(c)["notices"].get<long>() >= before + 2; }));
    return out;
  }
  std::int64_t post(const std::string& token, std::int64_t thread, const std::string& text) {
    return write([&] { return api.write_post(token, thread, text); });
  }
  // A new member's thread with `n` posts ("<text> 0", "<text> 1", ...),
  // each write's notices awaited, so that none of them arrives after the
  // test has begun to read and drops a page it expects to be kept.
  struct thread_of_posts {
    testkit::forum_client::account author;
    std::int64_t id;
    std::vector<std::int64_t> posts;
  };
  thread_of_posts thread_with(const std::string& author, int n, const std::string& text = "post") {
    thread_of_posts t{write([&] { return api.member(author); }), 0, {}};
    t.id = write([&] { return api.start_thread(t.author.token, "a thread of " + std::to_string(n) + " posts"); });
    for (int i = 0; i < n; ++i) t.posts.push_back(post(t.author.token, t.id, text + " " + std::to_string(i)));
    return t;
  }
  // Reads `target` and says whether the cache answered.
  std::pair<http_response, bool> read(const std::string& target) {
    long before = hits(c);
    auto r = c.request("GET", target);
    return {r, hits(c) == before + 1};
  }
};

std::string posts_in(std::int64_t thread, int limit, std::int64_t after = 0) {
  return "/api/posts/in-thread/" + std::to_string(thread) + "?limit=" + std::to_string(limit) +
         (after ? "&after=" + std::to_string(after) : "");
}

// Whether a page links on to the next one (a page from a cursor links back
// to the previous one too).
bool has_next(const http_response& r) { return r.header("link").find("rel=\"next\"") != std::string::npos; }

// The target a page's Link names as `rel`.
std::string link_of(const http_response& r, const std::string& rel) {
  auto header = r.header("link");
  auto at = header.find("; rel=\"" + rel + "\"");
  if (at == std::string::npos) return "";
  auto open = header.rfind('<', at);
  return header.substr(open + 1, at - 1 - (open + 1));
}

std::vector<std::int64_t> ids_of(const http_response& r) {
  std::vector<std::int64_t> out;
  for (const auto& item : json::parse(r.body)) out.push_back(item["id"].get<std::int64_t>());
  return out;
}

}  // namespace

TEST_F(CachePages, FullPagesSurviveANewPostAndTheLastPageChanges) {
  one_worker g(url);
  auto t = g.thread_with("long_thread_writer", 5);
  const auto& m = t.author;
  const auto thread = t.id;
  const auto& ids = t.posts;
  const std::vector<std::string> pages{posts_in(thread, 2), posts_in(thread, 2, ids[1]), posts_in(thread, 2, ids[3])};
  std::vector<http_response> before;
  for (const auto& p : pages) {
    before.push_back(g.c.request("GET", p));
    ASSERT_TRUE(g.read(p).second) << p;
  }
  ASSERT_TRUE(has_next(before[1]));
  ASSERT_FALSE(has_next(before[2]));  // the last page, one post on it

  g.post(m.token, thread, "one more");
  for (int i = 0; i < 2; ++i) {
    auto [r, hit] = g.read(pages[static_cast<std::size_t>(i)]);
    EXPECT_TRUE(hit) << pages[static_cast<std::size_t>(i)] << " was dropped by a post beyond it";
    EXPECT_EQ(r.body, before[static_cast<std::size_t>(i)].body);
    EXPECT_EQ(r.header("etag"), before[static_cast<std::size_t>(i)].header("etag"));
    EXPECT_EQ(r.header("link"), before[static_cast<std::size_t>(i)].header("link"));
  }
  auto [last, hit] = g.read(pages[2]);
  EXPECT_FALSE(hit);
  EXPECT_EQ(json::parse(last.body).size(), 2u);
  EXPECT_FALSE(has_next(last));  // exactly full now, and still the last

  // A post written by someone else, straight into the database: the
  // trigger's notice reaches the worker, and the page gains its Link.
  db->query("INSERT INTO posts (thread_id, user_id, text) VALUES (" + std::to_string(thread) + ", " +
            std::to_string(m.id) + ", 'by hand')");
  EXPECT_TRUE(testkit::eventually([&] { return has_next(g.c.request("GET", pages[2])); }));
  auto [first, first_hit] = g.read(pages[0]);
  EXPECT_TRUE(first_hit);
  EXPECT_EQ(first.body, before[0].body);
  EXPECT_GT(testkit::cache_stats(g.c)["spared"].get<long>(), 0);
}

TEST_F(CachePages, AnExactlyFullLastPageGainsItsNextLinkAndANewEtag) {
  one_worker g(url);
  auto t = g.thread_with("exact_writer", 2);
  const auto& m = t.author;
  const auto thread = t.id;
  const auto second = t.posts[1];
  auto page = posts_in(thread, 2);
  auto before = g.c.request("GET", page);
  ASSERT_EQ(before.header("link"), "");
  ASSERT_TRUE(g.read(page).second);

  g.post(m.token, thread, "three");
  auto [after, hit] = g.read(page);
  EXPECT_FALSE(hit);
  EXPECT_EQ(after.body, before.body);  // the same two posts...
  EXPECT_EQ(after.header("link"), "<" + std::string("/api/posts/in-thread/") + std::to_string(thread) +
                                      "?limit=2&after=" + std::to_string(second) + ">; rel=\"next\"");
  EXPECT_NE(after.header("etag"), before.header("etag"));  // ...but another response
  EXPECT_EQ(g.c.request("GET", page, {{"If-None-Match", before.header("etag")}}).status, 200);
  EXPECT_EQ(g.c.request("GET", page, {{"If-None-Match", after.header("etag")}}).status, 304);
}

TEST_F(CachePages, EditsAndDeletesDropOnlyThePagesThatHoldTheRecord) {
  one_worker g(url);
  auto t = g.thread_with("editor", 6);
  const auto& m = t.author;
  const auto thread = t.id;
  const auto& ids = t.posts;
  // [0 1] [2 3] [4 5]
  const std::vector<std::string> pages{posts_in(thread, 2), posts_in(thread, 2, ids[1]), posts_in(thread, 2, ids[3])};
  auto fill = [&] {
    for (const auto& p : pages) g.c.request("GET", p);
  };
  auto kept = [&] {
    std::vector<bool> out;
    for (const auto& p : pages) out.push_back(g.read(p).second);
    return out;
  };
  auto edit = [&](std::int64_t id) {
    auto r = g.write([&] { return g.api.call("PATCH", "/api/posts/" + std::to_string(id), json{{"text", "edited"}}.dump(), m.token); });
    EXPECT_EQ(r.status, 200) << r.body;
  };
  auto remove = [&](std::int64_t id) {
    EXPECT_EQ(g.write([&] { return g.api.call("DELETE", "/api/posts/" + std::to_string(id), "", m.token); }).status, 204);
  };
  fill();
  edit(ids[1]);
  EXPECT_EQ(kept(), (std::vector<bool>{false, true, true}));
  edit(ids[4]);
  EXPECT_EQ(kept(), (std::vector<bool>{true, true, false}));
  remove(ids[5]);  // on the last page, and the next of none
  EXPECT_EQ(kept(), (std::vector<bool>{true, true, false}));
  remove(ids[3]);  // its page holds it; the page after it starts after it
  EXPECT_EQ(kept(), (std::vector<bool>{true, false, true}));
  remove(ids[2]);  // the first page's next: its Link may have gone
  EXPECT_EQ(kept(), (std::vector<bool>{false, false, true}));

  // A user renamed: the user and the user pages that show it, not its posts.
  auto user_page = "/api/users?limit=1&after=" + std::to_string(m.id - 1);
  auto other_page = "/api/users?limit=1&after=" + std::to_string(m.id);
  auto by_user = "/api/posts/by-user/" + std::to_string(m.id);
  for (const auto& t : {user_page, other_page, by_user}) g.c.request("GET", t);
  auto r = g.write([&] { return g.api.call("PATCH", "/api/users/" + std::to_string(m.id), json{{"name", "Renamed"}}.dump(), m.token); });
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(g.read(user_page).second);
  EXPECT_TRUE(g.read(other_page).second);
  EXPECT_TRUE(g.read(by_user).second);
}

// Newest first: a new post lands on the top page only, and the pages below
// it are kept; an edit or a delete drops the page that shows the post, and
// the one it was the next of.
TEST_F(CachePages, NewestFirstPagesBelowTheTopSurviveANewPost) {
  one_worker g(url);
  auto t = g.thread_with("newest_first_writer", 5);
  const auto& ids = t.posts;
  auto top = "/api/posts/in-thread/" + std::to_string(t.id) + "?limit=2&order=desc";
  auto first = g.c.request("GET", top);
  ASSERT_EQ(ids_of(first), (std::vector<std::int64_t>{ids[4], ids[3]}));
  auto below = link_of(first, "next");
  ASSERT_NE(below, "");
  auto second = g.c.request("GET", below);
  ASSERT_EQ(ids_of(second), (std::vector<std::int64_t>{ids[2], ids[1]}));
  EXPECT_NE(link_of(second, "prev"), "");
  ASSERT_TRUE(g.read(top).second);
  ASSERT_TRUE(g.read(below).second);

  auto newest = g.post(t.author.token, t.id, "newest");
  auto [top_now, top_hit] = g.read(top);
  EXPECT_FALSE(top_hit);
  EXPECT_EQ(ids_of(top_now), (std::vector<std::int64_t>{newest, ids[4]}));
  auto [second_now, second_hit] = g.read(below);
  EXPECT_TRUE(second_hit) << "a new post dropped a page below the top";
  EXPECT_EQ(second_now.body, second.body);
  EXPECT_EQ(second_now.header("link"), second.header("link"));

  // ids[0] is the next of the second page: deleting it changes that
  // page's Link, and the top page keeps.
  ASSERT_TRUE(g.read(top).second);
  EXPECT_EQ(g.write([&] { return g.api.call("DELETE", "/api/posts/" + std::to_string(ids[0]), "", t.author.token); }).status,
            204);
  auto [second_last, dropped_hit] = g.read(below);
  EXPECT_FALSE(dropped_hit);
  EXPECT_EQ(link_of(second_last, "next"), "") << "nothing is older now";
  EXPECT_TRUE(g.read(top).second);
  // An edit of a post on the top page drops it, not the one below.
  auto edited = g.write([&] {
    return g.api.call("PATCH", "/api/posts/" + std::to_string(ids[4]), json{{"text", "edited"}}.dump(), t.author.token);
  });
  ASSERT_EQ(edited.status, 200) << edited.body;
  EXPECT_FALSE(g.read(top).second);
  EXPECT_TRUE(g.read(below).second);
}

// A page over 1 KiB is kept with a gzip variant: a client that asks for it
// gets it, with its own ETag, Vary, and 304s of its own.
TEST_F(CachePages, AGzipVariantInflatesToThePageWithItsOwnEtag) {
  one_worker g(url);
  auto t = g.thread_with("gzip_writer", 30, "a post of some length, number");
  const auto& m = t.author;
  const auto thread = t.id;
  auto page = posts_in(thread, 20);
  const std::pair<std::string, std::string> gzip{"Accept-Encoding", "gzip, deflate, br"};
  auto plain = g.c.request("GET", page);
  auto gz = g.c.request("GET", page, {gzip});
  ASSERT_EQ(gz.status, 200);
  EXPECT_EQ(gz.header("content-encoding"), "gzip");
  EXPECT_EQ(gz.header("vary"), "Accept-Encoding");
  EXPECT_EQ(plain.header("vary"), "Accept-Encoding");
  EXPECT_EQ(plain.header("content-encoding"), "");
  EXPECT_LT(gz.body.size(), plain.body.size() / 2);
  EXPECT_EQ(testkit::gunzip(gz.body), plain.body);
  EXPECT_EQ(gz.header("link"), plain.header("link"));
  EXPECT_NE(gz.header("etag"), plain.header("etag"));
  auto [again, hit] = g.read(page);
  EXPECT_TRUE(hit);
  EXPECT_EQ(g.c.request("GET", page, {gzip}).body, gz.body);  // the same bytes every time

  // A 304 for the variant the client has, and only for it.
  auto nm = g.c.request("GET", page, {gzip, {"If-None-Match", gz.header("etag")}});
  EXPECT_EQ(nm.status, 304);
  EXPECT_EQ(nm.header("etag"), gz.header("etag"));
  EXPECT_EQ(nm.header("vary"), "Accept-Encoding");
  EXPECT_EQ(g.c.request("GET", page, {gzip, {"If-None-Match", plain.header("etag")}}).status, 200);
  EXPECT_EQ(g.c.request("GET", page, {{"If-None-Match", gz.header("etag")}}).status, 200);
  EXPECT_EQ(g.c.request("GET", page, {{"If-None-Match", plain.header("etag")}}).status, 304);
  // Weights: gzip refused, or the identity preferred.
  EXPECT_EQ(g.c.request("GET", page, {{"Accept-Encoding", "gzip;q=0"}}).body, plain.body);
  EXPECT_EQ(g.c.request("GET", page, {{"Accept-Encoding", "gzip;q=0.5, identity"}}).body, plain.body);
  auto head = g.c.request("HEAD", page, {gzip});
  EXPECT_EQ(head.header("content-length"), std::to_string(gz.body.size()));
  EXPECT_EQ(head.header("content-encoding"), "gzip");

  // A small body goes as it is, and says nothing of encodings.
  auto user = g.c.request("GET", "/api/users/" + std::to_string(m.id), {gzip});
  EXPECT_EQ(user.header("content-encoding"), "");
  EXPECT_EQ(user.header("vary"), "");
  // A new post beyond the page leaves both variants as they were.
  g.post(m.token, thread, "one more");
  auto [after, kept] = g.read(page);
  EXPECT_TRUE(kept);
  EXPECT_EQ(g.c.request("GET", page, {gzip}).header("etag"), gz.header("etag"));
}

// Without a cache, a client that takes gzip gets it all the same, made for
// its request: the same bytes as a kept variant would be, with the same
// ETag, Vary and 304s.
TEST_F(CachePages, AnAnswerThatIsNotKeptIsCompressedForAClientThatTakesGzip) {
  one_worker g(url);
  auto t = g.thread_with("unkept_gzip_writer", 30, "a post of some length, number");
  auto page = posts_in(t.id, 20);
  const std::pair<std::string, std::string> gzip{"Accept-Encoding", "gzip"};
  auto kept_plain = g.c.request("GET", page);
  auto kept_gz = g.c.request("GET", page, {gzip});

  auto off_args = testkit::brisk_hashing();
  off_args.insert(off_args.end(), {"--set", "cache.enabled=false"});
  testkit::server off({.database_url = url, .workers = 1, .extra_args = off_args});
  http_client c(off.port());
  auto plain = c.request("GET", page);
  auto gz = c.request("GET", page, {gzip});
  ASSERT_EQ(gz.status, 200);
  EXPECT_EQ(gz.header("content-encoding"), "gzip");
  EXPECT_EQ(gz.header("vary"), "Accept-Encoding");
  EXPECT_EQ(plain.header("content-encoding"), "");
  EXPECT_EQ(plain.header("vary"), "Accept-Encoding");  // another client may get gzip
  EXPECT_EQ(testkit::gunzip(gz.body), plain.body);
  EXPECT_EQ(plain.body, kept_plain.body);
  EXPECT_EQ(gz.body, kept_gz.body);
  EXPECT_EQ(gz.header("etag"), kept_gz.header("etag"));
  EXPECT_EQ(plain.header("etag"), kept_plain.header("etag"));
  EXPECT_EQ(c.request("GET", page, {gzip, {"If-None-Match", gz.header("etag")}}).status, 304);
  EXPECT_EQ(c.request("GET", page, {gzip, {"If-None-Match", plain.header("etag")}}).status, 200);
  EXPECT_EQ(c.request("GET", page, {{"If-None-Match", gz.header("etag")}}).status, 200);
  EXPECT_EQ(c.request("GET", page, {{"Accept-Encoding", "gzip;q=0"}}).header("content-encoding"), "");
  EXPECT_EQ(testkit::cache_stats(c)["fills"], 0);
}


// A cached instance of two workers (the writes go through it, to either
// worker) against an instance with cache.enabled=false on the same
// database: every read agrees, byte for byte, at once.
TEST_F(CachePages, ARandomWalkReadsTheSameAsWithoutACache) {
  auto args = testkit::brisk_hashing();
  args.insert(args.end(), {"--set", "http.max_requests_per_connection=0"});
  testkit::server cached({.database_url = url, .workers = 2, .extra_args = args});
  auto off_args = args;
  off_args.insert(off_args.end(), {"--set", "cache.enabled=false"});
  testkit::server plain({.database_url = url, .workers = 1, .extra_args = off_args});
  auto conns = testkit::one_per_worker(cached.port(), 2);
  ASSERT_EQ(conns.size(), 2u);
  for (auto& c : conns) ASSERT_TRUE(testkit::eventually([&] { return testkit::cache_stats(*c)["listening"] == true; }));
  http_client reference(plain.port());
  auto r = testkit::random_walk(url, cached.port(), conns, reference, conns.size(), 400, std::chrono::milliseconds(0));
  json s0 = testkit::cache_stats(*conns[0]), s1 = testkit::cache_stats(*conns[1]);
  std::cout << "[ walk     ] " << r.steps << " writes, " << r.reads << " cached reads, " << r.tombstones
            << " answers with a tombstone, " << r.mismatches << " mismatches; hits " << s0["hits"] << " + " << s1["hits"] << ", pages spared " << s0["spared"] << " + "
            << s1["spared"] << "\n";
  EXPECT_EQ(r.mismatches, 0);
  EXPECT_EQ(r.leaks, 0);
  EXPECT_GT(r.tombstones, 0) << "the walk's moderator removed nothing that was read";
  EXPECT_EQ(r.steps, 400);
  EXPECT_GT(s0["hits"].get<long>() + s1["hits"].get<long>(), 0);
  EXPECT_GT(s0["spared"].get<long>() + s1["spared"].get<long>(), 0);
}

// Two cached instances of one worker each, the writes through the first:
// the second learns of them through PostgreSQL's notices, within a moment,
// and never serves a stale page once it has.
TEST_F(CachePages, ARandomWalkReadsTheSameOnTwoCachedInstances) {
  auto args = testkit::brisk_hashing();
  args.insert(args.end(), {"--set", "http.max_requests_per_connection=0"});
  testkit::server a({.database_url = url, .workers = 1, .extra_args = args});
  testkit::server b({.database_url = url, .workers = 1, .extra_args = args});
  auto off_args = args;
  off_args.insert(off_args.end(), {"--set", "cache.enabled=false"});
  testkit::server plain({.database_url = url, .workers = 1, .extra_args = off_args});
  std::vector<std::unique_ptr<http_client>> conns;
  conns.push_back(std::make_unique<http_client>(a.port()));
  conns.push_back(std::make_unique<http_client>(b.port()));
  for (auto& c : conns) ASSERT_TRUE(testkit::eventually([&] { return testkit::cache_stats(*c)["listening"] == true; }));
  http_client reference(plain.port());
  auto r = testkit::random_walk(url, a.port(), conns, reference, 1, 300, std::chrono::seconds(5));
  std::cout << "[ walk     ] " << r.steps << " writes, " << r.reads << " cached reads, " << r.tombstones
            << " answers with a tombstone, " << r.late
            << " read on the other instance before its notice came, " << r.mismatches << " mismatches\n";
  EXPECT_EQ(r.mismatches, 0);
  EXPECT_EQ(r.leaks, 0);
  EXPECT_EQ(r.steps, 300);
  EXPECT_GT(testkit::cache_stats(*conns[1])["hits"].get<long>(), 0);
}
