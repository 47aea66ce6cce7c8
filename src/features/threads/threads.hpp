#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "../json_text.hpp"
#include "../moderation.hpp"
#include "granite/http/message.hpp"
#include "../page.hpp"
#include "granite/error.hpp"
#include "granite/features/features.hpp"
#include "granite/store/async.hpp"

namespace granite::threads {

struct thread {
  std::int64_t id;
  std::string title;
  std::int64_t created_by;
  std::string updated_at;  // RFC 3339, UTC; empty: unchanged since made (null)
};

// What moderators did to a thread.
struct moderated {
  bool removed = false;
  bool locked = false;
};

// {"id","title","createdBy"}: the original API's fields, in its order, then
// "updatedAt" (null when empty; left out when not known: rows kept by a
// release before versions), "removed": true for a thread a moderator
// removed, which everyone but moderators sees as a tombstone (title and
// createdBy null), and "locked": true for one that takes no new posts; the
// one place that knows them.
void write_thread(features::json_text& out, std::string_view id, std::string_view title, std::string_view created_by,
                  std::optional<std::string_view> updated_at, moderated m = {},
                  features::audience who = features::audience::everyone);
std::string to_json(const thread& t);
// The body of POST /api/threads and of PATCH /api/threads/{id}: {"title"},
// 1 to 200 characters, not blank.
result<std::string> read_title(const http::request& req);

// SQL (threads_store.cpp). Rows of threads are (id, title, created_by,
// version, removed_at, locked_at): features/versions.hpp,
// features/moderation.hpp.
constexpr int version_column = 3;
constexpr int removed_column = 4;
constexpr int locked_column = 5;
std::span<const store::statement> statements();
store::batch select_by_id(std::int64_t id);
// The rows of page `p`, nearest to its cursor first (features/page.hpp).
store::batch select_page(const features::page& p);
// The new thread's row; foreign_key when the account was deleted meanwhile;
// over_budget when `owner` has used up `budget`.
store::batch insert(const std::string& title, std::int64_t owner, features::posting_budget budget = {});
// ($1 id, $2 owner, $3 title, $4 versions) and ($1 id, $2 owner, $3
// versions): only a thread of `owner` (and only one not removed, to
// retitle), and only at one of `versions` when that is not NULL
// (features::versions_param); its row when there was one.
const store::statement& update_owned();
const store::statement& delete_owned();
const store::statement& select_owner();  // ($1 id): its owner's id, its version, whether it is removed
// ($1 id, $2 moderator, $3 reason): features::moderate.
const store::statement& remove();
const store::statement& restore();
const store::statement& lock();
const store::statement& unlock();
// A row as everyone sees it (a removed thread as its tombstone), and whole.
void write_row(features::json_text& out, const store::rows& r, std::size_t row);
void write_row_whole(features::json_text& out, const store::rows& r, std::size_t row);

// HTTP (threads_routes.cpp)
void register_routes(http::router& router, const features::deps& d);

}  // namespace granite::threads
