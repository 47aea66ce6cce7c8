#pragma once

// Moderation: moderators (granted on the command line, store/roles.hpp)
// remove and restore posts and threads, and lock and unlock threads. A
// removed record stays where it is: everyone else reads a tombstone in its
// place (its author and text null, "removed": true), so pages keep their
// members and cursors, a reply keeps the post it answers in view, and the
// read cache's rules are an edit's. Moderators read removed records whole
// through /api/moderation/ routes, which are never cached. Every action
// that changes something is written to the moderation log in the same
// statement, with who, what, when and an optional reason.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "granite/error.hpp"
#include "granite/http/router.hpp"
#include "granite/store/async.hpp"
#include "granite/store/changes.hpp"
#include "granite/task.hpp"
#include "json_text.hpp"

namespace granite::features {

// Who reads a record: everyone (removed content hidden) or a moderator.
enum class audience { everyone, moderators };

// Whether the rows' `column` is there and not NULL (a removal, a lock).
bool marked(const store::rows& r, std::size_t row, int column);

// The text of a moderator action on `table` (its rows named `alias`):
// ($1 id, $2 moderator, $3 reason or NULL). It sets `assignment` on the
// record when it is in `state` and $2 is a moderator, logs `action` under
// the log's `target` column in the same statement, and returns the changed
// row's `columns`; no row when nothing changed.
#define GRANITE_MODERATE(table, alias, target, assignment, state, action, columns)                             \
  "WITH " alias " AS (UPDATE " table " SET " assignment " WHERE id = $1 AND " state                          \
  " AND EXISTS (SELECT FROM moderators WHERE user_id = $2) RETURNING *), l AS (INSERT INTO moderation_log " \
  "(moderator_id, action, " target ", reason) SELECT $2, '" action "', id, $3 FROM " alias ") SELECT " columns \
  " FROM " alias

// The optional body of an action: none (an empty body, whatever its
// Content-Type), or {"reason": "..."}, 1 to 500 characters, not blank.
result<std::optional<std::string>> read_reason(const http::request& req);

// A feature's moderated records: their name ("post"), the read of one by
// its id, how a row is written whole and becomes its change notice, and the
// column of its version.
struct moderated_kind {
  std::string_view what;
  store::batch (*select)(std::int64_t id);
  void (*write_whole)(json_text& out, const store::rows& r, std::size_t row);
  store::change (*notice_of)(const store::rows& r, std::size_t row);
  int version_column;
};

// POST /api/<records>/{id}/<action>, body {"reason"} or none: `action`
// (GRANITE_MODERATE) by the signed-in moderator. 200 with the record whole,
// also when it was in that state already (nothing logged then); 401
// anonymous, 403 not a moderator, 404 no such record.
task<http::response> moderate(const moderated_kind& kind, const store::statement& action, const http::request& req,
                              const http::params& p, http::services& s);

// GET /api/moderation/<records>/{id}: the record whole, for moderators.
task<http::response> read_whole(const moderated_kind& kind, const http::request& req, const http::params& p,
                                http::services& s);

std::span<const store::statement> moderation_statements();
// GET /api/moderation/log.
void register_moderation_routes(http::router& router);

}  // namespace granite::features
