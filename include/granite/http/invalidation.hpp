#pragma once

// What a change drops from a worker's read cache (http/cache.hpp), in the
// cache's own terms: groups of entries, and which pages of a list a change
// of one record can touch. The features say which groups a change of theirs
// touches (features/cached.hpp); a write's response carries it
// (http::response::changes).
#include <array>
#include <cstddef>
#include <cstdint>

namespace granite::http {

// What a cached response shows: one record, or one kind of list. The kinds
// are the features' (features/cached.hpp); to the cache they are only names.
enum class cache_kind : std::uint8_t {};

struct cache_group {
  cache_kind kind{};
  std::int64_t id = 0;  // 0 for the lists of every record of a kind
  bool operator==(const cache_group&) const = default;
};

// What a change did to one record of a list.
enum class list_change : std::uint8_t { any, insert, update, remove };

// One group's part of a change: every entry of the group (any), or the pages
// that the change of record `id` can touch.
struct cache_drop {
  cache_group group;
  list_change how = list_change::any;
  std::int64_t id = 0;
  bool operator==(const cache_drop&) const = default;
};

// What one change notice drops: everything, or parts of a few groups.
struct invalidation {
  static constexpr std::size_t most = 4;
  bool everything = false;
  std::array<cache_drop, most> groups{};
  std::size_t count = 0;
  // More groups than fit drop everything: never serve stale.
  void add(cache_drop d) {
    if (count < most) groups[count++] = d;
    else everything = true;
  }
};

}  // namespace granite::http
