#include <nlohmann/json.hpp>
#include <pqxx/except>

#include "../body.hpp"
#include "granite/config/config.hpp"
#include "sessions.hpp"
#include "users.hpp"

namespace granite::users {

namespace {

using http::done;
using http::outcome;

// Shape only: a username that cannot exist is not refused here, it fails
// like a wrong password (and as slowly), so that no answer tells which
// usernames exist.
constexpr features::text_rule sign_in_username_rule{1, 256};
constexpr features::text_rule sign_in_password_rule{1, 256};

struct sign_in_fields {
  std::string username, password;
};

result<sign_in_fields> read_sign_in(const http::request& req) {
  auto body = features::json_body::parse(req);
  if (!body) return body.err();
  auto username = body->text("username", sign_in_username_rule, true);
  auto password = body->text("password", sign_in_password_rule, true);
  if (auto refused = body->finish()) return *refused;
  return sign_in_fields{std::move(*username), std::move(*password)};
}

http::response no_store(http::response r) {
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

// Three steps: read the account (database), check the password (CPU
// bulkhead), record the session (database).
outcome sign_in(const http::request& req, const argon2_cost& cost, int ttl_s) {
  auto fields = read_sign_in(req);
  if (!fields) return done(http::problem(fields.err(), req));
  return http::on_database([f = std::move(*fields), cost, ttl_s](const http::request&, store::connection& c) {
    auto account = select_credentials(c, f.username);
    return http::on_cpu([account, password = f.password, cost, ttl_s](const http::request& r) {
      auto stored = account ? account->password_hash : std::nullopt;
      auto check = check_password(stored, password, cost);
      if (check == password_check::wrong)
        return done(http::problem(unauthenticated("wrong username or password"), r));
      std::optional<std::string> rehash;
      if (check == password_check::right_but_rehash) rehash = hash_password(password, cost);
      return http::on_database([id = account->id, rehash, ttl_s](const http::request& r, store::connection& c) {
        auto token = new_token();
        // A rehash moves the account to the configured cost.
        std::string expires;
        try {
          expires = record_sign_in(c, token.digest, id, ttl_s, rehash);
        } catch (const pqxx::foreign_key_violation&) {  // the account was deleted meanwhile
          return done(http::problem(unauthenticated("wrong username or password"), r));
        }
        nlohmann::ordered_json body = {{"token", token.text}, {"expiresAt", expires}};
        auto res = no_store(http::json(201, body.dump()));
        res.headers.emplace_back("Location", "/api/sessions/current");
        return done(std::move(res));
      });
    });
  });
}

outcome current(const http::request& req) {
  return signed_in(req, [](const http::request& r, std::int64_t me, store::connection& c) {
    auto expires = select_session_expiry(c, *bearer_digest(r));
    auto account = select_by_id(c, me);
    if (!expires || !account) return done(http::problem(unauthenticated("the session has just ended"), r));
    auto body = "{\"user\":" + to_json(*account) + ",\"expiresAt\":" + nlohmann::json(*expires).dump() + "}";
    return done(no_store(http::json(200, std::move(body))));
  });
}

outcome sign_out(const http::request& req) {
  return signed_in(req, [](const http::request& r, std::int64_t, store::connection& c) {
    if (!delete_session(c, *bearer_digest(r)))
      return done(http::problem(unauthenticated("the session has already ended"), r));
    return done(http::no_content());
  });
}

}  // namespace

void register_session_routes(http::router& router, const features::deps& d) {
  auto cost = cost_of(d.config);
  int ttl_s = d.config.auth.session_ttl_s;
  router.add(http::verb::post, "/api/sessions",
             http::staged_handler([cost, ttl_s](const http::request& req, const http::params&) {
               return sign_in(req, cost, ttl_s);
             }));
  router.add(http::verb::get, "/api/sessions/current",
             http::staged_handler([](const http::request& req, const http::params&) { return current(req); }));
  router.add(http::verb::delete_, "/api/sessions/current",
             http::staged_handler([](const http::request& req, const http::params&) { return sign_out(req); }));
}

}  // namespace granite::users
