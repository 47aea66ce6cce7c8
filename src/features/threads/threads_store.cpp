#include "threads.hpp"

#include "../versions.hpp"

namespace granite::threads {

namespace {

#define GRANITE_THREAD_COLUMNS "id, title, created_by, granite_version(updated_at)"
constexpr store::statement by_id{"threads_by_id", "SELECT " GRANITE_THREAD_COLUMNS " FROM threads WHERE id = $1"};
constexpr store::statement page{"threads_page", "SELECT " GRANITE_THREAD_COLUMNS
                                                " FROM threads WHERE id > $1 ORDER BY id LIMIT $2"};
constexpr store::statement page_below{"threads_page_below", "SELECT " GRANITE_THREAD_COLUMNS
                                                            " FROM threads WHERE id < $1 ORDER BY id DESC LIMIT $2"};
constexpr store::statement owner_of{"threads_owner",
                                    "SELECT created_by, granite_version(updated_at) FROM threads WHERE id = $1"};
constexpr store::statement insert_thread{
    "threads_insert",
    "INSERT INTO threads (title, created_by) SELECT $1::text, $2::bigint WHERE $3::int <= 0 OR "
    "granite_within_posting_budget($2, $3, $4) RETURNING " GRANITE_THREAD_COLUMNS};
constexpr store::statement update_thread{
    "threads_update", "UPDATE threads SET title = $3 WHERE id = $1 AND created_by = $2" GRANITE_AT_VERSION(
                          "updated_at", "$4") " RETURNING " GRANITE_THREAD_COLUMNS};
constexpr store::statement delete_thread{
    "threads_delete", "DELETE FROM threads WHERE id = $1 AND created_by = $2" GRANITE_AT_VERSION(
                          "updated_at", "$3") " RETURNING " GRANITE_THREAD_COLUMNS};
#undef GRANITE_THREAD_COLUMNS
constexpr store::statement all[] = {by_id, page, page_below, owner_of, insert_thread, update_thread, delete_thread};

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

void write_row(features::json_text& out, const store::rows& r, std::size_t row) {
  write_thread(out, r.text(row, 0), r.text(row, 1), r.text(row, 2),
               features::updated_at_in(r, row, version_column).shown());
}

}  // namespace granite::threads
