#include "threads.hpp"

#include "../moderation.hpp"
#include "../versions.hpp"

namespace granite::threads {

namespace {

#define GRANITE_THREAD_COLUMNS \
  "id, title, created_by, granite_version(updated_at), removed_at, locked_at"
constexpr store::statement by_id{"threads_by_id", "SELECT " GRANITE_THREAD_COLUMNS " FROM threads WHERE id = $1"};
constexpr store::statement page{"threads_page", "SELECT " GRANITE_THREAD_COLUMNS
                                                " FROM threads WHERE id > $1 ORDER BY id LIMIT $2"};
constexpr store::statement page_below{"threads_page_below", "SELECT " GRANITE_THREAD_COLUMNS
                                                            " FROM threads WHERE id < $1 ORDER BY id DESC LIMIT $2"};
constexpr store::statement owner_of{
    "threads_owner",
    "SELECT created_by, granite_version(updated_at), removed_at IS NOT NULL FROM threads WHERE id = $1"};
constexpr store::statement insert_thread{
    "threads_insert",
    "INSERT INTO threads (title, created_by) SELECT $1::text, $2::bigint WHERE $3::int <= 0 OR "
    "granite_within_posting_budget($2, $3, $4) RETURNING " GRANITE_THREAD_COLUMNS};
constexpr store::statement update_thread{
    "threads_update",
    "UPDATE threads SET title = $3 WHERE id = $1 AND created_by = $2 AND removed_at IS NULL" GRANITE_AT_VERSION(
        "updated_at", "$4") " RETURNING " GRANITE_THREAD_COLUMNS};
constexpr store::statement delete_thread{
    "threads_delete", "DELETE FROM threads WHERE id = $1 AND created_by = $2" GRANITE_AT_VERSION(
                          "updated_at", "$3") " RETURNING " GRANITE_THREAD_COLUMNS};
#define GRANITE_MODERATE_THREAD(name, assignment, state, action)                                            \
  constexpr store::statement name {                                                                         \
    "threads_" action, GRANITE_MODERATE("threads", "t", "thread_id", assignment, state, action,             \
                                        GRANITE_THREAD_COLUMNS)                                             \
  }
GRANITE_MODERATE_THREAD(remove_thread, "removed_at = now()", "removed_at IS NULL", "remove");
GRANITE_MODERATE_THREAD(restore_thread, "removed_at = NULL", "removed_at IS NOT NULL", "restore");
GRANITE_MODERATE_THREAD(lock_thread, "locked_at = now()", "locked_at IS NULL", "lock");
GRANITE_MODERATE_THREAD(unlock_thread, "locked_at = NULL", "locked_at IS NOT NULL", "unlock");
#undef GRANITE_MODERATE_THREAD
#undef GRANITE_THREAD_COLUMNS
constexpr store::statement all[] = {by_id,          page,          page_below,    owner_of,
                                    insert_thread,  update_thread, delete_thread, remove_thread,
                                    restore_thread, lock_thread,   unlock_thread};

}  // namespace

std::span<const store::statement> statements() { return all; }

store::batch select_by_id(std::int64_t id) { return store::batch().add(by_id, id); }

store::batch select_page(const features::page& p) {
  return store::batch().add(p.below ? page_below : page, p.cursor, p.rows_to_read());
}

store::batch insert(const std::string& title, std::int64_t owner, features::posting_budget budget) {
  return store::batch().add(insert_thread, title, owner, budget.budget, budget.window_s);
}

const store::statement& update_owned() { return update_thread; }
const store::statement& delete_owned() { return delete_thread; }
const store::statement& select_owner() { return owner_of; }
const store::statement& remove() { return remove_thread; }
const store::statement& restore() { return restore_thread; }
const store::statement& lock() { return lock_thread; }
const store::statement& unlock() { return unlock_thread; }

namespace {
void write_row_to(features::json_text& out, const store::rows& r, std::size_t row, features::audience who) {
  write_thread(out, r.text(row, 0), r.text(row, 1), r.text(row, 2),
               features::updated_at_in(r, row, version_column).shown(),
               {features::marked(r, row, removed_column), features::marked(r, row, locked_column)}, who);
}
}  // namespace

void write_row(features::json_text& out, const store::rows& r, std::size_t row) {
  write_row_to(out, r, row, features::audience::everyone);
}

void write_row_whole(features::json_text& out, const store::rows& r, std::size_t row) {
  write_row_to(out, r, row, features::audience::moderators);
}

}  // namespace granite::threads
