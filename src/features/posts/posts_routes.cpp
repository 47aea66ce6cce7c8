#include "granite/http/ids.hpp"
#include "posts.hpp"

namespace granite::posts {

void register_routes(http::router& router, const features::deps&) {
  router.add(http::verb::get, "/api/posts/in-thread/{threadId}",
             http::db_handler([](const http::request& req, const http::params& p, store::connection& c) {
               return http::json_by_id(req, p, "threadId", "thread id", [&](std::int64_t id) {
                 return in_thread(c, id).map([](const std::vector<post>& all) { return to_json(all); });
               });
             }));
  router.add(http::verb::get, "/api/posts/by-user/{userId}",
             http::db_handler([](const http::request& req, const http::params& p, store::connection& c) {
               return http::json_by_id(req, p, "userId", "user id", [&](std::int64_t id) {
                 return by_user(c, id).map([](const std::vector<post>& all) { return to_json(all); });
               });
             }));
}

}  // namespace granite::posts
