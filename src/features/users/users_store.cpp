#include "granite/store/query.hpp"
#include "users.hpp"

namespace granite::users {

namespace {
constexpr const char* by_id = "users_by_id";
constexpr const char* by_id_sql = "SELECT id, username, name, bio FROM users WHERE id = $1";
constexpr const char* all = "users_all";
constexpr const char* all_sql = "SELECT id, username, name, bio FROM users ORDER BY id";

user from_row(const pqxx::row& r) {
  return {r[0].as<std::int64_t>(), r[1].as<std::string>(), r[2].as<std::string>(), r[3].as<std::string>()};
}
}  // namespace

void prepare(store::connection& c) {
  c.raw().prepare(by_id, by_id_sql);
  c.raw().prepare(all, all_sql);
}

std::optional<user> select_by_id(store::connection& c, std::int64_t id) {
  return store::first_row(c, by_id, from_row, id);
}

std::vector<user> select_all(store::connection& c) { return store::rows(c, all, from_row); }

}  // namespace granite::users
