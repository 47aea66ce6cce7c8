#include "granite/store/query.hpp"
#include "granite/text.hpp"
#include "sessions.hpp"
#include "users.hpp"

namespace granite::users {

namespace {
constexpr const char* insert_name = "sessions_insert";
constexpr const char* insert_sql =
    "INSERT INTO sessions (token_sha256, user_id, expires_at) "
    "VALUES (decode($1, 'hex'), $2, now() + make_interval(secs => $3)) RETURNING rfc3339(expires_at)";
constexpr const char* user_name = "sessions_user";
constexpr const char* user_sql = "SELECT user_id FROM sessions WHERE token_sha256 = decode($1, 'hex') AND expires_at > now()";
constexpr const char* expiry_name = "sessions_expiry";
constexpr const char* expiry_sql =
    "SELECT rfc3339(expires_at) FROM sessions WHERE token_sha256 = decode($1, 'hex') AND expires_at > now()";
constexpr const char* delete_name = "sessions_delete";
constexpr const char* delete_sql = "DELETE FROM sessions WHERE token_sha256 = decode($1, 'hex') AND expires_at > now()";
constexpr const char* delete_others_name = "sessions_delete_others";
constexpr const char* delete_others_sql =
    "DELETE FROM sessions WHERE user_id = $1 AND token_sha256 <> decode($2, 'hex')";
constexpr const char* delete_expired_name = "sessions_delete_expired";
constexpr const char* delete_expired_sql = "DELETE FROM sessions WHERE user_id = $1 AND expires_at <= now()";
constexpr const char* rehash_name = "sessions_rehash";
constexpr const char* rehash_sql = "UPDATE users SET password_hash = $2 WHERE id = $1";

std::string text_of(const pqxx::row& r) { return r[0].as<std::string>(); }
std::int64_t id_of(const pqxx::row& r) { return r[0].as<std::int64_t>(); }
}  // namespace

void prepare_sessions(store::connection& c) {
  c.raw().prepare(insert_name, insert_sql);
  c.raw().prepare(user_name, user_sql);
  c.raw().prepare(expiry_name, expiry_sql);
  c.raw().prepare(delete_name, delete_sql);
  c.raw().prepare(delete_others_name, delete_others_sql);
  c.raw().prepare(delete_expired_name, delete_expired_sql);
  c.raw().prepare(rehash_name, rehash_sql);
}

std::string record_sign_in(store::connection& c, const std::string& digest, std::int64_t user_id, int ttl_s,
                           const std::optional<std::string>& rehash) {
  pqxx::work tx(c.raw());
  // A sign-in lost in a database crash only means signing in again: its
  // commit need not wait for the WAL flush, which keeps a sign-in storm
  // from holding the database threads that reads need.
  tx.exec("SET LOCAL synchronous_commit TO off");
  auto expires = tx.exec_prepared(insert_name, digest, user_id, ttl_s)[0][0].as<std::string>();
  if (rehash) tx.exec_prepared(rehash_name, user_id, *rehash);
  tx.exec_prepared(delete_expired_name, user_id);
  tx.commit();
  return expires;
}

std::optional<std::int64_t> select_session_user(store::connection& c, const std::string& digest) {
  return store::first_row(c, user_name, id_of, digest);
}

std::optional<std::string> select_session_expiry(store::connection& c, const std::string& digest) {
  return store::first_row(c, expiry_name, text_of, digest);
}

bool delete_session(store::connection& c, const std::string& digest) { return store::exec(c, delete_name, digest) > 0; }

void delete_other_sessions(store::connection& c, std::int64_t user_id, const std::string& keep_digest) {
  store::exec(c, delete_others_name, user_id, keep_digest);
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
