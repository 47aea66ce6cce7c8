#include <pqxx/pqxx>

#include "granite/store/connection.hpp"
#include "posts.hpp"

namespace granite::posts {

namespace {
// The parent's row comes back even without posts (p.id NULL), so one round
// trip tells "no such thread" from "a thread without posts".
constexpr const char* in_thread_name = "posts_in_thread";
constexpr const char* in_thread_sql =
    "SELECT p.id, p.thread_id, p.text, p.user_id FROM threads t "
    "LEFT JOIN posts p ON p.thread_id = t.id WHERE t.id = $1 ORDER BY p.id";
constexpr const char* by_user_name = "posts_by_user";
constexpr const char* by_user_sql =
    "SELECT p.id, p.thread_id, p.text, p.user_id FROM users u "
    "LEFT JOIN posts p ON p.user_id = u.id WHERE u.id = $1 ORDER BY p.id";

std::optional<std::vector<post>> select_children(store::connection& c, const char* statement, std::int64_t parent) {
  pqxx::nontransaction tx(c.raw());
  auto rows = tx.exec_prepared(statement, parent);
  if (rows.empty()) return std::nullopt;
  std::vector<post> out;
  for (const auto& r : rows) {
    if (r[0].is_null()) continue;
    out.push_back({r[0].as<std::int64_t>(), r[1].as<std::int64_t>(), r[2].as<std::string>(), r[3].as<std::int64_t>()});
  }
  return out;
}
}  // namespace

void prepare(store::connection& c) {
  c.raw().prepare(in_thread_name, in_thread_sql);
  c.raw().prepare(by_user_name, by_user_sql);
}

std::optional<std::vector<post>> select_in_thread(store::connection& c, std::int64_t thread_id) {
  return select_children(c, in_thread_name, thread_id);
}

std::optional<std::vector<post>> select_by_user(store::connection& c, std::int64_t user_id) {
  return select_children(c, by_user_name, user_id);
}

}  // namespace granite::posts
