#include <pqxx/pqxx>

#include "granite/store/connection.hpp"
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
  pqxx::nontransaction tx(c.raw());
  auto rows = tx.exec_prepared(by_id, id);
  if (rows.empty()) return std::nullopt;
  return from_row(rows[0]);
}

std::vector<user> select_all(store::connection& c) {
  pqxx::nontransaction tx(c.raw());
  std::vector<user> out;
  for (const auto& r : tx.exec_prepared(all)) out.push_back(from_row(r));
  return out;
}

}  // namespace granite::users
