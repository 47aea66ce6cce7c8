#pragma once

// Sign-in sessions, and what every write route uses to know who asks.
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "granite/error.hpp"
#include "granite/features/features.hpp"
#include "granite/http/problem.hpp"
#include "granite/http/router.hpp"
#include "granite/store/async.hpp"
#include "granite/task.hpp"

namespace granite::users {

// SQL (sessions_store.cpp). `digest` is a token's SHA-256 in hex.
std::span<const store::statement> session_statements();
// A new session, in one transaction with the account's password rehash
// (when its cost changed) and the removal of its expired sessions, committed
// without waiting for the WAL flush (a session lost in a crash only means
// signing in again). Both the session and the rehash are written only while
// the account's hash is still `checked`, the one the password was checked
// against. Its statement `session_row` has one row, when the session
// expires (RFC 3339), or none when the password changed or the account was
// deleted meanwhile.
store::batch record_sign_in(const std::string& digest, std::int64_t user_id, int ttl_s, const std::string& checked,
                            const std::optional<std::string>& rehash);
inline std::size_t session_row(const std::optional<std::string>& rehash) { return rehash ? 1 : 0; }
// For a batch whose loss in a crash costs nothing worse than a retry: its
// commit does not wait for the WAL flush (for this transaction only).
const store::statement& commit_without_flush_wait();
// Its one row: the user's id and when the session expires (RFC 3339); none
// when the token is unknown, signed out or expired.
store::batch select_session(const std::string& digest);
// Touches one row when the session was live.
store::batch delete_session(const std::string& digest);
// The account's other sessions (after a password change).
const store::statement& delete_other_sessions();

// The digest of the request's `Authorization: Bearer <token>`; 401 without
// asking the database when the header is missing or malformed.
result<std::string> bearer_digest(const http::request& req);
// For a write, before its body is parsed: a 401 when the request carries no
// well-formed token, so anonymous requests learn nothing about their bodies.
std::optional<http::response> refuse_anonymous(const http::request& req);
// For a sign-in or a sign-up, before anything else: a 429 with Retry-After
// when the client has used up its attempts (http/attempts.hpp). The same
// whether the username exists or not: it is not even read.
std::optional<http::response> refuse_too_many_attempts(const http::request& req, http::services& s);
// 429 with Retry-After: wait_s.
http::response too_many(int wait_s, const std::string& what, const http::request& req);
// The 401 of a well-formed token that is unknown, signed out or expired.
error token_refused();
// The signed-in user's id: 401 when the token is missing, malformed,
// unknown, signed out or expired; 503 when the database cannot say.
task<result<std::int64_t>> authenticate(store::database& db, const http::request& req);

}  // namespace granite::users
