#pragma once

// GET /metrics: the instance's metrics in the Prometheus text format, the
// sum over every worker slot's cells (shm/metrics.hpp), whichever worker
// answers. The one owner of the metrics' names, labels and help texts.
#include <chrono>
#include <string>
#include <vector>

namespace granite::shm {
class notice_ring;
class metrics_memory;
class heartbeats;
}  // namespace granite::shm

namespace granite::http {
class router;
struct response;
}  // namespace granite::http

namespace granite::worker {

struct metrics_view {
  const shm::metrics_memory& memory;
  const shm::heartbeats* beats;  // null: no heartbeat ages
  const http::router& routes;    // the route of each index
  const shm::notice_ring* notices = nullptr;  // the instance's ring: is it proven current now?
};

// The Prometheus text format 0.0.4, or OpenMetrics 1.0 when `accept` asks
// for application/openmetrics-text.
http::response metrics_response(const metrics_view& view, const std::string& accept);

// The text alone (for tests).
std::string metrics_text(const metrics_view& view, bool openmetrics);

}  // namespace granite::worker
