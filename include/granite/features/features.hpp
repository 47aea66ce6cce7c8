#pragma once

// What a worker needs from the features: their routes and their prepared
// statements. Each feature lives in src/features/<name>/.
namespace granite::config {
struct config;
}
namespace granite::http {
class router;
}
namespace granite::store {
class connection;
}

namespace granite::features {

struct deps {
  const config::config& config;
};

// Adds the routes of every feature, and the original API's index routes.
void register_routes(http::router& router, const deps& d);

// Prepares every feature's statements on a new database connection.
void prepare_statements(store::connection& c);

// Work worth doing once per worker before the first request needs it (runs
// in the CPU bulkhead): the decoy password hash of sign-in.
void warm_up(const config::config& cfg);

// The OpenAPI 3.1 document of every route (src/features/openapi.json).
extern const char* const openapi_json;

}  // namespace granite::features
