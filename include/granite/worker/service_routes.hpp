#pragma once

#include <atomic>

namespace granite::http {
class router;
}

namespace granite::worker {

// The routes that belong to the process rather than to a feature: /health
// and /health/ready. `closing` turns them 503 while the worker drains.
void add_service_routes(http::router& router, const std::atomic<bool>& closing);

}  // namespace granite::worker
