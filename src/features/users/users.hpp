#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "../json_text.hpp"
#include "../page.hpp"
#include "granite/error.hpp"
#include "granite/features/features.hpp"
#include "granite/http/message.hpp"
#include "granite/store/async.hpp"
#include "granite/task.hpp"

namespace granite::users {

struct user {
  std::int64_t id;
  std::string username;
  std::string name;
  std::string bio;
  std::string updated_at;  // RFC 3339, UTC; empty: unchanged since made (null)
};

// The fields of POST /api/users (username and password required) and of
// PATCH /api/users/{id} (each optional: only those given change).
struct account_fields {
  std::optional<std::string> username, name, bio, password;
};

// Logic (users.cpp)
// Usernames: 3 to 32 of a-z, 0-9 and _; unique regardless of case. Names
// up to 100 characters, bios up to 1000, passwords 10 to 256.
result<account_fields> read_account(const http::request& req, bool creating);
// The body of POST /api/sessions: {"username", "password"}, each 1 to 256
// characters. Shape only: a username that cannot exist is not refused here,
// it fails like a wrong password (and as slowly), so that no answer tells
// which usernames exist.
struct sign_in_fields {
  std::string username, password;
};
result<sign_in_fields> read_sign_in(const http::request& req);
// {"id","username","name","bio"}: the original API's fields, in its order,
// then "updatedAt" (null when empty; left out when not known: rows kept by
// a release before versions). Never the password or its hash. The one
// place that knows them.
void write_user(features::json_text& out, std::string_view id, std::string_view username, std::string_view name,
                std::string_view bio, std::optional<std::string_view> updated_at);
std::string to_json(const user& u);

// Passwords and session tokens (passwords.cpp), through libsodium.
struct argon2_cost {
  unsigned long long ops;
  std::size_t memory_bytes;
};
argon2_cost cost_of(const config::config& cfg);
// An Argon2id string (algorithm, cost and salt included). Slow on purpose:
// run it in the CPU bulkhead.
std::string hash_password(const std::string& password, const argon2_cost& cost);
enum class password_check { wrong, right, right_but_rehash };
// Compares against `stored`; an account without one (or no account) is
// checked against a decoy hash of the same cost, so that a wrong username
// costs the same time as a wrong password.
password_check check_password(const std::optional<std::string>& stored, const std::string& password,
                              const argon2_cost& cost);
// 256 random bits, base64url (43 characters), and the SHA-256 digest (hex)
// that is all the database keeps.
struct token {
  std::string text;
  std::string digest;
};
token new_token();
// The digest of a well-formed token; nullopt for anything else.
std::optional<std::string> digest_of(std::string_view token_text);

// SQL (users_store.cpp). Rows of users are (id, username, name, bio,
// version): features/versions.hpp.
constexpr int version_column = 4;
std::span<const store::statement> statements();
store::batch select_by_id(std::int64_t id);
// The rows of page `p`, nearest to its cursor first (features/page.hpp).
store::batch select_page(const features::page& p);
// The new user's row; unique when the username is taken.
store::batch insert(const account_fields& f, const std::string& password_hash);
// The changed row (none when the user does not exist, or is at none of
// `versions` when that is given: features::versions_param); unique when
// the new username is taken. A new password signs out every other session
// of the account, in the same transaction: `keep_digest` is the caller's.
store::batch update(std::int64_t id, const account_fields& f, const std::optional<std::string>& password_hash,
                    const std::string& keep_digest, const std::optional<std::string>& versions = std::nullopt);
// Touches one row when the user existed (at one of `versions`, as above).
store::batch remove(std::int64_t id, const std::optional<std::string>& versions = std::nullopt);
// Failed sign-ins per username, for the whole fleet: auth.account_free_failures
// are free, each one beyond blocks the username twice as long as the one
// before, at most auth.account_block_max_s; never for a network the account
// signed in from. free_failures 0: no limit.
struct account_limit {
  int free_failures;
  int block_max_s;
};
// What a sign-in asks before checking the password. Its first statement:
// the account's row when the username exists (id, password_hash or NULL).
// With a limit (free_failures > 0) the attempt is also counted as a failure
// before the check, atomically with deciding whether the username is
// blocked, and the batch is a write: its second statement has no row when
// the username is blocked for this network, and its third then holds the
// seconds left.
store::batch start_sign_in(const std::string& username, const std::string& network, const account_limit& limit);
// Into a sign-in's batch, after its session (token digest `digest`): when
// that session was written, its failures (this attempt's included) are
// forgotten and its network remembered.
void add_successful_sign_in(store::batch& b, const std::string& username, std::int64_t user_id,
                            const std::string& network, const std::string& digest);
// A row of users as JSON.
void write_row(features::json_text& out, const store::rows& r, std::size_t row);

// HTTP (users_routes.cpp, sessions_routes.cpp)
void register_routes(http::router& router, const features::deps& d);
void register_session_routes(http::router& router, const features::deps& d);

}  // namespace granite::users
