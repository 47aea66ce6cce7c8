#include "granite/store/query.hpp"
#include "users.hpp"

namespace granite::users {

namespace {

constexpr store::statement by_id{"users_by_id", "SELECT id, username, name, bio FROM users WHERE id = $1"};
constexpr store::statement page{"users_page",
                                "SELECT id, username, name, bio FROM users WHERE id > $1 ORDER BY id LIMIT $2"};
constexpr store::statement insert_user{"users_insert",
                                       "INSERT INTO users (username, name, bio, password_hash) VALUES ($1, $2, $3, $4) "
                                       "RETURNING id, username, name, bio"};
// Absent fields are NULL and keep their value.
constexpr store::statement update_user{
    "users_update",
    "UPDATE users SET username = coalesce($2, username), name = coalesce($3, name), bio = coalesce($4, bio), "
    "password_hash = coalesce($5, password_hash) WHERE id = $1 RETURNING id, username, name, bio"};
constexpr store::statement delete_user{"users_delete", "DELETE FROM users WHERE id = $1"};
constexpr store::statement credentials_of{"users_credentials",
                                          "SELECT id, password_hash FROM users WHERE lower(username) = lower($1)"};
constexpr store::statement all[] = {by_id, page, insert_user, update_user, delete_user, credentials_of};

user from_row(const pqxx::row& r) {
  return {r[0].as<std::int64_t>(), r[1].as<std::string>(), r[2].as<std::string>(), r[3].as<std::string>()};
}

credentials credentials_from_row(const pqxx::row& r) {
  credentials out{r[0].as<std::int64_t>(), std::nullopt};
  if (!r[1].is_null()) out.password_hash = r[1].as<std::string>();
  return out;
}

error username_taken(const account_fields& f) { return conflict("the username " + f.username.value_or("") + " is taken"); }
}  // namespace

std::span<const store::statement> statements() { return all; }

std::optional<user> select_by_id(store::connection& c, std::int64_t id) {
  return store::first_row(c, by_id, from_row, id);
}

std::vector<user> select_page(store::connection& c, std::int64_t after, std::int64_t rows) {
  return store::rows(c, page, from_row, after, rows);
}

result<user> insert(store::connection& c, const account_fields& f, const std::string& password_hash) {
  try {
    return *store::first_row(c, insert_user, from_row, *f.username, f.name.value_or(""), f.bio.value_or(""),
                             password_hash);
  } catch (const pqxx::unique_violation&) {
    return username_taken(f);
  }
}

result<std::optional<user>> update(store::connection& c, std::int64_t id, const account_fields& f,
                                   const std::optional<std::string>& password_hash) {
  try {
    return store::first_row(c, update_user, from_row, id, store::nullable(f.username), store::nullable(f.name),
                            store::nullable(f.bio), store::nullable(password_hash));
  } catch (const pqxx::unique_violation&) {
    return username_taken(f);
  }
}

bool remove(store::connection& c, std::int64_t id) { return store::exec(c, delete_user, id) > 0; }

std::optional<credentials> select_credentials(store::connection& c, const std::string& username) {
  return store::first_row(c, credentials_of, credentials_from_row, username);
}

}  // namespace granite::users
