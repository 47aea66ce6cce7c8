#pragma once

// Sign-in sessions, and what every write route uses to know who asks.
#include <cstdint>
#include <optional>
#include <string>

#include "granite/error.hpp"
#include "granite/features/features.hpp"
#include "granite/http/problem.hpp"
#include "granite/http/router.hpp"

namespace granite::users {

// SQL (sessions_store.cpp). `digest` is a token's SHA-256 in hex.
std::span<const store::statement> session_statements();
// A new session, in one transaction with the account's password rehash
// (when its cost changed) and the removal of its expired sessions. Returns
// when the session expires (RFC 3339).
std::string record_sign_in(store::connection& c, const std::string& digest, std::int64_t user_id, int ttl_s,
                           const std::optional<std::string>& rehash);
std::optional<std::int64_t> select_session_user(store::connection& c, const std::string& digest);
std::optional<std::string> select_session_expiry(store::connection& c, const std::string& digest);
bool delete_session(store::connection& c, const std::string& digest);
void delete_other_sessions(store::connection& c, std::int64_t user_id, const std::string& keep_digest);

// The digest of the request's `Authorization: Bearer <token>`; 401 without
// asking the database when the header is missing or malformed.
result<std::string> bearer_digest(const http::request& req);
// For the first step of a write, before its body is read: a 401 when the
// request carries no well-formed token, so anonymous requests learn nothing
// about their bodies.
std::optional<http::response> refuse_anonymous(const http::request& req);
// The signed-in user's id; 401 when the token is unknown, signed out or expired.
result<std::int64_t> authenticate(store::connection& c, const std::string& digest);

// The shape of every write: 401 at once without a well-formed token; then,
// on a database thread, 401 unless the token is live, and otherwise
// act(request, user id, connection) decides.
template <class Act>
http::outcome signed_in(const http::request& req, Act act) {
  auto digest = bearer_digest(req);
  if (!digest) return http::done(http::problem(digest.err(), req));
  return http::on_database(
      [digest = std::move(*digest), act = std::move(act)](const http::request& r, store::connection& c) -> http::outcome {
        auto me = authenticate(c, digest);
        if (!me) return http::done(http::problem(me.err(), r));
        return act(r, *me, c);
      });
}

}  // namespace granite::users
