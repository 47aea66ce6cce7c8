#include "granite/http/cache.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "granite/features/cached.hpp"
#include "granite/shm/notice_ring.hpp"

namespace {

using granite::http::cache_group;
// The features' kinds of cached responses, and what their notices drop.
namespace cache_kind = granite::features::cached;
using granite::features::read_notice;
using granite::http::cached_response;
using granite::http::read_cache;

std::shared_ptr<const cached_response> body(const std::string& text) {
  auto r = std::make_shared<cached_response>();
  r->body = text;
  r->etag = granite::http::etag_of(text);
  return r;
}

// A page of a list, spanning `span`.
std::shared_ptr<const cached_response> page(granite::http::page_span span) {
  auto r = std::make_shared<cached_response>(*body("[]"));
  r->page = span;
  return r;
}

struct listening_cache : read_cache {
  explicit listening_cache(std::size_t limit = 1 << 20) : read_cache(limit, true, read_notice) { set_listening(true); }
  void put(const std::string& target, cache_group g, const std::string& text = "x") { fill(target, g, body(text), epoch()); }
  void put_page(const std::string& target, cache_group g, granite::http::page_span span) {
    fill(target, g, page(span), epoch());
  }
  bool has(const std::string& target) { return find(target) != nullptr; }
};

TEST(ReadCache, KeepsWhatItIsGivenAndCountsHitsAndMisses) {
  listening_cache c;
  EXPECT_FALSE(c.has("/api/users/1"));
  EXPECT_EQ(c.snapshot().misses, 0u) << "not finding is no miss: the target may not be cacheable";
  c.count_miss();
  c.put("/api/users/1", {cache_kind::user, 1}, "{\"id\":1}");
  auto hit = c.find("/api/users/1");
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->body, "{\"id\":1}");
  auto s = c.snapshot();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.entries, 1u);
  EXPECT_GT(s.bytes, 0u);
}

TEST(ReadCache, IsBypassedUntilTheNoticesAreReceivedAndWhenDisabled) {
  read_cache c(1 << 20, true, read_notice);
  c.fill("/a", {cache_kind::user, 1}, body("x"), c.epoch());
  EXPECT_FALSE(c.find("/a"));
  EXPECT_EQ(c.snapshot().entries, 0u);

  read_cache off(1 << 20, false, read_notice);
  off.set_listening(true);
  EXPECT_FALSE(off.usable());
  off.fill("/a", {cache_kind::user, 1}, body("x"), off.epoch());
  EXPECT_FALSE(off.find("/a"));
}

TEST(ReadCache, LosingTheNoticesFlushesAndBypasses) {
  listening_cache c;
  c.put("/api/users/1", {cache_kind::user, 1});
  c.set_listening(false);
  EXPECT_FALSE(c.has("/api/users/1"));
  EXPECT_EQ(c.snapshot().entries, 0u);
  c.set_listening(true);
  EXPECT_FALSE(c.has("/api/users/1"));  // not kept across the gap
}

TEST(ReadCache, AUserNoticeDropsTheUserTheUserListsAndTheirPosts) {
  listening_cache c;
  c.put("/api/users/5", {cache_kind::user, 5});
  c.put("/api/users/6", {cache_kind::user, 6});
  c.put("/api/users", {cache_kind::users, 0});
  c.put("/api/users?after=100", {cache_kind::users, 0});
  c.put("/api/posts/by-user/5", {cache_kind::posts_by_user, 5});
  c.put("/api/threads/5", {cache_kind::thread, 5});
  ASSERT_TRUE(c.apply_notice("u:5"));
  EXPECT_FALSE(c.has("/api/users/5"));
  EXPECT_FALSE(c.has("/api/users"));
  EXPECT_FALSE(c.has("/api/users?after=100"));
  EXPECT_FALSE(c.has("/api/posts/by-user/5"));
  EXPECT_TRUE(c.has("/api/users/6"));
  EXPECT_TRUE(c.has("/api/threads/5"));
}

TEST(ReadCache, ThreadAndPostNoticesDropWhatShowsThem) {
  listening_cache c;
  c.put("/api/threads/4", {cache_kind::thread, 4});
  c.put("/api/threads", {cache_kind::threads, 0});
  c.put("/api/posts/in-thread/4", {cache_kind::posts_in_thread, 4});
  c.put("/api/posts/in-thread/4?limit=5", {cache_kind::posts_in_thread, 4});
  c.put("/api/posts/in-thread/7", {cache_kind::posts_in_thread, 7});
  c.put("/api/posts/10", {cache_kind::post, 10});
  c.put("/api/posts/by-user/3", {cache_kind::posts_by_user, 3});
  c.put("/api/users/3", {cache_kind::user, 3});

  ASSERT_TRUE(c.apply_notice("p:10:7:3"));
  EXPECT_FALSE(c.has("/api/posts/10"));
  EXPECT_FALSE(c.has("/api/posts/in-thread/7"));
  EXPECT_FALSE(c.has("/api/posts/by-user/3"));
  EXPECT_TRUE(c.has("/api/posts/in-thread/4"));
  EXPECT_TRUE(c.has("/api/users/3"));

  ASSERT_TRUE(c.apply_notice("t:4"));
  EXPECT_FALSE(c.has("/api/threads/4"));
  EXPECT_FALSE(c.has("/api/threads"));
  EXPECT_FALSE(c.has("/api/posts/in-thread/4"));
  EXPECT_FALSE(c.has("/api/posts/in-thread/4?limit=5"));
  EXPECT_TRUE(c.has("/api/users/3"));

  ASSERT_TRUE(c.apply_notice("*"));
  EXPECT_EQ(c.snapshot().entries, 0u);
}

// touches(): which pages a change of one record of their list can touch.
TEST(ReadCache, AChangeTouchesOnlyThePagesItCanChange) {
  using granite::http::list_change;
  using granite::http::page_span;
  using granite::http::touches;
  const page_span full{0, 100, 101};       // ids 1..100 of more
  const page_span last{100, 150, 0};       // the rest: 101..150
  const page_span exactly_full{150, 200, 0};  // full and last: no rel="next" yet
  const page_span empty{200, 200, 0};
  // A new record: beyond a page that has a next one, nothing changes.
  EXPECT_FALSE(touches(&full, list_change::insert, 151));
  EXPECT_FALSE(touches(&full, list_change::insert, 101));  // it does not show its next
  EXPECT_TRUE(touches(&full, list_change::insert, 50));    // an id given by hand, among its own
  EXPECT_TRUE(touches(&last, list_change::insert, 151));   // it joins a page that has room
  EXPECT_TRUE(touches(&exactly_full, list_change::insert, 201));  // it gives the page its rel="next"
  EXPECT_TRUE(touches(&empty, list_change::insert, 201));
  EXPECT_FALSE(touches(&last, list_change::insert, 100));  // below the page
  // An edit: only the page that shows it.
  EXPECT_TRUE(touches(&full, list_change::update, 1));
  EXPECT_TRUE(touches(&full, list_change::update, 100));
  EXPECT_FALSE(touches(&full, list_change::update, 101));
  EXPECT_FALSE(touches(&last, list_change::update, 100));
  EXPECT_FALSE(touches(&empty, list_change::update, 201));
  // A delete: the page that shows it, and the page whose next it was.
  EXPECT_TRUE(touches(&full, list_change::remove, 7));
  EXPECT_TRUE(touches(&full, list_change::remove, 101));
  EXPECT_FALSE(touches(&full, list_change::remove, 102));
  EXPECT_FALSE(touches(&last, list_change::remove, 151));
  EXPECT_FALSE(touches(&last, list_change::remove, 99));
  // A change of unknown kind, or a response that is no page: every one.
  EXPECT_TRUE(touches(&full, list_change::any, 5000));
  EXPECT_TRUE(touches(nullptr, list_change::update, 5000));
}

// Pages read below a cursor (order=desc, before=): the same rules over the
// ids negated.
TEST(ReadCache, APageBelowItsCursorIsTouchedFromTheOtherSide) {
  using granite::http::list_change;
  using granite::http::page_span;
  using granite::http::touches;
  constexpr auto top = std::numeric_limits<std::int64_t>::max();
  const page_span newest{-top, -101, -100, true};   // 150..101 of more, newest first
  const page_span older{-101, -51, -50, true};       // 100..51 of more
  const page_span oldest{-51, -1, 0, true};          // 50..1: no older
  const page_span before_ten{-10, -10, 0, true};     // nothing under 10
  // Every new record lands on the newest page, and on no other.
  EXPECT_TRUE(touches(&newest, list_change::insert, 151));
  EXPECT_FALSE(touches(&older, list_change::insert, 151));
  EXPECT_FALSE(touches(&oldest, list_change::insert, 151));
  // An edit: only the page that shows it.
  EXPECT_TRUE(touches(&newest, list_change::update, 101));
  EXPECT_TRUE(touches(&newest, list_change::update, 150));
  EXPECT_FALSE(touches(&newest, list_change::update, 100));
  EXPECT_TRUE(touches(&older, list_change::update, 100));
  EXPECT_FALSE(touches(&older, list_change::update, 101));  // the cursor itself is not on it
  EXPECT_FALSE(touches(&older, list_change::update, 50));
  EXPECT_TRUE(touches(&oldest, list_change::update, 1));
  // A delete: the page that shows it, and the page whose next it was.
  EXPECT_TRUE(touches(&newest, list_change::remove, 100));
  EXPECT_FALSE(touches(&newest, list_change::remove, 99));
  EXPECT_TRUE(touches(&older, list_change::remove, 50));
  EXPECT_FALSE(touches(&oldest, list_change::remove, 51));
  // A page with nothing under it gains what lands there (an id given by
  // hand), nothing else.
  EXPECT_TRUE(touches(&before_ten, list_change::insert, 9));
  EXPECT_FALSE(touches(&before_ten, list_change::insert, 10));
  EXPECT_FALSE(touches(&before_ten, list_change::update, 11));
  // No record has an id of 0 or less; a notice that says so drops it.
  EXPECT_TRUE(touches(&older, list_change::update, 0));
  EXPECT_TRUE(touches(&older, list_change::update, std::numeric_limits<std::int64_t>::min()));
}


TEST(ReadCache, ANewPostDropsOnlyTheLastPagesOfItsThreadAndAuthor) {
  listening_cache c;
  c.put_page("/api/posts/in-thread/7", {cache_kind::posts_in_thread, 7}, {0, 100, 101});
  c.put_page("/api/posts/in-thread/7?after=100", {cache_kind::posts_in_thread, 7}, {100, 150, 0});
  c.put_page("/api/posts/by-user/3?limit=2", {cache_kind::posts_by_user, 3}, {0, 20, 40});
  c.put_page("/api/posts/by-user/3?limit=2&after=40", {cache_kind::posts_by_user, 3}, {40, 90, 0});
  ASSERT_TRUE(c.apply_notice("p+:151:7:3"));
  EXPECT_TRUE(c.has("/api/posts/in-thread/7"));
  EXPECT_FALSE(c.has("/api/posts/in-thread/7?after=100"));
  EXPECT_TRUE(c.has("/api/posts/by-user/3?limit=2"));
  EXPECT_FALSE(c.has("/api/posts/by-user/3?limit=2&after=40"));
  EXPECT_EQ(c.snapshot().spared, 2u);
  // An edit of a post on the first page drops that page and no other.
  c.put_page("/api/posts/in-thread/7?after=100", {cache_kind::posts_in_thread, 7}, {100, 151, 0});
  ASSERT_TRUE(c.apply_notice("p=:20:7:3"));
  EXPECT_FALSE(c.has("/api/posts/in-thread/7"));
  EXPECT_TRUE(c.has("/api/posts/in-thread/7?after=100"));
  EXPECT_FALSE(c.has("/api/posts/by-user/3?limit=2"));
  // Without its op, a notice drops every page of the lists it names.
  ASSERT_TRUE(c.apply_notice("p:900:7:4"));
  EXPECT_FALSE(c.has("/api/posts/in-thread/7?after=100"));
}

TEST(ReadCache, AUserOrThreadChangedInPlaceKeepsItsPosts) {
  listening_cache c;
  c.put("/api/posts/by-user/5", {cache_kind::posts_by_user, 5});
  c.put("/api/posts/in-thread/4", {cache_kind::posts_in_thread, 4});
  c.put_page("/api/users?limit=2", {cache_kind::users, 0}, {0, 2, 3});
  c.put("/api/users/5", {cache_kind::user, 5});
  ASSERT_TRUE(c.apply_notice("u=:5"));
  ASSERT_TRUE(c.apply_notice("t=:4"));
  EXPECT_FALSE(c.has("/api/users/5"));
  EXPECT_TRUE(c.has("/api/users?limit=2"));  // 5 is not on it
  EXPECT_TRUE(c.has("/api/posts/by-user/5"));
  EXPECT_TRUE(c.has("/api/posts/in-thread/4"));
  // Gone, its pages of posts are 404s now.
  ASSERT_TRUE(c.apply_notice("u-:5"));
  ASSERT_TRUE(c.apply_notice("t-:4"));
  EXPECT_FALSE(c.has("/api/posts/by-user/5"));
  EXPECT_FALSE(c.has("/api/posts/in-thread/4"));
  EXPECT_TRUE(c.has("/api/users?limit=2"));
}

TEST(ReadCache, AReadOvertakenByAChangeThatCannotTouchItIsKept) {
  listening_cache c;
  auto since = c.epoch();
  ASSERT_TRUE(c.apply_notice("p+:500:7:3"));  // beyond the page being read, which has a next one
  c.fill("/api/posts/in-thread/7", {cache_kind::posts_in_thread, 7}, page({0, 100, 101}), since);
  EXPECT_TRUE(c.has("/api/posts/in-thread/7"));
  ASSERT_TRUE(c.apply_notice("p-:101:7:3"));  // its next one: the Link may be gone
  EXPECT_FALSE(c.has("/api/posts/in-thread/7"));
  since = c.epoch();
  ASSERT_TRUE(c.apply_notice("p=:5:7:3"));  // on the page being read
  c.fill("/api/posts/in-thread/7", {cache_kind::posts_in_thread, 7}, page({0, 100, 102}), since);
  EXPECT_FALSE(c.has("/api/posts/in-thread/7"));
}

TEST(ReadCache, MalformedNoticesAreRefusedAndDropNothing) {
  listening_cache c;
  c.put("/api/users/1", {cache_kind::user, 1});
  for (const char* bad : {"", "u", "u:", "u:x", "u:1:2", "p:1:2", "p:1:2:3:4", "t:-1", "t:0", "x:1", "u:99999999999999999999",
                          "**", "u 1"})
    EXPECT_FALSE(c.apply_notice(bad)) << bad;
  EXPECT_TRUE(c.has("/api/users/1"));
}

TEST(ReadCache, AReadThatANoticeOvertookIsAnsweredButNotKept) {
  listening_cache c;
  auto since = c.epoch();  // the read starts
  ASSERT_TRUE(c.apply_notice("u:1"));  // the user changes meanwhile
  c.fill("/api/users/1", {cache_kind::user, 1}, body("old"), since);
  EXPECT_FALSE(c.has("/api/users/1"));
  EXPECT_EQ(c.snapshot().refused_fills, 1u);
  // A notice about something else does not stop it.
  since = c.epoch();
  ASSERT_TRUE(c.apply_notice("u:2"));
  c.fill("/api/users/1", {cache_kind::user, 1}, body("new"), since);
  EXPECT_TRUE(c.has("/api/users/1"));
  // Nor does one from before it started.
  c.fill("/api/users/3", {cache_kind::user, 3}, body("new"), c.epoch());
  EXPECT_TRUE(c.has("/api/users/3"));
}

TEST(ReadCache, AReadThatAFlushOvertookIsNotKept) {
  listening_cache c;
  auto since = c.epoch();
  c.set_listening(false);
  c.set_listening(true);
  c.fill("/api/users/1", {cache_kind::user, 1}, body("old"), since);
  EXPECT_FALSE(c.has("/api/users/1"));
}

TEST(ReadCache, EvictsTheLeastRecentlyUsedWithinItsLimit) {
  listening_cache c(4096);
  std::string text(500, 'x');
  c.put("/a", {cache_kind::user, 1}, text);
  c.put("/b", {cache_kind::user, 2}, text);
  c.put("/c", {cache_kind::user, 3}, text);
  EXPECT_TRUE(c.has("/a"));  // now the most recent
  for (int i = 0; i < 20; ++i) {
    c.put("/d" + std::to_string(i), {cache_kind::user, 10 + i}, text);
    EXPECT_LE(c.snapshot().bytes, 4096u);
  }
  EXPECT_FALSE(c.has("/b"));
  EXPECT_GT(c.snapshot().evictions, 0u);
  // An evicted entry leaves its group cleanly: a notice for it is harmless.
  EXPECT_TRUE(c.apply_notice("u:2"));
  // Too large for the cache (over a quarter of it): not kept.
  c.put("/huge", {cache_kind::user, 99}, std::string(2000, 'y'));
  EXPECT_FALSE(c.has("/huge"));
}

TEST(ReadCache, ReplacingAnEntryKeepsTheAccountsStraight) {
  listening_cache c;
  c.put("/a", {cache_kind::user, 1}, "one");
  auto bytes = c.snapshot().bytes;
  c.put("/a", {cache_kind::user, 1}, "two");
  EXPECT_EQ(c.snapshot().bytes, bytes);
  EXPECT_EQ(c.snapshot().entries, 1u);
  EXPECT_EQ(c.find("/a")->body, "two");
  ASSERT_TRUE(c.apply_notice("u:1"));
  EXPECT_EQ(c.snapshot().bytes, 0u);
}

TEST(Etag, IsAQuotedStableHashOfTheBodyAndItsLink) {
  auto a = granite::http::etag_of("{\"id\":1}");
  EXPECT_EQ(a.size(), 18u);
  EXPECT_EQ(a.front(), '"');
  EXPECT_EQ(a.back(), '"');
  EXPECT_EQ(a, granite::http::etag_of("{\"id\":1}"));
  EXPECT_NE(a, granite::http::etag_of("{\"id\":2}"));
  // XXH3's 64 bits, as xxHash's own xxhsum -H3 gives them: the same on every
  // build and machine, short bodies and long (past 240 bytes, another path).
  EXPECT_EQ(granite::http::etag_of(""), "\"2d06800538d394c2\"");
  EXPECT_EQ(a, "\"eae780b141b62740\"");
  std::string users = "[";
  for (int i = 1; i <= 20; ++i)
    users += (i > 1 ? "," : "") + std::string("{\"id\":") + std::to_string(i) + ",\"name\":\"user " +
             std::to_string(i) + "\"}";
  users += "]";
  ASSERT_EQ(users.size(), 523u);
  EXPECT_EQ(granite::http::etag_of(users), "\"5cb3123ad2482422\"");
  // The same records with a next page are another response.
  const std::string link = "Link: </api/users?limit=1&after=1>; rel=\"next\"\r\n";
  EXPECT_NE(granite::http::etag_of("[{\"id\":1}]", link), granite::http::etag_of("[{\"id\":1}]"));
  EXPECT_EQ(granite::http::etag_of("[{\"id\":1}]", ""), granite::http::etag_of("[{\"id\":1}]"));
}

TEST(Etag, IfNoneMatchTakesListsWeakTagsAndTheStar) {
  using granite::http::etag_matches;
  std::string tag = "\"0123456789abcdef\"";
  EXPECT_TRUE(etag_matches(tag, tag));
  EXPECT_TRUE(etag_matches("\"x\", " + tag, tag));
  EXPECT_TRUE(etag_matches("W/" + tag, tag));
  EXPECT_TRUE(etag_matches("*", tag));
  EXPECT_FALSE(etag_matches("\"x\"", tag));
  EXPECT_FALSE(etag_matches("0123456789abcdef", tag));  // unquoted
  EXPECT_FALSE(etag_matches("", tag));
}

// The grammar of RFC 9110 §13.1.2, as tests/fuzz/etags.cpp checks it at
// large: commas inside an entity-tag, empty list elements, and a value that
// breaks the grammar matching nothing (the full response is always safe).
// If-Match (RFC 9110 §13.1.1) compares strongly: a weak tag can never
// match, so it is left out; a value that breaks the grammar is refused
// (a write must not run on a precondition it could not read).
TEST(Etag, IfMatchKeepsTheStrongTagsAndRefusesWhatBreaksTheGrammar) {
  using granite::http::parse_if_match;
  auto star = parse_if_match(" * ");
  ASSERT_TRUE(star);
  EXPECT_TRUE(star->present);
  EXPECT_TRUE(star->any);
  auto list = parse_if_match("\"r1.5\", W/\"r1.6\" ,, \"a,b\"");
  ASSERT_TRUE(list);
  EXPECT_FALSE(list->any);
  EXPECT_EQ(list->tags, (std::vector<std::string>{"\"r1.5\"", "\"a,b\""}));
  auto only_weak = parse_if_match("W/\"r1.6\"");
  ASSERT_TRUE(only_weak);
  EXPECT_TRUE(only_weak->present);
  EXPECT_TRUE(only_weak->tags.empty());  // matches nothing
  auto empty = parse_if_match("");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->tags.empty());
  for (const char* bad : {"r1.5", "\"r1.5", "*, \"r1.5\"", "\"a b\"", "\"a\" junk", "w/\"a\""}) {
    auto refused = parse_if_match(bad);
    ASSERT_FALSE(refused) << bad;
    EXPECT_EQ(refused.err().kind, granite::error::code::invalid_argument) << bad;
  }
}

TEST(Etag, IfNoneMatchFollowsTheGrammar) {
  using granite::http::etag_matches;
  std::string tag = "\"0123456789abcdef\"";
  EXPECT_TRUE(etag_matches(" , \"a,b\" ,," + tag + ", ", tag));
  EXPECT_TRUE(etag_matches("\"a\", W/" + tag + " ,\"b\"", tag));  // found, then more of the list
  EXPECT_FALSE(etag_matches("\"a," + tag, tag));                   // one unterminated tag
  EXPECT_FALSE(etag_matches("\"a\" junk, " + tag, tag));
  EXPECT_FALSE(etag_matches("w/" + tag, tag));  // W/ is case-sensitive
  EXPECT_FALSE(etag_matches("*, " + tag, tag));  // "*" stands alone
  EXPECT_FALSE(etag_matches("\"a b\", " + tag, tag));  // no space inside a tag
}

}  // namespace

namespace {
std::vector<std::string> read_all(const granite::shm::notice_ring& ring, std::uint64_t& next, bool& complete) {
  std::vector<std::string> out;
  complete = ring.read(next, [&](std::string_view n) { out.emplace_back(n); });
  return out;
}
}  // namespace

TEST(NoticeRing, ReadersSeeWhatWasPublishedSinceTheyLooked) {
  granite::shm::notice_ring ring;
  ring.publish("u:1");
  std::uint64_t next = ring.head();  // a reader that starts now
  ring.publish("t:2");
  ring.publish("p:3:2:1");
  bool complete = false;
  EXPECT_EQ(read_all(ring, next, complete), (std::vector<std::string>{"t:2", "p:3:2:1"}));
  EXPECT_TRUE(complete);
  EXPECT_TRUE(read_all(ring, next, complete).empty());
  ring.publish(std::string(200, 'x'));  // too long to keep: anything may have changed
  EXPECT_EQ(read_all(ring, next, complete), std::vector<std::string>{"*"});
}

TEST(NoticeRing, AReaderTooFarBehindIsToldSo) {
  granite::shm::notice_ring ring;
  std::uint64_t next = ring.head();
  for (std::size_t i = 0; i < granite::shm::notice_ring::capacity + 1; ++i) ring.publish("u:" + std::to_string(i + 1));
  bool complete = true;
  EXPECT_TRUE(read_all(ring, next, complete).empty());
  EXPECT_FALSE(complete);
  EXPECT_EQ(next, ring.head());  // and starts again from now
}

TEST(NoticeRing, IsSharedAcrossFork) {
  granite::shm::notice_ring ring;
  std::uint64_t next = ring.head();
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ring.publish("u:42");
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  bool complete = false;
  EXPECT_EQ(read_all(ring, next, complete), std::vector<std::string>{"u:42"});
}

TEST(ReadCache, AnotherWorkersWriteIsAppliedBeforeTheNextHit) {
  granite::shm::notice_ring ring;
  ring.trust_until(std::chrono::steady_clock::time_point::max());
  listening_cache writer, reader;
  writer.attach(&ring);
  reader.attach(&ring);
  reader.put("/api/users/5", {cache_kind::user, 5});
  reader.put("/api/users/6", {cache_kind::user, 6});
  writer.apply_own_notice("u:5");
  EXPECT_FALSE(reader.has("/api/users/5"));
  EXPECT_TRUE(reader.has("/api/users/6"));
  // A read of the reader's that started before the write is not kept.
  auto since = reader.epoch();
  writer.apply_own_notice("u:6");
  reader.fill("/api/users/6", {cache_kind::user, 6}, body("old"), since);
  EXPECT_FALSE(reader.has("/api/users/6"));
}

// A worker applies its own write's notice before it answers; reading it
// back from the ring would drop, a second time, the pages it has refilled
// since. Another worker's notice published before it is still applied.
TEST(ReadCache, AWorkersOwnNoticeIsNotAppliedAgainFromTheRing) {
  granite::shm::notice_ring ring;
  ring.trust_until(std::chrono::steady_clock::time_point::max());
  listening_cache writer, other;
  writer.attach(&ring);
  other.attach(&ring);
  writer.put("/api/users/5", {cache_kind::user, 5});
  writer.put("/api/users/6", {cache_kind::user, 6});
  other.apply_own_notice("u=:6");
  writer.apply_own_notice("u=:5");
  EXPECT_FALSE(writer.has("/api/users/5"));
  EXPECT_FALSE(writer.has("/api/users/6"));
  EXPECT_EQ(writer.snapshot().notices, 2u);
  writer.put("/api/users/5", {cache_kind::user, 5});  // read again after the write
  EXPECT_TRUE(writer.has("/api/users/5"));
  EXPECT_EQ(writer.snapshot().notices, 2u);
  // The other worker reads the writer's notice, once.
  other.put("/api/users/5", {cache_kind::user, 5});
  EXPECT_FALSE(other.has("/api/users/5"));
  EXPECT_EQ(other.snapshot().notices, 2u);
}

// With a ring, the cache is used only while the instance's change feed has
// proven the ring current, and for no longer than it said: a feed that stops
// proving (stalled, killed, cut off) leaves the cache bypassed within its
// trust window, with no one to tell the workers.
TEST(ReadCache, IsUsedOnlyWhileItsRingIsProvenCurrent) {
  granite::shm::notice_ring ring;
  listening_cache c;
  c.attach(&ring);
  EXPECT_FALSE(c.usable());  // never proven
  auto now = std::chrono::steady_clock::now();
  ring.trust_until(now + std::chrono::hours(1));
  ASSERT_TRUE(c.usable());
  c.put("/api/users/5", {cache_kind::user, 5});
  EXPECT_TRUE(c.has("/api/users/5"));
  ring.trust_until(now - std::chrono::milliseconds(1));  // the proof has lapsed
  EXPECT_FALSE(c.usable());
  EXPECT_FALSE(c.find("/api/users/5"));
  EXPECT_FALSE(c.snapshot().listening);
  // Proven again without a gap: what was kept is still right.
  ring.trust_until(now + std::chrono::hours(1));
  EXPECT_TRUE(c.has("/api/users/5"));
  // A gap: the feed says "*" before it trusts the ring again.
  ring.publish("*");
  EXPECT_FALSE(c.has("/api/users/5"));
  ring.distrust();
  EXPECT_FALSE(c.usable());
}

// The positions a replica read is held to (shm/notice_ring.hpp): the floor
// only goes up and is shared by every worker of the ring; with the cache in
// use and no positions from the feed, no replica may answer; a presented
// position is in the cache only once the feed has applied that far.
TEST(ReadCachePositions, TheFloorRisesForEveryWorkerAndNeverFalls) {
  granite::shm::notice_ring ring;
  read_cache a(1 << 20, true, read_notice), b(1 << 20, true, read_notice);
  a.attach(&ring);
  b.attach(&ring);
  EXPECT_EQ(a.replica_floor(), std::numeric_limits<std::uint64_t>::max()) << "no positions from the feed yet";
  ring.set_positioned(true);
  EXPECT_EQ(b.replica_floor(), 0u);
  a.raise_floor(0x500);
  EXPECT_EQ(b.replica_floor(), 0x500u);
  b.raise_floor(0x400);
  EXPECT_EQ(a.replica_floor(), 0x500u);
  ring.set_positioned(false);  // the feed fell back to the triggers' notices
  EXPECT_EQ(a.replica_floor(), std::numeric_limits<std::uint64_t>::max());
  read_cache off(1 << 20, false, read_notice);  // no cache to go stale: the floor stands
  off.attach(&ring);
  EXPECT_EQ(off.replica_floor(), 0x500u);
}

TEST(ReadCachePositions, APresentedPositionIsHeldOnceTheFeedHasAppliedIt) {
  granite::shm::notice_ring ring;
  read_cache c(1 << 20, true, read_notice);
  c.attach(&ring);
  ring.raise_applied(0x300);
  EXPECT_FALSE(c.holds_position(0x200)) << "positions not known to come from the feed";
  ring.set_positioned(true);
  EXPECT_TRUE(c.holds_position(0x200));
  EXPECT_TRUE(c.holds_position(0x300));
  EXPECT_FALSE(c.holds_position(0x301));
  c.raise_floor(0x900);  // its own write: not proof that others' changes are in
  EXPECT_FALSE(c.holds_position(0x800));
}
