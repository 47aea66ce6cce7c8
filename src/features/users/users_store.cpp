#include "../versions.hpp"
#include "sessions.hpp"
#include "users.hpp"

namespace granite::users {

namespace {

#define GRANITE_USER_COLUMNS "id, username, name, bio, granite_version(updated_at)"
constexpr store::statement by_id{"users_by_id", "SELECT " GRANITE_USER_COLUMNS " FROM users WHERE id = $1"};
constexpr store::statement page{"users_page",
                                "SELECT " GRANITE_USER_COLUMNS " FROM users WHERE id > $1 ORDER BY id LIMIT $2"};
constexpr store::statement page_below{
    "users_page_below", "SELECT " GRANITE_USER_COLUMNS " FROM users WHERE id < $1 ORDER BY id DESC LIMIT $2"};
constexpr store::statement insert_user{"users_insert",
                                       "INSERT INTO users (username, name, bio, password_hash) VALUES ($1, $2, $3, $4) "
                                       "RETURNING " GRANITE_USER_COLUMNS};
// Absent fields are NULL and keep their value.
constexpr store::statement update_user{
    "users_update",
    "UPDATE users SET username = coalesce($2, username), name = coalesce($3, name), bio = coalesce($4, bio), "
    "password_hash = coalesce($5, password_hash) WHERE id = $1" GRANITE_AT_VERSION(
        "updated_at", "$6") " RETURNING " GRANITE_USER_COLUMNS};
constexpr store::statement delete_user{
    "users_delete", "DELETE FROM users WHERE id = $1" GRANITE_AT_VERSION("updated_at", "$2") " RETURNING id"};
#undef GRANITE_USER_COLUMNS
constexpr store::statement credentials_of{"users_credentials",
                                          "SELECT id, password_hash FROM users WHERE lower(username) = lower($1)"};
// Failed sign-ins per username (see 0004_sign_in_failures.sql). Every
// attempt is counted as a failure before its password is checked, in one
// statement that also decides whether the username is blocked: attempts in
// flight together take their turns on the row, so no more of them are
// checked than the rule allows, however many arrive at once. A success
// forgets the count. Beyond $3 failures each one blocks the username for
// twice as long as the one before (1 s, 2 s, 4 s ...), at most $4 seconds.
// No row comes back when the username is blocked and $2 is not a network
// the account signed in from in the last 90 days.
constexpr store::statement reserve_attempt{
    "sign_in_reserve_attempt",
    "INSERT INTO sign_in_failures AS f (username, failures, last_failure) VALUES (lower($1), 1, now()) "
    "ON CONFLICT (username) DO UPDATE SET failures = f.failures + 1, last_failure = now(), blocked_until = "
    "CASE WHEN f.failures + 1 > $3 THEN now() + make_interval(secs => least($4, power(2, f.failures - $3))) END "
    "WHERE f.blocked_until IS NULL OR f.blocked_until <= now() OR EXISTS (SELECT 1 FROM sign_in_networks n "
    "JOIN users u ON u.id = n.user_id WHERE lower(u.username) = lower($1) AND n.network = $2 "
    "AND n.last_sign_in > now() - interval '90 days') RETURNING 1"};
// Run after the reservation, in the same transaction: the seconds the
// username is blocked for, as committed by whichever attempt blocked it.
constexpr store::statement block_of{"sign_in_block",
                                    "SELECT ceil(extract(epoch FROM blocked_until - now()))::integer "
                                    "FROM sign_in_failures WHERE username = lower($1) AND blocked_until > now()"};
constexpr store::statement prune_failures{"sign_in_prune_failures",
                                          "DELETE FROM sign_in_failures WHERE last_failure < now() - interval '1 day'"};
// These two act only when the sign-in's session (the token digest, their
// last parameter) was written: not when the password changed since it was
// checked.
constexpr store::statement forget_failures{
    "sign_in_forget_failures",
    "DELETE FROM sign_in_failures WHERE username = lower($1) AND EXISTS "
    "(SELECT 1 FROM sessions WHERE token_sha256 = decode($2, 'hex'))"};
constexpr store::statement remember_network{
    "sign_in_remember_network",
    "INSERT INTO sign_in_networks (user_id, network, last_sign_in) SELECT $1::bigint, $2::text, now() "
    "WHERE EXISTS (SELECT 1 FROM sessions WHERE token_sha256 = decode($3, 'hex')) "
    "ON CONFLICT (user_id, network) DO UPDATE SET last_sign_in = now()"};
constexpr store::statement prune_networks{
    "sign_in_prune_networks",
    "DELETE FROM sign_in_networks WHERE user_id = $1 AND (last_sign_in < now() - interval '90 days' OR network NOT IN "
    "(SELECT network FROM sign_in_networks WHERE user_id = $1 ORDER BY last_sign_in DESC LIMIT 5))"};

constexpr store::statement all[] = {by_id,          page,           page_below,      insert_user,
                                    update_user,    delete_user,    credentials_of,  reserve_attempt,
                                    block_of,       prune_failures, forget_failures, remember_network,
                                    prune_networks};

}  // namespace

std::span<const store::statement> statements() { return all; }

store::batch select_by_id(std::int64_t id) { return store::batch().add(by_id, id); }

store::batch select_page(const features::page& p) {
  return store::batch().add(p.below ? page_below : page, p.cursor, p.rows_to_read());
}

store::batch insert(const account_fields& f, const std::string& password_hash) {
  return store::batch().add(insert_user, *f.username, f.name.value_or(""), f.bio.value_or(""), password_hash);
}

store::batch update(std::int64_t id, const account_fields& f, const std::optional<std::string>& password_hash,
                    const std::string& keep_digest, const std::optional<std::string>& versions) {
  store::batch b;
  b.add(update_user, id, f.username, f.name, f.bio, password_hash, versions);
  if (password_hash) b.add(delete_other_sessions(), id, keep_digest, *password_hash);
  return b;
}

store::batch remove(std::int64_t id, const std::optional<std::string>& versions) {
  return store::batch().add(delete_user, id, versions);
}

store::batch start_sign_in(const std::string& username, const std::string& network, const account_limit& limit) {
  store::batch b;
  b.add(credentials_of, username);
  if (limit.free_failures == 0) return b;
  b.add(reserve_attempt, username, network, limit.free_failures, limit.block_max_s).add(block_of, username);
  b.add(prune_failures).add(commit_without_flush_wait());
  return b;
}

void add_successful_sign_in(store::batch& b, const std::string& username, std::int64_t user_id,
                            const std::string& network, const std::string& digest) {
  b.add(forget_failures, username, digest).add(remember_network, user_id, network, digest).add(prune_networks, user_id);
}

void write_row(features::json_text& out, const store::rows& r, std::size_t row) {
  write_user(out, r.text(row, 0), r.text(row, 1), r.text(row, 2), r.text(row, 3),
             features::updated_at_in(r, row, version_column).shown());
}

}  // namespace granite::users
