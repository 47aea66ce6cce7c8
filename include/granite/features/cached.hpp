#pragma once

// What the features' reads keep in a worker's read cache (the kinds their
// routes' cache rules name), and what each change notice drops from it.
#include <string_view>

#include "granite/http/cache.hpp"
#include "granite/store/changes.hpp"

namespace granite::features {

namespace cached {
inline constexpr http::cache_kind user{1};             // GET /api/users/{id}
inline constexpr http::cache_kind users{2};            // GET /api/users (every page)
inline constexpr http::cache_kind thread{3};           // GET /api/threads/{id}
inline constexpr http::cache_kind threads{4};          // GET /api/threads (every page)
inline constexpr http::cache_kind post{5};             // GET /api/posts/{id}
inline constexpr http::cache_kind posts_in_thread{6};  // GET /api/posts/in-thread/{threadId}, by thread
inline constexpr http::cache_kind posts_by_user{7};    // GET /api/posts/by-user/{userId}, by user
}  // namespace cached

// A user: that user, the pages of the user lists it can touch, and (unless
// it was changed in place, when its posts stay as they were) its posts. A
// thread: it, the pages of the thread lists it can touch and (unless changed
// in place) its posts. A post: it, and the pages of its thread's posts and
// of its author's posts that it can touch. Which pages a change can touch is
// http::touches(); a notice without its op touches every page. "*":
// everything.
http::invalidation drops_of(const store::change& c);
// The same, of a notice's text (the ring's): an http::notice_reader.
bool read_notice(std::string_view notice, http::invalidation& out);

}  // namespace granite::features
