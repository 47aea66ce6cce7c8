#include "granite/worker/service_routes.hpp"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "granite/http/cache.hpp"
#include "granite/http/router.hpp"
#include "granite/http/problem.hpp"
#include "granite/store/async.hpp"

namespace granite::worker {

namespace {
http::response no_store(http::response r) {
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

task<http::response> ready(const std::atomic<bool>& closing, const http::request& req, http::services& s) {
  if (closing) co_return http::text(503, "draining\n");
  auto a = co_await s.db.read(store::batch().add(store::ping));
  if (!a.ok()) co_return http::problem(a.as_error(), req);
  co_return http::text(200, "ready\n");
}
}  // namespace

// /health is shallow on purpose: a database outage must not make the load
// balancer or the Auto Scaling group replace every instance. /health/ready
// also asks the database, for whoever wants to know that the whole path works.
void add_service_routes(http::router& router, const std::atomic<bool>& closing, const http::read_cache& cache,
                        const store::database& db) {
  router.add(http::verb::get, "/health", http::plain_handler([&closing](const http::request&, const http::params&) {
               if (closing) return http::text(503, "draining\n");
               return http::text(200, "ok\n");
             }));
  router.add(http::verb::get, "/health/ready",
             http::async_handler([&closing](const http::request& req, const http::params&, http::services& s) {
               return ready(closing, req, s);
             }));
  router.add(http::verb::get, "/health/cache", http::plain_handler([&cache](const http::request&, const http::params&) {
               auto s = cache.snapshot();
               nlohmann::ordered_json out = {
                   {"worker", getpid()},       {"enabled", s.enabled},   {"listening", s.listening},
                   {"entries", s.entries},     {"bytes", s.bytes},       {"limitBytes", s.limit_bytes},
                   {"hits", s.hits},           {"misses", s.misses},     {"fills", s.fills},
                   {"refusedFills", s.refused_fills}, {"evictions", s.evictions}, {"notices", s.notices},
                   {"flushes", s.flushes},     {"spared", s.spared},
                   {"bypassed", s.bypassed}};
               return no_store(http::json(200, out.dump()));
             }));
  router.add(http::verb::get, "/health/database", http::plain_handler([&db](const http::request&, const http::params&) {
               auto s = db.snapshot();
               nlohmann::ordered_json out = {
                   {"worker", getpid()},         {"connections", s.connections}, {"connectionsWanted", s.wanted},
                   {"waiting", s.waiting},       {"batches", s.batches},         {"retried", s.retried},
                   {"refused", s.refused},       {"reconnects", s.reconnects},   {"hedged", s.hedged}};
               auto sources = nlohmann::ordered_json::array();
               for (const auto& src : s.sources) {
                 nlohmann::ordered_json one = {{"name", src.name},         {"host", src.host},
                                               {"connections", src.connections}, {"connectionsWanted", src.wanted},
                                               {"reads", src.reads}};
                 if (&src != &s.sources.front()) {
                   one["behind"] = src.behind;
                   one["renewed"] = src.renewed;
                   one["replayed"] = format_lsn(src.replayed == UINT64_MAX ? 0 : src.replayed);
                   one["promoted"] = src.replayed == UINT64_MAX;
                   one["lagMs"] = src.lag_ms < 0 ? nlohmann::ordered_json() : nlohmann::ordered_json(src.lag_ms);
                   one["usable"] = src.usable;
                 }
                 sources.push_back(std::move(one));
               }
               out["sources"] = std::move(sources);
               return no_store(http::json(200, out.dump()));
             }));
}

}  // namespace granite::worker
