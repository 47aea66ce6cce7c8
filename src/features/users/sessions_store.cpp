#include "granite/store/query.hpp"
#include "granite/text.hpp"
#include "sessions.hpp"
#include "users.hpp"

namespace granite::users {

namespace {

constexpr store::statement insert_session{
    "sessions_insert",
    "INSERT INTO sessions (token_sha256, user_id, expires_at) "
    "VALUES (decode($1, 'hex'), $2, now() + make_interval(secs => $3)) RETURNING rfc3339(expires_at)"};
constexpr store::statement user_of{
    "sessions_user", "SELECT user_id FROM sessions WHERE token_sha256 = decode($1, 'hex') AND expires_at > now()"};
constexpr store::statement expiry_of{
    "sessions_expiry",
    "SELECT rfc3339(expires_at) FROM sessions WHERE token_sha256 = decode($1, 'hex') AND expires_at > now()"};
constexpr store::statement delete_one{
    "sessions_delete", "DELETE FROM sessions WHERE token_sha256 = decode($1, 'hex') AND expires_at > now()"};
constexpr store::statement delete_others{"sessions_delete_others",
                                         "DELETE FROM sessions WHERE user_id = $1 AND token_sha256 <> decode($2, 'hex')"};
constexpr store::statement delete_expired{"sessions_delete_expired",
                                          "DELETE FROM sessions WHERE user_id = $1 AND expires_at <= now()"};
constexpr store::statement rehash_password{"sessions_rehash", "UPDATE users SET password_hash = $2 WHERE id = $1"};
constexpr store::statement all[] = {insert_session, user_of, expiry_of, delete_one, delete_others, delete_expired, rehash_password};

std::string text_of(const pqxx::row& r) { return r[0].as<std::string>(); }
std::int64_t id_of(const pqxx::row& r) { return r[0].as<std::int64_t>(); }
}  // namespace

std::span<const store::statement> session_statements() { return all; }

std::string record_sign_in(store::connection& c, const std::string& digest, std::int64_t user_id, int ttl_s,
                           const std::optional<std::string>& rehash) {
  pqxx::work tx(c.raw());
  // A sign-in lost in a database crash only means signing in again: its
  // commit need not wait for the WAL flush, which keeps a sign-in storm
  // from holding the database threads that reads need.
  tx.exec("SET LOCAL synchronous_commit TO off");
  auto expires = tx.exec_prepared(insert_session.name, digest, user_id, ttl_s)[0][0].as<std::string>();
  if (rehash) tx.exec_prepared(rehash_password.name, user_id, *rehash);
  tx.exec_prepared(delete_expired.name, user_id);
  tx.commit();
  return expires;
}

std::optional<std::int64_t> select_session_user(store::connection& c, const std::string& digest) {
  return store::first_row(c, user_of, id_of, digest);
}

std::optional<std::string> select_session_expiry(store::connection& c, const std::string& digest) {
  return store::first_row(c, expiry_of, text_of, digest);
}

bool delete_session(store::connection& c, const std::string& digest) { return store::exec(c, delete_one, digest) > 0; }

void delete_other_sessions(store::connection& c, std::int64_t user_id, const std::string& keep_digest) {
  store::exec(c, delete_others, user_id, keep_digest);
}

result<std::string> bearer_digest(const http::request& req) {
  std::string_view header = req.authorization;
  if (header.empty()) return unauthenticated("sign in first: send Authorization: Bearer <token> (POST /api/sessions)");
  auto space = header.find(' ');
  if (ascii_lower(header.substr(0, space)) != "bearer" || space == std::string_view::npos)
    return unauthenticated("the Authorization header must be Bearer <token>");
  auto token = header.substr(space + 1);
  while (token.starts_with(' ')) token.remove_prefix(1);
  while (token.ends_with(' ')) token.remove_suffix(1);
  auto digest = digest_of(token);
  if (!digest) return unauthenticated("the bearer token is malformed");
  return std::move(*digest);
}

std::optional<http::response> refuse_anonymous(const http::request& req) {
  auto digest = bearer_digest(req);
  if (digest) return std::nullopt;
  return http::problem(digest.err(), req);
}

result<std::int64_t> authenticate(store::connection& c, const std::string& digest) {
  if (auto user = select_session_user(c, digest)) return *user;
  return unauthenticated("the bearer token is unknown, signed out or expired; sign in again");
}

}  // namespace granite::users
