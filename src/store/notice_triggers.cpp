#include "granite/store/notice_triggers.hpp"

#include <pqxx/pqxx>

#include "granite/store/connection.hpp"

namespace granite::store {

namespace {
constexpr const char* triggers[notice_trigger_count][2] = {
    {"users", "users_notice"},   {"threads", "threads_notice"},   {"posts", "posts_notice"},
    {"users", "users_truncate_notice"}, {"threads", "threads_truncate_notice"}, {"posts", "posts_truncate_notice"}};
}  // namespace

notice_state notices_of(connection& c) {
  pqxx::nontransaction tx(c.raw());
  notice_state s;
  s.enabled = tx.exec(enabled_notice_triggers_sql)[0][0].as<int>();
  for (const auto& row : tx.exec(
           "SELECT application_name || ' (pid ' || pid || coalesce(', ' || client_addr::text, '') || ')' FROM "
           "pg_stat_activity WHERE datname = current_database() AND (application_name = 'granite changes (notices)' "
           "OR application_name LIKE 'granite worker % notices') ORDER BY 1"))
    s.followers.push_back(row[0].as<std::string>());
  return s;
}

void set_notices(connection& c, bool on) {
  pqxx::work tx(c.raw());
  for (const auto& [table, trigger] : triggers)
    tx.exec(std::string("ALTER TABLE ") + table + (on ? " ENABLE" : " DISABLE") + " TRIGGER " + trigger);
  tx.commit();
}

}  // namespace granite::store
