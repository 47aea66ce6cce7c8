#include "granite/store/query.hpp"
#include "threads.hpp"

namespace granite::threads {

namespace {
constexpr const char* by_id = "threads_by_id";
constexpr const char* by_id_sql = "SELECT id, title, created_by FROM threads WHERE id = $1";
constexpr const char* all = "threads_all";
constexpr const char* all_sql = "SELECT id, title, created_by FROM threads ORDER BY id";

thread from_row(const pqxx::row& r) {
  return {r[0].as<std::int64_t>(), r[1].as<std::string>(), r[2].as<std::int64_t>()};
}
}  // namespace

void prepare(store::connection& c) {
  c.raw().prepare(by_id, by_id_sql);
  c.raw().prepare(all, all_sql);
}

std::optional<thread> select_by_id(store::connection& c, std::int64_t id) {
  return store::first_row(c, by_id, from_row, id);
}

std::vector<thread> select_all(store::connection& c) { return store::rows(c, all, from_row); }

}  // namespace granite::threads
