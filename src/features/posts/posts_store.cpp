#include "granite/store/query.hpp"
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

// A post, or nullopt for the parent's row that has none.
std::optional<post> from_row(const pqxx::row& r) {
  if (r[0].is_null()) return std::nullopt;
  return post{r[0].as<std::int64_t>(), r[1].as<std::int64_t>(), r[2].as<std::string>(), r[3].as<std::int64_t>()};
}

std::optional<std::vector<post>> select_children(store::connection& c, const char* statement, std::int64_t parent) {
  auto rows = store::rows(c, statement, from_row, parent);
  if (rows.empty()) return std::nullopt;  // no parent
  std::vector<post> out;
  for (auto& p : rows)
    if (p) out.push_back(std::move(*p));
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
