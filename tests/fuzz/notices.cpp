// Change notices (store/changes.hpp) on their way into a worker's read
// cache: applied by the cache directly, or through the instance's shared
// ring (where the feed and the other workers put them).
//
// Input: lines, each a notice; one that starts with '>' comes through the
// ring (the rest of the line), the others from PostgreSQL.
// Properties:
// - a notice that parses, formatted and parsed again, is the same change;
//   the features' reader takes exactly the notices that parse;
// - the ring hands every notice on as it was published (one too long for a
//   slot as "*");
// - the cache, filled with an entry of each group (the lists with pages of
//   several spans), drops exactly what the notice names
//   (features/cached.hpp): a user, the pages of the user lists it touches
//   and (unless changed in place) the user's posts; a thread likewise; a
//   post, the pages of its thread's posts and of its author's posts that it
//   touches; "*" everything. A page is touched as http::touches() says
//   (a notice without its op touches every page). A malformed notice from
//   PostgreSQL drops nothing, one from the ring everything (the reader
//   cannot know what it missed).
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "fuzz.hpp"
#include "granite/features/cached.hpp"
#include "granite/shm/notice_ring.hpp"
#include "granite/store/changes.hpp"

namespace {

using namespace granite;
namespace cached = features::cached;

constexpr int most_notices = 64;

struct kept {
  http::cache_group group;
  std::optional<http::page_span> page;
};

struct model {
  std::map<std::string, kept> live;  // target -> what it is
};

// Pages of a list of ids 1 to 9, by 3: full with a next, the last one
// exactly full, and an empty page after it; and one that is not full. Then
// the same newest first (below their cursors: mirrored), and the empty page
// under 1.
constexpr http::page_span spans[] = {{0, 3, 4},          {3, 6, 7},          {6, 9, 0},         {9, 9, 0},
                                     {2, 5, 0},          {-10, -7, -6, true}, {-7, -4, -3, true}, {-4, -1, 0, true},
                                     {-1, -1, 0, true},  {-8, -5, 0, true}};

// Entries of each group of records 1 to 3 and of each list: the lists' with
// pages of every span above.
void fill(http::read_cache& cache, model& m) {
  const http::cache_kind by_id[] = {cached::user, cached::thread, cached::post};
  const http::cache_kind lists_by_id[] = {cached::posts_in_thread, cached::posts_by_user};
  std::vector<http::cache_group> records, lists{{cached::users, 0}, {cached::threads, 0}};
  for (std::int64_t id = 1; id <= 3; ++id) {
    for (auto kind : by_id) records.push_back({kind, id});
    for (auto kind : lists_by_id) lists.push_back({kind, id});
  }
  auto put = [&](http::cache_group g, std::optional<http::page_span> page) {
    auto value = std::make_shared<http::cached_response>();
    value->body = "[]";
    value->etag = http::etag_of(value->body);
    value->page = page;
    auto target = "/" + std::to_string(static_cast<int>(g.kind)) + "/" + std::to_string(g.id) + "?" +
                  (page ? std::to_string(page->after) + "-" + std::to_string(page->last) + (page->mirrored ? "m" : "")
                        : "");
    cache.fill(target, g, value, cache.epoch());
    m.live.emplace(target, kept{g, page});
  };
  for (auto g : records) put(g, std::nullopt);
  for (auto g : lists)
    for (auto s : spans) put(g, s);
}

// Whether a change of record `id` changes a page of a keyset list: it is on
// the page, or it joins a page without a next one, or it was the next one.
// A mirrored page holds the ids under its cursor (-after) down to -last,
// its next one under them; no record has an id under 1.
bool page_changes(const std::optional<http::page_span>& page, store::change::op how, std::int64_t id) {
  using op = store::change::op;
  if (!page || how == op::any) return true;
  if (page->mirrored) {
    if (id <= 0) return true;
    bool on_page = -page->last <= id && id < -page->after;
    bool beyond = id < -page->last;
    if (how == op::insert) return on_page || (beyond && page->next == 0);
    if (how == op::remove) return on_page || (page->next != 0 && id == -page->next);
    return on_page;
  }
  bool on_page = page->after < id && id <= page->last;
  bool beyond = id > page->last;
  if (how == op::insert) return on_page || (beyond && page->next == 0);
  if (how == op::remove) return on_page || id == page->next;
  return on_page;
}

// What a change drops, as features/cached.hpp documents it.
bool drops(const store::change& c, const kept& k) {
  using of = store::change::of;
  auto is = [&](http::cache_kind kind, std::int64_t id) { return k.group == http::cache_group{kind, id}; };
  bool in_place = c.how == store::change::op::update;
  auto list = [&](http::cache_kind kind, std::int64_t id) { return is(kind, id) && page_changes(k.page, c.how, c.id); };
  switch (c.kind) {
    case of::everything: return true;
    case of::user:
      return is(cached::user, c.id) || list(cached::users, 0) || (!in_place && is(cached::posts_by_user, c.id));
    case of::thread:
      return is(cached::thread, c.id) || list(cached::threads, 0) || (!in_place && is(cached::posts_in_thread, c.id));
    case of::post:
      return is(cached::post, c.id) || list(cached::posts_in_thread, c.thread) || list(cached::posts_by_user, c.user);
  }
  return true;
}

void check_parse(std::string_view notice, const std::optional<store::change>& c) {
  auto shown = granite::fuzz::shown(notice);
  http::invalidation inv;
  GRANITE_FUZZ_CHECK(features::read_notice(notice, inv) == c.has_value(), shown);
  GRANITE_FUZZ_CHECK(inv.count <= http::invalidation::most, shown);
  if (!c) return;
  auto text = store::format_notice(*c);
  auto again = store::parse_notice(text);
  GRANITE_FUZZ_CHECK(again && *again == *c, shown + " -> " + text);
  GRANITE_FUZZ_CHECK(text.size() <= shm::notice_ring::longest, text);  // the ring carries every real notice
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static shm::notice_ring ring;
  granite::fuzz::input in(data, size);
  http::read_cache cache(1 << 20, true, features::read_notice);
  cache.attach(&ring);
  ring.trust_until(std::chrono::steady_clock::time_point::max());  // as a feed that proves it current
  model m;
  fill(cache, m);
  GRANITE_FUZZ_CHECK(cache.snapshot().entries == m.live.size(), "fill");

  for (int n = 0; n < most_notices && !in.empty(); ++n) {
    auto line = in.until("\n");
    bool through_ring = line.starts_with('>');
    auto notice = through_ring ? line.substr(1) : line;
    auto c = store::parse_notice(notice);
    check_parse(notice, c);

    if (through_ring) {
      auto next = ring.head();
      ring.publish(notice);
      std::string carried;
      GRANITE_FUZZ_CHECK(ring.read(next, [&](std::string_view s) { carried = s; }), "ring");
      auto expected = notice.size() > shm::notice_ring::longest ? std::string_view("*") : notice;
      GRANITE_FUZZ_CHECK(carried == expected, granite::fuzz::shown(carried) + " for " + granite::fuzz::shown(notice));
      c = store::parse_notice(carried);
      if (!c) c = store::anything_changed();  // the reader flushes
    } else {
      GRANITE_FUZZ_CHECK(cache.apply_notice(notice) == c.has_value(), granite::fuzz::shown(notice));
    }
    if (c) std::erase_if(m.live, [&](const auto& entry) { return drops(*c, entry.second); });

    // find() reads the ring first, as a worker does before it answers.
    GRANITE_FUZZ_CHECK(cache.find("/none") == nullptr, "an entry never filled");
    for (const auto& [target, group] : m.live)
      GRANITE_FUZZ_CHECK(cache.find(target) != nullptr, target + " dropped by " + granite::fuzz::shown(line));
    GRANITE_FUZZ_CHECK(cache.snapshot().entries == m.live.size(),
                       std::to_string(cache.snapshot().entries) + " entries after " + granite::fuzz::shown(line));
  }
  return 0;
}
