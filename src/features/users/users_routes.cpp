#include "granite/http/ids.hpp"
#include "users.hpp"

namespace granite::users {

void register_routes(http::router& router, const features::deps&) {
  router.add(http::verb::get, "/api/users",
             http::db_handler([](const http::request&, const http::params&, store::connection& c) {
               return http::json(200, to_json(list(c)));
             }));
  router.add(http::verb::get, "/api/users/{id}",
             http::db_handler([](const http::request& req, const http::params& p, store::connection& c) {
               return http::json_by_id(req, p, "id", "user id", [&](std::int64_t id) {
                 return find(c, id).map([](const user& u) { return to_json(u); });
               });
             }));
}

}  // namespace granite::users
