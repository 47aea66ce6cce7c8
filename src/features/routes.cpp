#include "granite/http/router.hpp"
#include "posts/posts.hpp"
#include "threads/threads.hpp"
#include "users/users.hpp"

namespace granite::features {

void register_routes(http::router& router, const deps& d) {
  // The original API's index routes, byte for byte.
  router.add(http::verb::get, "/", http::plain_handler([](const http::request&, const http::params&) {
               return http::text(200, "Ready to receive requests");
             }));
  router.add(http::verb::get, "/api/", http::plain_handler([](const http::request&, const http::params&) {
               return http::text(200, "API ready to receive requests");
             }));
  users::register_routes(router, d);
  threads::register_routes(router, d);
  posts::register_routes(router, d);
}

void prepare_statements(store::connection& c) {
  users::prepare(c);
  threads::prepare(c);
  posts::prepare(c);
}

}  // namespace granite::features
