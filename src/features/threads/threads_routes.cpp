#include "granite/http/ids.hpp"
#include "threads.hpp"

namespace granite::threads {

void register_routes(http::router& router, const features::deps&) {
  router.add(http::verb::get, "/api/threads",
             http::db_handler([](const http::request&, const http::params&, store::connection& c) {
               return http::json(200, to_json(list(c)));
             }));
  router.add(http::verb::get, "/api/threads/{id}",
             http::db_handler([](const http::request& req, const http::params& p, store::connection& c) {
               return http::json_by_id(req, p, "id", "thread id", [&](std::int64_t id) {
                 return find(c, id).map([](const thread& t) { return to_json(t); });
               });
             }));
}

}  // namespace granite::threads
