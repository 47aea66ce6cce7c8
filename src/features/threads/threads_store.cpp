#include "granite/store/query.hpp"
#include "threads.hpp"

namespace granite::threads {

namespace {

constexpr store::statement by_id{"threads_by_id", "SELECT id, title, created_by FROM threads WHERE id = $1"};
constexpr store::statement page{"threads_page",
                                "SELECT id, title, created_by FROM threads WHERE id > $1 ORDER BY id LIMIT $2"};
constexpr store::statement owner_of{"threads_owner", "SELECT created_by FROM threads WHERE id = $1"};
constexpr store::statement insert_thread{
    "threads_insert", "INSERT INTO threads (title, created_by) VALUES ($1, $2) RETURNING id, title, created_by"};
constexpr store::statement update_thread{
    "threads_update", "UPDATE threads SET title = $3 WHERE id = $1 AND created_by = $2 RETURNING id, title, created_by"};
constexpr store::statement delete_thread{
    "threads_delete", "DELETE FROM threads WHERE id = $1 AND created_by = $2 RETURNING id, title, created_by"};
constexpr store::statement all[] = {by_id, page, owner_of, insert_thread, update_thread, delete_thread};

thread from_row(const pqxx::row& r) {
  return {r[0].as<std::int64_t>(), r[1].as<std::string>(), r[2].as<std::int64_t>()};
}
std::int64_t id_of(const pqxx::row& r) { return r[0].as<std::int64_t>(); }
}  // namespace

std::span<const store::statement> statements() { return all; }

std::optional<thread> select_by_id(store::connection& c, std::int64_t id) {
  return store::first_row(c, by_id, from_row, id);
}

std::vector<thread> select_page(store::connection& c, std::int64_t after, std::int64_t rows) {
  return store::rows(c, page, from_row, after, rows);
}

std::optional<std::int64_t> select_owner(store::connection& c, std::int64_t id) {
  return store::first_row(c, owner_of, id_of, id);
}

result<thread> insert(store::connection& c, const std::string& title, std::int64_t created_by) {
  try {
    return *store::first_row(c, insert_thread, from_row, title, created_by);
  } catch (const pqxx::foreign_key_violation&) {
    return unauthenticated("the signed-in account no longer exists");
  }
}

std::optional<thread> update_owned(store::connection& c, std::int64_t id, std::int64_t created_by,
                                   const std::string& title) {
  return store::first_row(c, update_thread, from_row, id, created_by, title);
}

std::optional<thread> delete_owned(store::connection& c, std::int64_t id, std::int64_t created_by) {
  return store::first_row(c, delete_thread, from_row, id, created_by);
}

}  // namespace granite::threads
