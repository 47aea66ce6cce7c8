#pragma once

#include <atomic>

namespace granite::http {
class router;
class read_cache;
}
namespace granite::store {
class database;
}

namespace granite::worker {

// The routes that belong to the process rather than to a feature: /health
// and /health/ready (`closing` turns them 503 while the worker drains), and
// the answering worker's read cache and database connections as JSON
// (/health/cache, /health/database).
void add_service_routes(http::router& router, const std::atomic<bool>& closing, const http::read_cache& cache,
                        const store::database& db);

}  // namespace granite::worker
