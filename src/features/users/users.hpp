#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "../page.hpp"
#include "granite/error.hpp"
#include "granite/features/features.hpp"
#include "granite/http/message.hpp"

namespace granite::users {

struct user {
  std::int64_t id;
  std::string username;
  std::string name;
  std::string bio;
};

// The fields of POST /api/users (username and password required) and of
// PATCH /api/users/{id} (each optional: only those given change).
struct account_fields {
  std::optional<std::string> username, name, bio, password;
};

// Logic (users.cpp)
result<user> find(store::connection& c, std::int64_t id);
std::vector<user> list(store::connection& c, const features::page& p);
// Usernames: 3 to 32 of a-z, 0-9 and _; unique regardless of case. Names
// up to 100 characters, bios up to 1000, passwords 10 to 256.
result<account_fields> read_account(const http::request& req, bool creating);
// {"id","username","name","bio"}: the original API's fields, in its order.
// Never the password or its hash.
std::string to_json(const user& u);
std::string to_json(const std::vector<user>& users);

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

// SQL (users_store.cpp)
std::span<const store::statement> statements();
std::optional<user> select_by_id(store::connection& c, std::int64_t id);
std::vector<user> select_page(store::connection& c, std::int64_t after, std::int64_t rows);
// conflict when the username is taken.
result<user> insert(store::connection& c, const account_fields& f, const std::string& password_hash);
// nullopt when the user does not exist; conflict when the new username is taken.
result<std::optional<user>> update(store::connection& c, std::int64_t id, const account_fields& f,
                                   const std::optional<std::string>& password_hash);
bool remove(store::connection& c, std::int64_t id);
struct credentials {
  std::int64_t id;
  std::optional<std::string> password_hash;
};
std::optional<credentials> select_credentials(store::connection& c, const std::string& username);

// HTTP (users_routes.cpp, sessions_routes.cpp)
void register_routes(http::router& router, const features::deps& d);
void register_session_routes(http::router& router, const features::deps& d);

}  // namespace granite::users
