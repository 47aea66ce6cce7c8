#include "granite/config/config.hpp"
#include "granite/http/router.hpp"
#include "moderation.hpp"
#include "posts/posts.hpp"
#include "threads/threads.hpp"
#include "users/sessions.hpp"
#include "users/users.hpp"

namespace granite::features {

posting_budget posting_budget_of(const config::config& c) { return {c.posting.budget, c.posting.window_s}; }

void register_routes(http::router& router, const deps& d) {
  // The original API's index routes, byte for byte.
  router.add(http::verb::get, "/", http::plain_handler([](const http::request&, const http::params&) {
               return http::text(200, "Ready to receive requests");
             }));
  router.add(http::verb::get, "/api/", http::plain_handler([](const http::request&, const http::params&) {
               return http::text(200, "API ready to receive requests");
             }));
  router.add(http::verb::get, "/api/openapi.json", http::plain_handler([](const http::request&, const http::params&) {
               return http::json(200, openapi_json);
             }));
  users::register_routes(router, d);
  threads::register_routes(router, d);
  posts::register_routes(router, d);
  register_moderation_routes(router);
}

// The statements of every feature, prepared on every database connection.
const std::vector<store::statement>& statements() {
  static const std::vector<store::statement> all = [] {
    std::vector<store::statement> out;
    for (auto part : {users::statements(), users::session_statements(), threads::statements(), posts::statements(),
                      moderation_statements()})
      out.insert(out.end(), part.begin(), part.end());
    return out;
  }();
  return all;
}


void warm_up(const config::config& cfg) {
  // The decoy hash that wrong usernames are checked against. A failure here
  // is not fatal: the first sign-in with an unknown username retries it.
  try {
    users::check_password(std::nullopt, "", users::cost_of(cfg));
  } catch (const std::exception&) {
  }
}

}  // namespace granite::features
