#include "../notices.hpp"
#include "granite/http/ids.hpp"
#include "sessions.hpp"
#include "users.hpp"

namespace granite::users {

namespace {

using http::done;
using http::outcome;

// Someone else's account, or none: which one.
http::response not_yours(store::connection& c, std::int64_t id, const http::request& req) {
  if (select_by_id(c, id)) return http::problem(forbidden("you can change only your own account"), req);
  return http::problem(not_found("no user with id " + std::to_string(id)), req);
}

http::response updated(store::connection& c, std::int64_t id, const account_fields& f,
                       const std::optional<std::string>& hash, const http::request& req) {
  auto changed = update(c, id, f, hash);
  if (!changed) return http::problem(changed.err(), req);
  if (!*changed) return http::problem(not_found("no user with id " + std::to_string(id)), req);
  // A new password signs out every other session of the account.
  if (hash) delete_other_sessions(c, id, *bearer_digest(req));
  return features::with_notice(http::json(200, to_json(**changed)), store::user_changed(id));
}

outcome sign_up(const http::request& req, const argon2_cost& cost) {
  auto fields = read_account(req, true);
  if (!fields) return done(http::problem(fields.err(), req));
  return http::on_cpu([cost, f = std::move(*fields)](const http::request&) {
    auto hash = hash_password(*f.password, cost);
    return http::on_database([f, hash = std::move(hash)](const http::request& r, store::connection& c) {
      auto created = insert(c, f, hash);
      if (!created) return done(http::problem(created.err(), r));
      return done(features::with_notice(http::created("/api/users/" + std::to_string(created->id), to_json(*created)),
                                        store::user_changed(created->id)));
    });
  });
}

outcome change_account(const http::request& req, const http::params& p, const argon2_cost& cost) {
  if (auto refused = refuse_anonymous(req)) return done(std::move(*refused));
  auto id = http::parse_id(p.get("id"), "user id");
  if (!id) return done(http::problem(id.err(), req));
  auto fields = read_account(req, false);
  if (!fields) return done(http::problem(fields.err(), req));
  return signed_in(req, [id = *id, f = std::move(*fields), cost](const http::request& r, std::int64_t me,
                                                                 store::connection& c) -> outcome {
    if (me != id) return done(not_yours(c, id, r));
    if (!f.password) return done(updated(c, id, f, std::nullopt, r));
    // Ownership is settled; only now is the password worth hashing.
    return http::on_cpu([id, f, cost](const http::request&) {
      auto hash = hash_password(*f.password, cost);
      return http::on_database([id, f, hash](const http::request& r, store::connection& c) {
        return done(updated(c, id, f, hash, r));
      });
    });
  });
}

outcome delete_account(const http::request& req, const http::params& p) {
  if (auto refused = refuse_anonymous(req)) return done(std::move(*refused));
  auto id = http::parse_id(p.get("id"), "user id");
  if (!id) return done(http::problem(id.err(), req));
  return signed_in(req, [id = *id](const http::request& r, std::int64_t me, store::connection& c) {
    if (me != id) return done(not_yours(c, id, r));
    if (!remove(c, id)) return done(http::problem(not_found("no user with id " + std::to_string(id)), r));
    // Their threads and posts go with them: this worker's cache is flushed.
    return done(features::with_notice(http::no_content(), store::anything_changed()));
  });
}

}  // namespace

void register_routes(http::router& router, const features::deps& d) {
  auto cost = cost_of(d.config);
  router.add(http::verb::get, "/api/users",
             http::db_handler([](const http::request& req, const http::params&, store::connection& c) {
               auto page = features::parse_page(req);
               if (!page) return http::problem(page.err(), req);
               return features::json_page(list(c, *page), *page, req,
                                          [](const std::vector<user>& all) { return to_json(all); });
             }),
             http::cache_rule{features::cached::users, ""});
  router.add(http::verb::post, "/api/users",
             http::staged_handler([cost](const http::request& req, const http::params&) { return sign_up(req, cost); }));
  router.add(http::verb::get, "/api/users/{id}",
             http::db_handler([](const http::request& req, const http::params& p, store::connection& c) {
               return http::json_by_id(req, p, "id", "user id", [&](std::int64_t id) {
                 return find(c, id).map([](const user& u) { return to_json(u); });
               });
             }),
             http::cache_rule{features::cached::user, "id"});
  router.add(http::verb::patch, "/api/users/{id}",
             http::staged_handler([cost](const http::request& req, const http::params& p) {
               return change_account(req, p, cost);
             }));
  router.add(http::verb::delete_, "/api/users/{id}", http::staged_handler(delete_account));
  register_session_routes(router, d);
}

}  // namespace granite::users
