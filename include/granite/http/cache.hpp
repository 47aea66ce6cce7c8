#pragma once

// A worker's read cache: the serialized responses of hot reads, by request
// target, bounded in bytes and evicted least recently used first. It lives
// on the worker's event loop thread and is never locked.
//
// Coherence comes from PostgreSQL: every change of a user, thread or post
// reaches the instance's ring of notices (shm/notice_ring.hpp, fed by the
// instance's change feed from the database's change stream or notices),
// and each worker applies what is new in it before it answers from the
// cache; what each notice drops is the features' to say (a notice_reader).
// The writing worker applies the notice of its own write, and puts it in
// the ring, before it answers. While the feed cannot show that the ring is
// current (the ring's trust has lapsed) the cache is bypassed; the feed
// puts a "*" in the ring, which empties it, when a change may have been
// missed.
//
// A change of a record in a list drops only the pages of the list it can
// touch (touches(), below): a page keeps its span (http::page_span), and an
// edit outside it, or a new record beyond a page that has a next one,
// leaves the page as it was. A read that was in flight when such a change
// arrived is answered, and kept only if the change cannot touch what it
// read.
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "granite/error.hpp"
#include "granite/http/invalidation.hpp"
#include "granite/http/message.hpp"

namespace granite::shm {
class notice_ring;
}

namespace granite::http {

// Whether a change can touch a page spanning `span` (null: not a page, or a
// page of unknown span, which any change touches). A page holds the first
// records above `after`, so for record `id`:
//   insert: id > after, and id <= last (among them) or the page has no next
//           (it joins a page that is not full, or gives a full last page its
//           rel="next"); a new record beyond a page that has a next one
//           changes nothing on it, whatever its id;
//   update: after < id <= last (the page shows it);
//   remove: id > after, and id <= last or id == next (the next one may have
//           been the only one).
// A mirrored page (read below its cursor) is the same over -id.
bool touches(const page_span* span, list_change how, std::int64_t id);

// Reads a change notice into what it drops; false when it is malformed.
using notice_reader = bool (*)(std::string_view notice, invalidation& out);

struct route;

struct cached_response {
  std::string body;
  std::string etag;     // with its quotes
  std::string headers;  // further header lines, each ending in CRLF ("Link: <...>\r\n")
  const route* from = nullptr;  // the route that answered (for the access log)
  std::optional<page_span> page;  // a list's page: what it spans
  // The gzip variant (http/encoding.hpp), made when the response is kept
  // or for a client that takes it, with its own ETag; empty when the body
  // is too small to be worth it, or when nobody asked for it.
  std::string gzip;
  std::string gzip_etag;
  // Whether a client that asks otherwise may get another variant: sent as
  // Vary: Accept-Encoding.
  bool varies = false;
};

// A 200 of a cacheable read as it is kept: its further headers as lines,
// its ETag, and when `compress`, its gzip variant (http/encoding.hpp).
// Uncompressed, a body large enough to be compressed for another client
// `varies`.
std::shared_ptr<const cached_response> kept_response(response&& r, const route* from, bool compress);

// A strong validator for a response: a quoted 64-bit hash of its body and
// of the header lines it carries beyond the standard ones (a page's Link:
// the same records with a next page are another response).
std::string etag_of(std::string_view body, std::string_view headers = {});
// Whether an If-None-Match header value names `etag` (or is "*"); weak
// comparison, as RFC 9110 asks for If-None-Match. The value is "*" or a
// list of entity-tags ([W/] DQUOTE *etagc DQUOTE, commas allowed inside the
// quotes); one that is neither matches nothing, so that the full response,
// always a safe answer, is sent.
bool etag_matches(std::string_view if_none_match, std::string_view etag);
// An If-Match header value (every field, joined by ", "), read as RFC 9110
// says: "*" or a list of entity-tags; invalid_argument when it is neither.
result<if_match> parse_if_match(std::string_view value);
// The tag of a record's gzip variant, made of its own (`etag` with
// gzip_etag_suffix inside its quotes): a strong validator names one variant.
inline constexpr std::string_view gzip_etag_suffix = "-gzip";
std::string gzip_etag_of(std::string_view etag);

class read_cache {
 public:
  struct stats {
    bool enabled = false;    // cache.enabled
    bool listening = false;  // the notices are known to be current (the ring is trusted)
    std::size_t entries = 0, bytes = 0, limit_bytes = 0;
    std::uint64_t hits = 0, misses = 0, fills = 0, refused_fills = 0, evictions = 0, notices = 0, flushes = 0;
    std::uint64_t spared = 0;  // pages a change of their list could not touch, kept
    std::uint64_t bypassed = 0;  // responses not kept: the notices were not proven current
  };

  read_cache(std::size_t limit_bytes, bool enabled, notice_reader reader);
  ~read_cache();
  read_cache(const read_cache&) = delete;
  read_cache& operator=(const read_cache&) = delete;

  // Enabled, and the notices are known to be current.
  bool usable() const { return enabled_ && current(); }
  // Whether a response with a body of this size may be kept (fill() may
  // still refuse it): what is worth compressing.
  bool may_keep(std::size_t body_bytes) const { return usable() && body_bytes <= limit_ / 4; }
  // The response kept for this target, or null; counts a hit. Every read
  // asks (before its route is known), so a miss is counted apart, by
  // whoever knows that the route is cacheable.
  std::shared_ptr<const cached_response> find(std::string_view target);
  void count_miss() {
    if (usable()) ++counters_.misses;
  }
  // Where the change notices stand: taken when a read starts, given to fill.
  std::uint64_t epoch() const { return epoch_; }
  // Keeps a response of `group` read since `since`, unless a notice that
  // touches it (or a flush) arrived meanwhile, the cache is not usable, or
  // the response is larger than a quarter of the limit.
  void fill(std::string_view target, cache_group group, std::shared_ptr<const cached_response> value,
            std::uint64_t since);
  // Applies a change notice; false (and nothing dropped) when it is malformed.
  bool apply_notice(std::string_view notice);
  // The change of a write this worker made, as the features tell it (its
  // notice and what it drops): applied here, and published to the other
  // workers of the instance through the ring, before the answer.
  void apply_own_change(std::string_view notice, const invalidation& drops);
  // The same from the notice alone, read as any other (tests).
  void apply_own_notice(std::string_view notice);
  // Positions in the primary's log (shm/notice_ring.hpp), for the reads
  // that replicas serve.
  //  - A write this worker made is at `at`: the instance's floor rises to
  //    it (before its notices are published).
  void raise_floor(std::uint64_t at);
  //  - The least position a replica must have replayed to answer a read of
  //    this instance: the floor, or the highest position (no replica) when
  //    the cache is in use and the change feed carries no positions (the
  //    triggers' notices).
  std::uint64_t replica_floor() const;
  //  - Whether a read that presents `position` (read-your-writes) may be
  //    answered from this cache: every change committed before it is in
  //    the ring.
  bool holds_position(std::uint64_t position) const;
  // The ring of the instance's notices (may be null: a worker alone).
  void attach(shm::notice_ring* ring);
  void flush();
  // Without a ring (a worker alone, tests): whether the change notices are
  // being received. Both changes flush: on the way down the notices may be
  // missed from now on; on the way up some may have been missed meanwhile.
  void set_listening(bool listening);
  stats snapshot() const;

 private:
  struct entry {
    std::shared_ptr<const cached_response> value;
    cache_group group;
    std::size_t bytes = 0;
    const std::string* key = nullptr;
    entry* newer = nullptr;  // recency, newest first
    entry* older = nullptr;
    entry* group_next = nullptr;  // the other entries of its group
    entry* group_prev = nullptr;
  };
  struct key_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct group_hash {
    std::size_t operator()(const cache_group& g) const {
      return std::hash<std::int64_t>{}(g.id) * 31 + static_cast<std::size_t>(g.kind);
    }
  };
  bool current() const;  // the ring is trusted; without one, listening
  void sync();  // applies what the ring has that this worker has not seen
  void invalidate(const cache_drop& d);
  void apply(const invalidation& drops);
  void erase(entry& e);
  void record(const cache_drop& d);
  bool changed_since(cache_group g, const page_span* span, std::uint64_t since) const;

  std::size_t limit_;
  bool enabled_;
  notice_reader read_notice_;
  bool listening_ = false;
  std::uint64_t floor_ = 0;  // without a ring
  std::unordered_map<std::string, entry, key_hash, std::equal_to<>> entries_;
  std::unordered_map<cache_group, entry*, group_hash> groups_;  // the first entry of each group
  entry* newest_ = nullptr;
  entry* oldest_ = nullptr;
  std::size_t bytes_ = 0;
  // The most recent invalidations, by epoch, for fills that started before
  // them.
  static constexpr std::size_t recent_size = 1024;
  std::unique_ptr<cache_drop[]> recent_;
  std::uint64_t epoch_ = 0;
  std::uint64_t flushed_at_ = 0;
  stats counters_;
  shm::notice_ring* ring_ = nullptr;
  std::uint64_t ring_next_ = 0;
};

}  // namespace granite::http
