#pragma once

// The one header that brings Asio to its includers: only the worker and the
// session implementation include it.
#include <boost/asio/ip/tcp.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <unordered_set>
#include <vector>

#include "granite/http/router.hpp"
#include "granite/network.hpp"

namespace granite::http {
class read_cache;
}
namespace granite::obs {
class access_log;
}
namespace granite::shm {
struct slot_metrics;
struct gauge_cell;
}

namespace granite::http {

struct limits {
  std::uint64_t header_bytes;
  std::uint64_t body_bytes;
  std::chrono::seconds idle_timeout;    // between requests on a kept-alive connection
  std::chrono::seconds header_timeout;  // a header from its first byte; a new connection's first byte
  std::chrono::seconds body_timeout;    // a body after its header
  std::size_t max_connections;          // open at once, lingering ones included; beyond, new ones are closed
  std::uint64_t max_requests;           // per connection; 0: no limit
};

class session;

// What every session of one worker shares. Lives on the worker's event loop
// thread; only `closing` is read from another thread.
struct server_context {
  const router& routes;
  services svc;  // what async handlers use: the database, the CPU bulkhead
  read_cache& cache;
  limits limit;
  obs::access_log* access_log;  // null: none
  // The worker slot's counters in the instance's metrics, and this
  // process's gauges; null: not counted.
  shm::slot_metrics* metrics;
  shm::gauge_cell* gauges;
  std::vector<ip_network> trusted_proxies;  // whose X-Forwarded-For names the client
  std::unordered_set<session*> sessions;  // open connections
  std::size_t lingering = 0;  // answered for the last time, closing (see close_lingering)
  // Finish the current request, then close.
  std::atomic<bool> closing{false};

  // From now on every response closes its connection; connections that wait
  // for their next request close now (a new one gets a second for its first).
  void close_connections();
  // Acts on every connection whose deadline has passed (closes it, or
  // answers 408 to a request that is late). The worker calls it a few times
  // a second: one timer for all connections.
  void sweep();
};

// Serves HTTP/1.1 on an accepted connection until it closes. Beyond
// limit.max_connections (sessions and lingering closes together) the
// connection is closed at once (false).
bool start_session(boost::asio::ip::tcp::socket socket, server_context& ctx);

}  // namespace granite::http
