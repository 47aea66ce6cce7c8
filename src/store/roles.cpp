#include "granite/store/roles.hpp"

#include <pqxx/pqxx>

#include "granite/store/connection.hpp"

namespace granite::store {

namespace {

role_change change_role(connection& c, const std::string& username, const char* sql) {
  pqxx::work tx(c.raw());
  auto user = tx.exec_params("SELECT id FROM users WHERE lower(username) = lower($1)", username);
  role_change out;
  if (user.empty()) return out;
  out.user = user[0][0].as<std::int64_t>();
  out.changed = tx.exec_params(sql, *out.user).affected_rows() > 0;
  tx.commit();
  return out;
}

}  // namespace

role_change grant_moderator(connection& c, const std::string& username) {
  return change_role(c, username, "INSERT INTO moderators (user_id) VALUES ($1) ON CONFLICT DO NOTHING");
}

role_change revoke_moderator(connection& c, const std::string& username) {
  return change_role(c, username, "DELETE FROM moderators WHERE user_id = $1");
}

std::vector<std::string> moderators(connection& c) {
  pqxx::nontransaction tx(c.raw());
  std::vector<std::string> out;
  for (const auto& row : tx.exec("SELECT u.username || ' (user ' || u.id || ', since ' || rfc3339(m.granted_at) || ')' "
                                 "FROM moderators m JOIN users u ON u.id = m.user_id ORDER BY m.granted_at, u.id"))
    out.push_back(row[0].as<std::string>());
  return out;
}

}  // namespace granite::store
