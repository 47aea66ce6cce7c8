#include "granite/worker/service_routes.hpp"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "granite/http/cache.hpp"
#include "granite/http/router.hpp"
#include "granite/store/database.hpp"

namespace granite::worker {

// /health is shallow on purpose: a database outage must not make the load
// balancer or the Auto Scaling group replace every instance. /health/ready
// also asks the database, for whoever wants to know that the whole path works.
void add_service_routes(http::router& router, const std::atomic<bool>& closing, const http::read_cache& cache) {
  router.add(http::verb::get, "/health", http::plain_handler([&closing](const http::request&, const http::params&) {
               if (closing) return http::text(503, "draining\n");
               return http::text(200, "ok\n");
             }));
  router.add(http::verb::get, "/health/ready",
             http::db_handler([&closing](const http::request&, const http::params&, store::connection& c) {
               if (closing) return http::text(503, "draining\n");
               store::ping(c);
               return http::text(200, "ready\n");
             }));
  router.add(http::verb::get, "/health/cache", http::plain_handler([&cache](const http::request&, const http::params&) {
               auto s = cache.snapshot();
               nlohmann::ordered_json out = {
                   {"worker", getpid()},       {"enabled", s.enabled},   {"listening", s.listening},
                   {"entries", s.entries},     {"bytes", s.bytes},       {"limitBytes", s.limit_bytes},
                   {"hits", s.hits},           {"misses", s.misses},     {"fills", s.fills},
                   {"refusedFills", s.refused_fills}, {"evictions", s.evictions}, {"notices", s.notices},
                   {"flushes", s.flushes}};
               auto res = http::json(200, out.dump());
               res.headers.emplace_back("Cache-Control", "no-store");
               return res;
             }));
}

}  // namespace granite::worker
