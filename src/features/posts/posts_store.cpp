#include "granite/store/query.hpp"
#include "posts.hpp"

namespace granite::posts {

namespace {

#define GRANITE_POST_COLUMNS "p.id, p.thread_id, p.text, p.user_id, rfc3339(p.created_at)"
constexpr store::statement by_id{"posts_by_id", "SELECT " GRANITE_POST_COLUMNS " FROM posts p WHERE p.id = $1"};
// The parent's row comes back even without posts (p.id NULL), so one round
// trip tells "no such thread" from "a thread without posts" (or past its
// last page).
constexpr store::statement in_thread_page{
    "posts_in_thread",
    "SELECT " GRANITE_POST_COLUMNS " FROM threads t LEFT JOIN LATERAL (SELECT * FROM posts "
    "WHERE thread_id = t.id AND id > $2 ORDER BY id LIMIT $3) p ON true WHERE t.id = $1 ORDER BY p.id"};
constexpr store::statement by_user_page{
    "posts_by_user",
    "SELECT " GRANITE_POST_COLUMNS " FROM users u LEFT JOIN LATERAL (SELECT * FROM posts "
    "WHERE user_id = u.id AND id > $2 ORDER BY id LIMIT $3) p ON true WHERE u.id = $1 ORDER BY p.id"};
constexpr store::statement owner_of{"posts_owner", "SELECT user_id FROM posts WHERE id = $1"};
constexpr store::statement insert_post{"posts_insert",
                                       "INSERT INTO posts AS p (thread_id, user_id, text) VALUES ($1, $2, $3) "
                                       "RETURNING " GRANITE_POST_COLUMNS};
constexpr store::statement update_post{
    "posts_update",
    "UPDATE posts AS p SET text = $3 WHERE p.id = $1 AND p.user_id = $2 RETURNING " GRANITE_POST_COLUMNS};
constexpr store::statement delete_post{
    "posts_delete", "DELETE FROM posts AS p WHERE p.id = $1 AND p.user_id = $2 RETURNING " GRANITE_POST_COLUMNS};
#undef GRANITE_POST_COLUMNS
constexpr store::statement all[] = {by_id,    in_thread_page, by_user_page, owner_of,
                                    insert_post, update_post, delete_post};

post from_row(const pqxx::row& r) {
  return post{r[0].as<std::int64_t>(), r[1].as<std::int64_t>(), r[2].as<std::string>(), r[3].as<std::int64_t>(),
              r[4].as<std::string>()};
}

// A post, or nullopt for the parent's row that has none.
std::optional<post> child_from_row(const pqxx::row& r) {
  if (r[0].is_null()) return std::nullopt;
  return from_row(r);
}

std::int64_t id_of(const pqxx::row& r) { return r[0].as<std::int64_t>(); }

std::optional<std::vector<post>> select_children(store::connection& c, const store::statement& statement, std::int64_t parent,
                                                 std::int64_t after, std::int64_t rows) {
  auto found = store::rows(c, statement, child_from_row, parent, after, rows);
  if (found.empty()) return std::nullopt;  // no parent
  std::vector<post> out;
  for (auto& p : found)
    if (p) out.push_back(std::move(*p));
  return out;
}
}  // namespace

std::span<const store::statement> statements() { return all; }

std::optional<post> select_by_id(store::connection& c, std::int64_t id) {
  return store::first_row(c, by_id, from_row, id);
}

std::optional<std::vector<post>> select_in_thread(store::connection& c, std::int64_t thread_id, std::int64_t after,
                                                  std::int64_t rows) {
  return select_children(c, in_thread_page, thread_id, after, rows);
}

std::optional<std::vector<post>> select_by_user(store::connection& c, std::int64_t user_id, std::int64_t after,
                                                std::int64_t rows) {
  return select_children(c, by_user_page, user_id, after, rows);
}

std::optional<std::int64_t> select_owner(store::connection& c, std::int64_t id) {
  return store::first_row(c, owner_of, id_of, id);
}

result<post> insert(store::connection& c, std::int64_t thread_id, std::int64_t owner, const std::string& text) {
  try {
    return *store::first_row(c, insert_post, from_row, thread_id, owner, text);
  } catch (const pqxx::foreign_key_violation& e) {
    if (std::string_view(e.what()).find("posts_thread_id_fkey") != std::string_view::npos)
      return invalid_fields({{"thread", "no thread with id " + std::to_string(thread_id)}});
    return unauthenticated("the signed-in account no longer exists");
  }
}

std::optional<post> update_owned(store::connection& c, std::int64_t id, std::int64_t owner, const std::string& text) {
  return store::first_row(c, update_post, from_row, id, owner, text);
}

std::optional<post> delete_owned(store::connection& c, std::int64_t id, std::int64_t owner) {
  return store::first_row(c, delete_post, from_row, id, owner);
}

}  // namespace granite::posts
