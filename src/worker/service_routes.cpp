#include "granite/worker/service_routes.hpp"

#include <pqxx/pqxx>

#include "granite/http/router.hpp"
#include "granite/store/connection.hpp"

namespace granite::worker {

// /health is shallow on purpose: a database outage must not make the load
// balancer or the Auto Scaling group replace every instance. /health/ready
// also asks the database, for whoever wants to know that the whole path works.
void add_service_routes(http::router& router, const std::atomic<bool>& closing) {
  router.add(http::verb::get, "/health", http::plain_handler([&closing](const http::request&, const http::params&) {
               if (closing) return http::text(503, "draining\n");
               return http::text(200, "ok\n");
             }));
  router.add(http::verb::get, "/health/ready",
             http::db_handler([&closing](const http::request&, const http::params&, store::connection& c) {
               if (closing) return http::text(503, "draining\n");
               pqxx::nontransaction tx(c.raw());
               tx.exec("SELECT 1");
               return http::text(200, "ready\n");
             }));
}

}  // namespace granite::worker
