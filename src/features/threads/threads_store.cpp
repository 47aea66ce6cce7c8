#include "granite/store/query.hpp"
#include "threads.hpp"

namespace granite::threads {

namespace {
constexpr const char* by_id = "threads_by_id";
constexpr const char* by_id_sql = "SELECT id, title, created_by FROM threads WHERE id = $1";
constexpr const char* page = "threads_page";
constexpr const char* page_sql = "SELECT id, title, created_by FROM threads WHERE id > $1 ORDER BY id LIMIT $2";
constexpr const char* owner = "threads_owner";
constexpr const char* owner_sql = "SELECT created_by FROM threads WHERE id = $1";
constexpr const char* insert_name = "threads_insert";
constexpr const char* insert_sql =
    "INSERT INTO threads (title, created_by) VALUES ($1, $2) RETURNING id, title, created_by";
constexpr const char* update_name = "threads_update";
constexpr const char* update_sql =
    "UPDATE threads SET title = $3 WHERE id = $1 AND created_by = $2 RETURNING id, title, created_by";
constexpr const char* delete_name = "threads_delete";
constexpr const char* delete_sql = "DELETE FROM threads WHERE id = $1 AND created_by = $2 RETURNING id, title, created_by";

thread from_row(const pqxx::row& r) {
  return {r[0].as<std::int64_t>(), r[1].as<std::string>(), r[2].as<std::int64_t>()};
}
std::int64_t id_of(const pqxx::row& r) { return r[0].as<std::int64_t>(); }
}  // namespace

void prepare(store::connection& c) {
  c.raw().prepare(by_id, by_id_sql);
  c.raw().prepare(page, page_sql);
  c.raw().prepare(owner, owner_sql);
  c.raw().prepare(insert_name, insert_sql);
  c.raw().prepare(update_name, update_sql);
  c.raw().prepare(delete_name, delete_sql);
}

std::optional<thread> select_by_id(store::connection& c, std::int64_t id) {
  return store::first_row(c, by_id, from_row, id);
}

std::vector<thread> select_page(store::connection& c, std::int64_t after, std::int64_t rows) {
  return store::rows(c, page, from_row, after, rows);
}

std::optional<std::int64_t> select_owner(store::connection& c, std::int64_t id) {
  return store::first_row(c, owner, id_of, id);
}

result<thread> insert(store::connection& c, const std::string& title, std::int64_t created_by) {
  try {
    return *store::first_row(c, insert_name, from_row, title, created_by);
  } catch (const pqxx::foreign_key_violation&) {
    return unauthenticated("the signed-in account no longer exists");
  }
}

std::optional<thread> update_owned(store::connection& c, std::int64_t id, std::int64_t created_by,
                                   const std::string& title) {
  return store::first_row(c, update_name, from_row, id, created_by, title);
}

std::optional<thread> delete_owned(store::connection& c, std::int64_t id, std::int64_t created_by) {
  return store::first_row(c, delete_name, from_row, id, created_by);
}

}  // namespace granite::threads
