#pragma once

// The instance's metrics: counters per worker slot in memory the leader maps
// before it forks, so that any worker can answer a scrape with the sum over
// every slot (no message to the others), and a worker's restart never makes
// a counter go backwards (its successor adds to the same cells). Every
// update is a relaxed atomic add on the slot's own cache lines.
//
// Gauges (connections, requests in flight) belong to one process: each
// worker claims a gauge cell of its slot, and the leader empties the cell
// when it reaps the worker, whatever killed it.
#include <sys/types.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace granite::shm {

using counter = std::atomic<std::uint64_t>;
using gauge = std::atomic<std::int64_t>;

// Routes by index (the router's order); 0: no route matched.
inline constexpr std::size_t metric_routes = 64;
// http::verb's values: get, head, post, put, patch, delete, options, other.
inline constexpr std::size_t metric_methods = 8;
// The statuses granite answers; any other is counted as the last entry.
inline constexpr std::array<int, 24> metric_statuses = {200, 201, 204, 304, 400, 401, 403, 404, 405, 408, 409, 411,
                                                        413, 414, 415, 417, 422, 429, 431, 500, 501, 503, 504, 505};
inline constexpr std::size_t metric_status_slots = metric_statuses.size() + 1;
// Upper bounds of the duration histogram's buckets, in microseconds (50 µs
// to 10 s), then +Inf.
inline constexpr std::array<std::uint64_t, 17> duration_bounds_us = {
    50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000,
    10000000};
inline constexpr std::size_t duration_buckets = duration_bounds_us.size() + 1;

// Status code -> its cell, by table (a request's status is looked up once).
inline constexpr auto status_slots = [] {
  std::array<std::uint8_t, 600> out{};
  out.fill(static_cast<std::uint8_t>(metric_statuses.size()));
  for (std::size_t i = 0; i < metric_statuses.size(); ++i) out[static_cast<std::size_t>(metric_statuses[i])] = static_cast<std::uint8_t>(i);
  return out;
}();
inline std::size_t status_slot(int status) {
  if (status < 0 || status >= static_cast<int>(status_slots.size())) return metric_statuses.size();
  return status_slots[static_cast<std::size_t>(status)];
}

inline std::size_t duration_bucket(std::uint64_t us) {
  std::size_t i = 0;
  while (i < duration_bounds_us.size() && us > duration_bounds_us[i]) ++i;
  return i;
}

// Where a worker's reads go: the primary, then each replica
// (database.replicas, 8 at most).
inline constexpr std::size_t metric_sources = 9;

// One process's gauges.
struct alignas(64) gauge_cell {
  std::atomic<pid_t> owner;
  gauge connections;
  gauge in_flight;
  // Copied from the worker's loop four times a second.
  gauge db_connections;  // open
  gauge db_wanted;       // configured
  gauge db_waiting;      // batches waiting for a connection
  gauge db_sources;      // the primary and its replicas: 1 + database.replicas
  gauge db_replica_lag_ms[metric_sources];  // as each replica last reported it (index 0 unused); -1: unknown
  gauge db_replica_usable[metric_sources];  // 1: it takes reads now
  gauge cache_entries;
  gauge cache_bytes;
  gauge cache_listening;  // 1: its read cache is in use (the change feed proved the ring current)
  gauge hashing_queued;   // password hashing jobs waiting in its bulkhead
  // Set by the worker as it stops: serving, draining (SIGTERM: /health 503,
  // still accepting), stopping (no longer accepting).
  gauge state;
};
enum class worker_state : std::int64_t { serving = 0, draining = 1, stopping = 2 };
inline constexpr std::size_t gauge_cells = 4;  // a serving worker, its outgoing and retiring predecessors

// Why the leader replaced a slot's worker. boot: it could not start serving
// (the database unreachable or out of connections) after the instance had
// started; the slot is retried with backoff while the others serve.
enum class exit_cause { exited, signaled, watchdog, boot };
inline constexpr int exit_causes = 4;

struct alignas(64) slot_metrics {
  // The workers'.
  counter requests[metric_routes][metric_methods][metric_status_slots];
  counter duration[metric_routes][duration_buckets];  // requests per bucket (not cumulative)
  counter duration_us[metric_routes];                 // their sum
  counter bytes_sent;
  counter access_lines_dropped;
  // The worker's own counters, added four times a second (what it had
  // counted since the last time).
  counter db_batches, db_refused, db_retried, db_reconnects, db_hedged;
  counter db_reads[metric_sources];   // reads answered, by source
  counter db_behind[metric_sources];  // reads a replica answered from behind the floor: sent again
  counter db_renewed[metric_sources]; // replica connections opened again at the end of their lifetime
  counter cache_hits, cache_misses, cache_fills, cache_refused_fills, cache_evictions, cache_notices, cache_flushes;
  counter cache_spared;
  counter cache_bypassed;
  counter hashing_ran, hashing_busy_us, hashing_full, hashing_expired;
  counter attempts_refused;  // sign-ins and sign-ups refused: their client's attempts were used up
  counter sign_ins_blocked;  // sign-ins refused: their username was blocked for failed sign-ins
  // Writes sent with an Idempotency-Key, by what became of them.
  counter idempotency[4];  // by http::key_outcome
  gauge_cell gauges[gauge_cells];
  // The leader's.
  alignas(64) counter restarts[exit_causes];  // by exit_cause
  gauge accept_queue;               // connections waiting in the slot's socket
  gauge accept_queue_limit;         // its backlog
};

// The instance's change feed (store/change_feed.hpp), copied from its
// process ten times a second; the leader counts its restarts.
struct feed_metrics {
  counter batches, notices, gaps, takeovers, published, untrusted_ms, restarts;
  gauge running;       // 1 while a feed process runs
  gauge streaming;     // 1: the change stream; 0: the triggers' notices
  gauge holding;       // 1 while this instance holds the stream for the fleet
  gauge lag_bytes;     // the database's WAL past what the ring has, at the last probe
  gauge proof_age_us;  // how long the last proof took
};

class metrics_memory {
 public:
  explicit metrics_memory(std::size_t slots);  // mapped before the first fork
  ~metrics_memory();
  metrics_memory(const metrics_memory&) = delete;
  metrics_memory& operator=(const metrics_memory&) = delete;

  std::size_t slots() const { return slots_; }
  slot_metrics& slot(std::size_t i) { return mem_[i]; }
  const slot_metrics& slot(std::size_t i) const { return mem_[i]; }
  // One past the highest slot a worker has run in: a scrape reads no
  // further (the pages beyond were never touched).
  std::size_t slots_used() const { return used_->load(std::memory_order_relaxed); }

  feed_metrics& feed() { return *feed_; }
  const feed_metrics& feed() const { return *feed_; }

  // The worker `pid` starts in `slot`: its gauge cell (null when the slot
  // has none free).
  gauge_cell* claim(std::size_t slot, pid_t pid);
  // The worker `pid` of `slot` is gone: its gauges go with it.
  void release(std::size_t slot, pid_t pid);

 private:
  std::size_t slots_;
  slot_metrics* mem_;
  std::atomic<std::size_t>* used_;
  feed_metrics* feed_;
};

}  // namespace granite::shm
