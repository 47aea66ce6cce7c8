#include "sessions.hpp"
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

}  // namespace

std::span<const store::statement> statements() { return all; }

store::batch select_by_id(std::int64_t id) { return store::batch().add(by_id, id); }

store::batch select_page(std::int64_t after, std::int64_t rows) { return store::batch().add(page, after, rows); }

store::batch insert(const account_fields& f, const std::string& password_hash) {
  return store::batch().add(insert_user, *f.username, f.name.value_or(""), f.bio.value_or(""), password_hash);
}

store::batch update(std::int64_t id, const account_fields& f, const std::optional<std::string>& password_hash,
                    const std::string& keep_digest) {
  store::batch b;
  b.add(update_user, id, f.username, f.name, f.bio, password_hash);
  if (password_hash) b.add(delete_other_sessions(), id, keep_digest);
  return b;
}

store::batch remove(std::int64_t id) { return store::batch().add(delete_user, id); }

store::batch select_credentials(const std::string& username) { return store::batch().add(credentials_of, username); }

void write_row(features::json_text& out, const store::rows& r, std::size_t row) {
  write_user(out, r.text(row, 0), r.text(row, 1), r.text(row, 2), r.text(row, 3));
}

}  // namespace granite::users
