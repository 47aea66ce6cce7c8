#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../json_text.hpp"
#include "../moderation.hpp"
#include "granite/http/message.hpp"
#include "../page.hpp"
#include "granite/error.hpp"
#include "granite/features/features.hpp"
#include "granite/store/async.hpp"
#include "granite/store/changes.hpp"

namespace granite::posts {

struct post {
  std::int64_t id;
  std::int64_t thread;
  std::string text;
  std::int64_t user;
  std::string created_at;  // RFC 3339, UTC
  std::string updated_at;  // RFC 3339, UTC; empty: unchanged since made (null)
};

// {"thread","text","user"} as the original API, then "id", "createdAt"
// and "updatedAt" (null when empty; left out when not known: rows kept by
// a release before versions), and "removed": true for a post a moderator
// removed, which everyone but moderators sees as a tombstone (text and user
// null); the one place that knows them.
void write_post(features::json_text& out, std::string_view id, std::string_view thread, std::string_view text,
                std::string_view user, std::string_view created_at, std::optional<std::string_view> updated_at,
                bool removed = false, features::audience who = features::audience::everyone);
std::string to_json(const post& p);
std::string to_json(const std::vector<post>& posts);
// The body of POST /api/posts: {"thread", "text"}, the text 1 to 10000
// characters, not blank. The author is whoever signed in.
struct new_post {
  std::int64_t thread;
  std::string text;
};
result<new_post> read_new_post(const http::request& req);
// The body of PATCH /api/posts/{id}: {"text"}, as above.
result<std::string> read_text(const http::request& req);

// SQL (posts_store.cpp). Rows of posts are (id, thread, text, user,
// created_at, version, removed_at): features/versions.hpp,
// features/moderation.hpp.
constexpr int version_column = 5;
constexpr int removed_column = 6;
std::span<const store::statement> statements();
store::batch select_by_id(std::int64_t id);
// A page of a thread's or a user's posts, nearest to the page's cursor
// first (features/page.hpp): the parent's row comes back even without
// posts (with a NULL id), so that one round trip tells "no such thread" (no
// row) from "no posts" (one row, NULL).
store::batch select_in_thread(std::int64_t thread_id, const features::page& p);
store::batch select_by_user(std::int64_t user_id, const features::page& p);
// The new post's row; foreign_key naming posts_thread_id_fkey when the
// thread does not exist, posts_user_id_fkey when the account was deleted
// meanwhile; over_budget when `owner` has used up `budget`; no row when
// the thread takes no new posts: select_thread_state's (removed, locked).
store::batch insert(std::int64_t thread_id, std::int64_t owner, const std::string& text,
                    features::posting_budget budget = {});
store::batch select_thread_state(std::int64_t thread_id);
// ($1 id, $2 owner, $3 text, $4 versions) and ($1 id, $2 owner, $3
// versions): only a post of `owner` (and only one not removed, to edit),
// and only at one of `versions` when that is not NULL
// (features::versions_param); its row when there was one.
const store::statement& update_owned();
const store::statement& delete_owned();
const store::statement& select_owner();  // ($1 id): its author's id, its version, whether it is removed
// ($1 id, $2 moderator, $3 reason): features::moderate.
const store::statement& remove();
const store::statement& restore();
// A row as everyone sees it (a removed post as its tombstone), and whole.
void write_row(features::json_text& out, const store::rows& r, std::size_t row);
void write_row_whole(features::json_text& out, const store::rows& r, std::size_t row);
store::change notice_of(const store::rows& r, std::size_t row);

// HTTP (posts_routes.cpp)
void register_routes(http::router& router, const features::deps& d);

}  // namespace granite::posts
