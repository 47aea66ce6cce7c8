#include "posts.hpp"

#include "../moderation.hpp"
#include "../versions.hpp"

namespace granite::posts {

namespace {

#define GRANITE_POST_COLUMNS \
  "p.id, p.thread_id, p.text, p.user_id, rfc3339(p.created_at), granite_version(p.updated_at), p.removed_at"
constexpr store::statement by_id{"posts_by_id", "SELECT " GRANITE_POST_COLUMNS " FROM posts p WHERE p.id = $1"};
constexpr store::statement in_thread_page{
    "posts_in_thread",
    "SELECT " GRANITE_POST_COLUMNS " FROM threads t LEFT JOIN LATERAL (SELECT * FROM posts "
    "WHERE thread_id = t.id AND id > $2 ORDER BY id LIMIT $3) p ON true WHERE t.id = $1 ORDER BY p.id"};
constexpr store::statement by_user_page{
    "posts_by_user",
    "SELECT " GRANITE_POST_COLUMNS " FROM users u LEFT JOIN LATERAL (SELECT * FROM posts "
    "WHERE user_id = u.id AND id > $2 ORDER BY id LIMIT $3) p ON true WHERE u.id = $1 ORDER BY p.id"};
// The same below a cursor, nearest first: a page of newest first, or the
// one before an ascending page.
constexpr store::statement in_thread_below{
    "posts_in_thread_below",
    "SELECT " GRANITE_POST_COLUMNS " FROM threads t LEFT JOIN LATERAL (SELECT * FROM posts "
    "WHERE thread_id = t.id AND id < $2 ORDER BY id DESC LIMIT $3) p ON true WHERE t.id = $1 ORDER BY p.id DESC"};
constexpr store::statement by_user_below{
    "posts_by_user_below",
    "SELECT " GRANITE_POST_COLUMNS " FROM users u LEFT JOIN LATERAL (SELECT * FROM posts "
    "WHERE user_id = u.id AND id < $2 ORDER BY id DESC LIMIT $3) p ON true WHERE u.id = $1 ORDER BY p.id DESC"};
constexpr store::statement owner_of{
    "posts_owner", "SELECT user_id, granite_version(updated_at), removed_at IS NOT NULL FROM posts WHERE id = $1"};
// ($4, $5): the author's posting budget and window (posting_budget; the
// function is not called when the budget is 0). No row when the thread is
// removed, or locked and the author no moderator (thread_state tells which).
constexpr store::statement insert_post{
    "posts_insert",
    "INSERT INTO posts AS p (thread_id, user_id, text) SELECT $1::bigint, $2::bigint, $3::text "
    "WHERE NOT EXISTS (SELECT FROM threads t WHERE t.id = $1 AND (t.removed_at IS NOT NULL OR "
    "(t.locked_at IS NOT NULL AND NOT EXISTS (SELECT FROM moderators WHERE user_id = $2)))) "
    "AND ($4::int <= 0 OR granite_within_posting_budget($2, $4, $5)) RETURNING " GRANITE_POST_COLUMNS};
constexpr store::statement thread_state{
    "posts_thread_state", "SELECT removed_at IS NOT NULL, locked_at IS NOT NULL FROM threads WHERE id = $1"};
// A removed post keeps its text: its author cannot change it any more.
constexpr store::statement update_post{
    "posts_update",
    "UPDATE posts AS p SET text = $3 WHERE p.id = $1 AND p.user_id = $2 AND p.removed_at IS NULL" GRANITE_AT_VERSION(
        "p.updated_at", "$4") " RETURNING " GRANITE_POST_COLUMNS};
constexpr store::statement delete_post{
    "posts_delete", "DELETE FROM posts AS p WHERE p.id = $1 AND p.user_id = $2" GRANITE_AT_VERSION(
                        "p.updated_at", "$3") " RETURNING " GRANITE_POST_COLUMNS};
constexpr store::statement remove_post{
    "posts_remove", GRANITE_MODERATE("posts", "p", "post_id", "removed_at = now()", "removed_at IS NULL", "remove",
                                     GRANITE_POST_COLUMNS)};
constexpr store::statement restore_post{
    "posts_restore", GRANITE_MODERATE("posts", "p", "post_id", "removed_at = NULL", "removed_at IS NOT NULL",
                                      "restore", GRANITE_POST_COLUMNS)};
#undef GRANITE_POST_COLUMNS
constexpr store::statement all[] = {by_id,       in_thread_page, by_user_page, in_thread_below, by_user_below,
                                    owner_of,    insert_post,    thread_state, update_post,     delete_post,
                                    remove_post, restore_post};

}  // namespace

std::span<const store::statement> statements() { return all; }

store::batch select_by_id(std::int64_t id) { return store::batch().add(by_id, id); }

store::batch select_in_thread(std::int64_t thread_id, const features::page& p) {
  return store::batch().add(p.below ? in_thread_below : in_thread_page, thread_id, p.cursor, p.rows_to_read());
}

store::batch select_by_user(std::int64_t user_id, const features::page& p) {
  return store::batch().add(p.below ? by_user_below : by_user_page, user_id, p.cursor, p.rows_to_read());
}

store::batch insert(std::int64_t thread_id, std::int64_t owner, const std::string& text,
                    features::posting_budget budget) {
  return store::batch().add(insert_post, thread_id, owner, text, budget.budget, budget.window_s);
}

const store::statement& update_owned() { return update_post; }
const store::statement& delete_owned() { return delete_post; }
const store::statement& select_owner() { return owner_of; }
const store::statement& remove() { return remove_post; }
const store::statement& restore() { return restore_post; }
store::batch select_thread_state(std::int64_t thread_id) { return store::batch().add(thread_state, thread_id); }

namespace {
void write_row_to(features::json_text& out, const store::rows& r, std::size_t row, features::audience who) {
  write_post(out, r.text(row, 0), r.text(row, 1), r.text(row, 2), r.text(row, 3), r.text(row, 4),
             features::updated_at_in(r, row, version_column).shown(), features::marked(r, row, removed_column),
             who);
}
}  // namespace

void write_row(features::json_text& out, const store::rows& r, std::size_t row) {
  write_row_to(out, r, row, features::audience::everyone);
}

void write_row_whole(features::json_text& out, const store::rows& r, std::size_t row) {
  write_row_to(out, r, row, features::audience::moderators);
}

store::change notice_of(const store::rows& r, std::size_t row) {
  return store::post_changed(r.integer(row, 0), r.integer(row, 1), r.integer(row, 3));
}

}  // namespace granite::posts
