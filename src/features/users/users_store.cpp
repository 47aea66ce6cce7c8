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
// Failed sign-ins per username (see 0004_sign_in_failures.sql).
constexpr store::statement block_of{"sign_in_block",
                                    "SELECT ceil(extract(epoch FROM blocked_until - now()))::integer "
                                    "FROM sign_in_failures WHERE username = lower($1) AND blocked_until > now()"};
constexpr store::statement known_network{
    "sign_in_known_network",
    "SELECT 1 FROM sign_in_networks n JOIN users u ON u.id = n.user_id WHERE lower(u.username) = lower($1) "
    "AND n.network = $2 AND n.last_sign_in > now() - interval '90 days'"};
// Beyond $2 failures each one blocks the username for twice as long as the
// one before (1 s, 2 s, 4 s ...), at most $3 seconds.
constexpr store::statement count_failure{
    "sign_in_count_failure",
    "INSERT INTO sign_in_failures AS f (username, failures, last_failure) VALUES (lower($1), 1, now()) "
    "ON CONFLICT (username) DO UPDATE SET failures = f.failures + 1, last_failure = now(), blocked_until = "
    "CASE WHEN f.failures + 1 > $2 THEN now() + make_interval(secs => least($3, power(2, f.failures - $2))) END"};
constexpr store::statement prune_failures{"sign_in_prune_failures",
                                          "DELETE FROM sign_in_failures WHERE last_failure < now() - interval '1 day'"};
constexpr store::statement forget_failures{"sign_in_forget_failures",
                                           "DELETE FROM sign_in_failures WHERE username = lower($1)"};
constexpr store::statement remember_network{
    "sign_in_remember_network",
    "INSERT INTO sign_in_networks (user_id, network, last_sign_in) VALUES ($1, $2, now()) "
    "ON CONFLICT (user_id, network) DO UPDATE SET last_sign_in = now()"};
constexpr store::statement prune_networks{
    "sign_in_prune_networks",
    "DELETE FROM sign_in_networks WHERE user_id = $1 AND (last_sign_in < now() - interval '90 days' OR network NOT IN "
    "(SELECT network FROM sign_in_networks WHERE user_id = $1 ORDER BY last_sign_in DESC LIMIT 5))"};

constexpr store::statement all[] = {by_id,          page,          insert_user,    update_user,
                                    delete_user,    credentials_of, block_of,       known_network,
                                    count_failure,  prune_failures, forget_failures, remember_network,
                                    prune_networks};

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

store::batch select_credentials(const std::string& username, const std::string& network) {
  return store::batch().add(credentials_of, username).add(block_of, username).add(known_network, username, network);
}

store::batch count_failed_sign_in(const std::string& username, const account_limit& limit) {
  return store::batch().add(count_failure, username, limit.free_failures, limit.block_max_s).add(prune_failures);
}

void add_successful_sign_in(store::batch& b, const std::string& username, std::int64_t user_id,
                            const std::string& network) {
  b.add(forget_failures, username).add(remember_network, user_id, network).add(prune_networks, user_id);
}

void write_row(features::json_text& out, const store::rows& r, std::size_t row) {
  write_user(out, r.text(row, 0), r.text(row, 1), r.text(row, 2), r.text(row, 3));
}

}  // namespace granite::users
