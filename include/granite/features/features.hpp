#pragma once

// What a worker needs from the features: their routes, their prepared
// statements, and what a change notice drops from a read cache. Each feature
// lives in src/features/<name>/.
#include <span>
#include <vector>

#include "granite/store/statement.hpp"

namespace granite::config {
struct config;
}
namespace granite::http {
class router;
}

namespace granite::features {

struct deps {
  const config::config& config;
};

// An account's budget of new posts and threads together: `budget` in any
// `window_s` seconds (posting.*; 0: no limit). The insert checks it in the
// database (migration 0008), so that it holds across the fleet; beyond it
// the insert fails with store::failure::kind::over_budget, a 429.
struct posting_budget {
  int budget = 0;
  int window_s = 60;
};
posting_budget posting_budget_of(const config::config& c);

// Adds the routes of every feature, and the original API's index routes.
void register_routes(http::router& router, const deps& d);

// Every feature's statements, prepared on every database connection.
const std::vector<store::statement>& statements();

// Work worth doing once per worker before the first request needs it (runs
// in the CPU bulkhead): the decoy password hash of sign-in.
void warm_up(const config::config& cfg);

// The OpenAPI 3.1 document of every route (src/features/openapi.json).
extern const char* const openapi_json;

}  // namespace granite::features
