#pragma once

// The worker's side of the instance's metrics: GET /metrics on the metrics
// listener, and what the worker counts in objects of its own copied into its
// slot's cells. Private to worker/.
#include <cstdint>

#include "granite/http/bulkhead.hpp"
#include "granite/http/cache.hpp"
#include "granite/http/router.hpp"
#include "granite/http/session.hpp"
#include "granite/shm/metrics.hpp"
#include "granite/store/async.hpp"
#include "granite/worker/worker.hpp"
#include "metrics_page.hpp"

namespace granite::worker {

// What the worker counts in objects of its own (the database, the read
// cache, the hashing bulkhead) goes into its slot's cells on the heartbeat's
// tick: counters as what was added since the last tick, gauges as they are.
class metrics_copier {
 public:
  metrics_copier(shm::slot_metrics* slot, shm::gauge_cell* gauges, const store::database& db,
                 const http::read_cache& cache, const http::bulkhead& hashing)
      : slot_(slot), gauges_(gauges), db_(db), cache_(cache), hashing_(hashing) {}

  void tick() {
    if (!slot_) return;
    auto d = db_.snapshot();
    auto c = cache_.snapshot();
    auto h = hashing_.snapshot();
    add(slot_->db_batches, d.batches, last_db_.batches);
    add(slot_->db_refused, d.refused, last_db_.refused);
    add(slot_->db_retried, d.retried, last_db_.retried);
    add(slot_->db_reconnects, d.reconnects, last_db_.reconnects);
    add(slot_->db_hedged, d.hedged, last_db_.hedged);
    for (std::size_t i = 0; i < d.sources.size() && i < shm::metric_sources; ++i) {
      auto before = i < last_db_.sources.size() ? last_db_.sources[i] : store::database::stats::source{};
      add(slot_->db_reads[i], d.sources[i].reads, before.reads);
      add(slot_->db_behind[i], d.sources[i].behind, before.behind);
      add(slot_->db_renewed[i], d.sources[i].renewed, before.renewed);
    }
    add(slot_->cache_hits, c.hits, last_cache_.hits);
    add(slot_->cache_misses, c.misses, last_cache_.misses);
    add(slot_->cache_fills, c.fills, last_cache_.fills);
    add(slot_->cache_refused_fills, c.refused_fills, last_cache_.refused_fills);
    add(slot_->cache_evictions, c.evictions, last_cache_.evictions);
    add(slot_->cache_notices, c.notices, last_cache_.notices);
    add(slot_->cache_flushes, c.flushes, last_cache_.flushes);
    add(slot_->cache_spared, c.spared, last_cache_.spared);
    add(slot_->cache_bypassed, c.bypassed, last_cache_.bypassed);
    add(slot_->hashing_ran, h.ran, last_hashing_.ran);
    add(slot_->hashing_busy_us, h.busy_us, last_hashing_.busy_us);
    add(slot_->hashing_full, h.full, last_hashing_.full);
    add(slot_->hashing_expired, h.expired, last_hashing_.expired);
    last_db_ = d;
    last_cache_ = c;
    last_hashing_ = h;
    if (!gauges_) return;
    set(gauges_->db_connections, d.connections);
    set(gauges_->db_wanted, d.wanted);
    set(gauges_->db_waiting, d.waiting);
    set(gauges_->db_sources, std::min(d.sources.size(), shm::metric_sources));
    for (std::size_t i = 1; i < d.sources.size() && i < shm::metric_sources; ++i) {
      gauges_->db_replica_lag_ms[i].store(d.sources[i].lag_ms, std::memory_order_relaxed);
      set(gauges_->db_replica_usable[i], d.sources[i].usable ? 1 : 0);
    }
    set(gauges_->cache_entries, c.entries);
    set(gauges_->cache_bytes, c.bytes);
    set(gauges_->cache_listening, c.enabled && c.listening ? 1 : 0);
    set(gauges_->hashing_queued, h.queued);
  }

 private:
  static void add(shm::counter& into, std::uint64_t now, std::uint64_t before) {
    if (now > before) into.fetch_add(now - before, std::memory_order_relaxed);
  }
  static void set(shm::gauge& into, std::size_t value) {
    into.store(static_cast<std::int64_t>(value), std::memory_order_relaxed);
  }

  shm::slot_metrics* slot_;
  shm::gauge_cell* gauges_;
  const store::database& db_;
  const http::read_cache& cache_;
  const http::bulkhead& hashing_;
  store::database::stats last_db_{};
  http::read_cache::stats last_cache_{};
  http::bulkhead::stats last_hashing_{};
};

// GET /metrics on the metrics listener: a router with that route alone, so
// that the public port never answers it, and a read cache of its own that
// is off (a scrape is neither a hit nor a miss of the public one).
class metrics_server {
 public:
  metrics_server(const inherited& from, const http::router& public_routes, http::server_context& public_ctx)
      : view_{*from.metrics, from.beats, public_routes, from.notices},
        no_cache_(0, false, nullptr),
        ctx_{routes_, public_ctx.svc, no_cache_, public_ctx.limit, nullptr, nullptr, nullptr, {}, {}} {
    ctx_.limit.max_connections = 64;
    routes_.add(http::verb::get, "/metrics", http::plain_handler([this](const http::request& req, const http::params&) {
                  return metrics_response(view_, req.accept);
                }));
  }
  http::server_context& context() { return ctx_; }

 private:
  metrics_view view_;
  http::router routes_;
  http::read_cache no_cache_;
  http::server_context ctx_;
};

}  // namespace granite::worker
