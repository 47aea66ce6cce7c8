#include "granite/text.hpp"
#include "sessions.hpp"
#include "users.hpp"

namespace granite::users {

namespace {

// Only while the account's hash is still $4, the one the password was
// checked against: a password changed meanwhile leaves no session made with
// the old one. FOR SHARE holds the row until the commit, so a change that
// comes later waits for it, and then ends this session with the others
// (users_store.cpp, update).
constexpr store::statement insert_session{
    "sessions_insert",
    "INSERT INTO sessions (token_sha256, user_id, expires_at) "
    "SELECT decode($1, 'hex'), id, now() + make_interval(secs => $3) FROM users WHERE id = $2 AND password_hash = $4 "
    "FOR SHARE RETURNING rfc3339(expires_at)"};
constexpr store::statement session_of{
    "sessions_user",
    "SELECT user_id, rfc3339(expires_at) FROM sessions WHERE token_sha256 = decode($1, 'hex') AND expires_at > now()"};
constexpr store::statement delete_one{
    "sessions_delete", "DELETE FROM sessions WHERE token_sha256 = decode($1, 'hex') AND expires_at > now()"};
// Only when $3, the new password's hash (salted: no other has it), is the
// account's: not when the change beside it touched nothing (an If-Match
// that failed).
constexpr store::statement delete_others{
    "sessions_delete_others",
    "DELETE FROM sessions WHERE user_id = $1 AND token_sha256 <> decode($2, 'hex') "
    "AND EXISTS (SELECT 1 FROM users WHERE id = $1 AND password_hash = $3)"};
constexpr store::statement delete_expired{"sessions_delete_expired",
                                          "DELETE FROM sessions WHERE user_id = $1 AND expires_at <= now()"};
// Compare and set: a password changed since the check keeps its new hash.
constexpr store::statement rehash_password{"sessions_rehash",
                                           "UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2"};
// For this transaction only: the batch is one.
constexpr store::statement no_flush_wait{"sessions_no_flush_wait",
                                         "SELECT set_config('synchronous_commit', 'off', true)"};
constexpr store::statement all[] = {insert_session, session_of,     delete_one,     delete_others,
                                    delete_expired, rehash_password, no_flush_wait};

}  // namespace

std::span<const store::statement> session_statements() { return all; }

// A sign-in lost in a database crash only means signing in again: its commit
// need not wait for the WAL flush, which keeps a sign-in storm from holding
// up the writes behind it.
store::batch record_sign_in(const std::string& digest, std::int64_t user_id, int ttl_s, const std::string& checked,
                            const std::optional<std::string>& rehash) {
  store::batch b;
  // The rehash first: it takes the row's lock that the session's FOR SHARE
  // would otherwise have to upgrade, behind a password change waiting for it.
  if (rehash) b.add(rehash_password, user_id, checked, *rehash);
  b.add(insert_session, digest, user_id, ttl_s, rehash ? *rehash : checked);
  b.add(delete_expired, user_id);
  b.add(no_flush_wait);
  return b;
}

const store::statement& commit_without_flush_wait() { return no_flush_wait; }

store::batch select_session(const std::string& digest) { return store::batch().add(session_of, digest); }

store::batch delete_session(const std::string& digest) { return store::batch().add(delete_one, digest); }

const store::statement& delete_other_sessions() { return delete_others; }

error token_refused() { return unauthenticated("the bearer token is unknown, signed out or expired; sign in again"); }

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

http::response too_many(int wait_s, const std::string& what, const http::request& req) {
  wait_s = std::max(1, wait_s);
  auto r = http::problem(429, what + "; retry in " + std::to_string(wait_s) + " s", req);
  r.headers.emplace_back("Retry-After", std::to_string(wait_s));
  return r;
}

std::optional<http::response> refuse_too_many_attempts(const http::request& req, http::services& s) {
  int wait = s.attempts.wait_s(req.client);
  if (wait == 0) return std::nullopt;
  return too_many(wait, "too many sign-in and sign-up attempts from this address", req);
}

task<result<std::int64_t>> authenticate(store::database& db, const http::request& req) {
  auto digest = bearer_digest(req);
  if (!digest) co_return digest.err();
  // On the primary: a token made a moment ago through another instance
  // is valid at once.
  auto a = co_await db.read(select_session(*digest).current());
  if (!a.ok()) co_return a.as_error();
  if (a[0].size() == 0) co_return token_refused();
  co_return a[0].integer(0, 0);
}

}  // namespace granite::users
