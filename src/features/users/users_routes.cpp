#include <nlohmann/json.hpp>

#include "../idempotency.hpp"
#include "../notices.hpp"
#include "../reads.hpp"
#include "../versions.hpp"
#include "granite/http/bulkhead.hpp"
#include "granite/http/ids.hpp"
#include "sessions.hpp"
#include "users.hpp"

namespace granite::users {

namespace {

// Hashing was refused: the bulkhead's queue is full, or the request waited
// too long in it (its client has most likely given up).
http::response hashing_refused(http::bulkhead::refusal why, const http::bulkhead& cpu, const http::request& req) {
  std::string detail = why == http::bulkhead::refusal::full ? "too many requests are waiting for " + cpu.name()
                                                             : "waited too long for " + cpu.name();
  return http::problem(unavailable(detail + "; retry shortly"), req);
}

// The JSON of the first row, with the change notice of user `id`.
http::response user_changed(const store::rows& r, std::int64_t id, int status) {
  std::string body;
  features::json_text out(body);
  write_row(out, r, 0);
  auto res = status == 201 ? http::created("/api/users/" + std::to_string(id), std::move(body))
                           : http::json(status, std::move(body));
  return features::with_version(
      features::with_notice(std::move(res),
                            store::user_changed(id, status == 201 ? store::change::op::insert : store::change::op::update)),
      r, 0, version_column);
}

// What tells one sign-up or change of an account from another for its
// Idempotency-Key: every field but the password, of which only its
// presence counts.
std::string identity_of(const account_fields& f) {
  nlohmann::json out = nlohmann::json::object();
  for (auto [name, value] : {std::pair{"username", &f.username}, {"name", &f.name}, {"bio", &f.bio}})
    if (*value) out[name] = **value;
  out["password"] = f.password.has_value();
  return out.dump();
}

// Someone else's account, or none, or (`mine`) one changed since the
// version If-Match names: which one.
task<http::response> not_yours(std::int64_t id, bool mine, const http::request& req, http::services& s) {
  // Current: it explains why a write was refused.
  auto a = co_await s.db.read(select_by_id(id).current());
  if (!a.ok()) co_return http::problem(a.as_error(), req);
  if (a[0].size() == 0) co_return http::problem(not_found("no user with id " + std::to_string(id)), req);
  if (!mine) co_return http::problem(forbidden("you can change only your own account"), req);
  auto version = features::version_of(a[0], 0, version_column);
  co_return features::changed_since("user", version.value_or(features::never_changed), req);
}

task<http::response> get_users(const http::request& req, const http::params&, http::services& s) {
  return features::record_page(select_page, write_row, req, s);
}

task<http::response> get_user(const http::request& req, const http::params& p, http::services& s) {
  return features::record_by_id("user", select_by_id, write_row, version_column, req, p, s);
}

task<http::response> sign_up(const http::request& req, argon2_cost cost, http::services& s) {
  if (auto refused = refuse_too_many_attempts(req, s)) co_return std::move(*refused);
  auto fields = read_account(req, true);
  if (!fields) co_return http::problem(fields.err(), req);
  auto hash = co_await s.cpu.run([&] { return hash_password(*fields->password, cost); });
  if (!hash.value) co_return hashing_refused(hash.refused, s.cpu, req);
  // Nobody is signed in: the key is kept for no user (user 0).
  auto w = co_await features::write(s, req, 0, insert(*fields, *hash.value), identity_of(*fields));
  if (!w) co_return http::problem(w.err(), req);
  const auto& a = w->a;
  if (!a.ok() && a.failed().what == store::failure::kind::unique)
    co_return http::problem(conflict("the username " + *fields->username + " is taken"), req);
  if (!a.ok()) co_return http::problem(a.as_error(), req);
  co_return features::answered(user_changed(a[0], a[0].integer(0, 0), 201), *w);
}

task<http::response> change_account(const http::request& req, const http::params& p, argon2_cost cost,
                                    http::services& s) {
  if (auto refused = refuse_anonymous(req)) co_return std::move(*refused);
  if (auto refused = features::refuse_unconditional(req, s.require_if_match)) co_return std::move(*refused);
  const auto& id = p.id("id");
  if (!id) co_return http::problem(id.err(), req);
  auto fields = read_account(req, false);
  if (!fields) co_return http::problem(fields.err(), req);
  auto me = co_await authenticate(s.db, req);
  if (!me) co_return http::problem(me.err(), req);
  if (*me != *id) co_return co_await not_yours(*id, false, req, s);
  std::optional<std::string> hash;
  if (fields->password) {
    // Ownership is settled; only now is the password worth hashing.
    auto hashed = co_await s.cpu.run([&] { return hash_password(*fields->password, cost); });
    if (!hashed.value) co_return hashing_refused(hashed.refused, s.cpu, req);
    hash = std::move(hashed.value);
  }
  auto w = co_await features::write(s, req, *me,
                                    update(*id, *fields, hash, *bearer_digest(req), features::versions_param(req)),
                                    identity_of(*fields));
  if (!w) co_return http::problem(w.err(), req);
  const auto& a = w->a;
  if (!a.ok() && a.failed().what == store::failure::kind::unique)
    co_return http::problem(conflict("the username " + fields->username.value_or("") + " is taken"), req);
  if (!a.ok()) co_return http::problem(a.as_error(), req);
  if (a[0].size() == 0) co_return co_await not_yours(*id, true, req, s);
  co_return features::answered(user_changed(a[0], *id, 200), *w);
}

task<http::response> delete_account(const http::request& req, const http::params& p, http::services& s) {
  if (auto refused = refuse_anonymous(req)) co_return std::move(*refused);
  if (auto refused = features::refuse_unconditional(req, s.require_if_match)) co_return std::move(*refused);
  const auto& id = p.id("id");
  if (!id) co_return http::problem(id.err(), req);
  auto me = co_await authenticate(s.db, req);
  if (!me) co_return http::problem(me.err(), req);
  if (*me != *id) co_return co_await not_yours(*id, false, req, s);
  auto w = co_await features::write(s, req, *me, remove(*id, features::versions_param(req)));
  if (!w) co_return http::problem(w.err(), req);
  const auto& a = w->a;
  if (!a.ok()) co_return http::problem(a.as_error(), req);
  if (a[0].size() == 0) co_return co_await not_yours(*id, true, req, s);
  // Their threads and posts go with them: this worker's cache is flushed.
  co_return features::answered(features::with_notice(http::no_content(), store::anything_changed()), *w);
}

}  // namespace

void register_routes(http::router& router, const features::deps& d) {
  auto cost = cost_of(d.config);
  router.add(http::verb::get, "/api/users", http::async_handler(get_users), http::cache_rule{features::cached::users, ""});
  router.add(http::verb::post, "/api/users",
             http::async_handler([cost](const http::request& req, const http::params&, http::services& s) {
               return sign_up(req, cost, s);
             }));
  router.add(http::verb::get, "/api/users/{id:user}", http::async_handler(get_user),
             http::cache_rule{features::cached::user, "id"});
  router.add(http::verb::patch, "/api/users/{id:user}",
             http::async_handler([cost](const http::request& req, const http::params& p, http::services& s) {
               return change_account(req, p, cost, s);
             }));
  router.add(http::verb::delete_, "/api/users/{id:user}", http::async_handler(delete_account));
  register_session_routes(router, d);
}

}  // namespace granite::users
