#include "metrics_page.hpp"

#include <charconv>
#include <cstdio>

#include "granite/http/message.hpp"
#include "granite/http/router.hpp"
#include "granite/shm/heartbeats.hpp"
#include "granite/shm/metrics.hpp"
#include "granite/shm/notice_ring.hpp"
#include "granite/version.hpp"

namespace granite::worker {

namespace {

using shm::metric_methods;
using shm::metric_routes;
using shm::metric_status_slots;

constexpr const char* bucket_bounds[shm::duration_buckets] = {
    "0.00005", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
    "0.05",    "0.1",    "0.25",    "0.5",    "1.0",   "2.5",    "5.0",   "10.0", "+Inf"};
static_assert(shm::duration_bounds_us.size() + 1 == std::size(bucket_bounds));

constexpr const char* cause_names[shm::exit_causes] = {"exit", "signal", "watchdog", "boot"};

class writer {
 public:
  explicit writer(bool openmetrics) : openmetrics_(openmetrics) {}

  // "# HELP" and "# TYPE" for a family. In OpenMetrics a counter's family
  // drops "_total", and an "_info" gauge is an info family.
  void family(std::string_view name, std::string_view type, const char* help) {
    if (openmetrics_ && type == "counter" && name.ends_with("_total")) name.remove_suffix(6);
    if (openmetrics_ && type == "gauge" && name.ends_with("_info")) {
      name.remove_suffix(5);
      type = "info";
    }
    out_.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out_.append("# TYPE ").append(name).append(" ").append(type).append("\n");
  }
  void sample(std::string_view name, std::string_view labels, std::uint64_t value) {
    start(name, labels);
    char buf[24];
    auto end = std::to_chars(buf, buf + sizeof buf, value).ptr;
    out_.append(buf, end).append("\n");
  }
  void sample(std::string_view name, std::string_view labels, std::int64_t value) {
    start(name, labels);
    char buf[24];
    auto end = std::to_chars(buf, buf + sizeof buf, value).ptr;
    out_.append(buf, end).append("\n");
  }
  void sample(std::string_view name, std::string_view labels, double value) {
    start(name, labels);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6f", value);
    out_.append(buf).append("\n");
  }
  std::string finish() {
    if (openmetrics_) out_.append("# EOF\n");
    return std::move(out_);
  }

 private:
  void start(std::string_view name, std::string_view labels) {
    out_.append(name);
    if (!labels.empty()) out_.append("{").append(labels).append("}");
    out_.append(" ");
  }
  bool openmetrics_;
  std::string out_;
};

// A label value as the format asks: backslash, quote and newline escaped.
std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (char ch : text) {
    if (ch == '\\' || ch == '"') out += '\\';
    if (ch == '\n') {
      out += "\\n";
      continue;
    }
    out += ch;
  }
  return out + "\"";
}

std::string route_label(const http::router& routes, std::size_t index) {
  if (index == 0 || index > routes.routes().size()) return "route=\"none\"";
  return "route=" + quoted(routes.routes()[index - 1].pattern);
}

std::string code_label(std::size_t status) {
  if (status < shm::metric_statuses.size()) return "code=\"" + std::to_string(shm::metric_statuses[status]) + "\"";
  return "code=\"other\"";
}

std::string slot_label(std::size_t slot) { return "slot=\"" + std::to_string(slot) + "\""; }

template <class F>
std::uint64_t sum(const shm::metrics_memory& m, F cell) {
  std::uint64_t total = 0;
  for (std::size_t s = 0; s < m.slots_used(); ++s) total += cell(m.slot(s)).load(std::memory_order_relaxed);
  return total;
}

template <class F>
std::int64_t sum_gauges(const shm::metrics_memory& m, F cell) {
  std::int64_t total = 0;
  for (std::size_t s = 0; s < m.slots_used(); ++s)
    for (const auto& g : m.slot(s).gauges)
      if (g.owner.load(std::memory_order_relaxed) != 0) total += cell(g).load(std::memory_order_relaxed);
  return total;
}

// The highest of a gauge over the live processes, or `none` when no process
// is live.
template <class F>
std::int64_t most_of(const shm::metrics_memory& m, F cell, std::int64_t none) {
  std::int64_t most = none;
  for (std::size_t s = 0; s < m.slots_used(); ++s)
    for (const auto& g : m.slot(s).gauges)
      if (g.owner.load(std::memory_order_relaxed) != 0) most = std::max(most, cell(g).load(std::memory_order_relaxed));
  return most;
}

void http_requests(writer& w, const metrics_view& v) {
  w.family("http_requests_total", "counter", "Requests answered, by route pattern, method and status.");
  for (std::size_t r = 0; r < metric_routes; ++r)
    for (std::size_t m = 0; m < metric_methods; ++m)
      for (std::size_t c = 0; c < metric_status_slots; ++c) {
        auto n = sum(v.memory, [&](const shm::slot_metrics& s) -> const shm::counter& { return s.requests[r][m][c]; });
        if (n == 0) continue;
        auto method = std::string(http::verb_name(static_cast<http::verb>(m)));
        w.sample("http_requests_total", route_label(v.routes, r) + ",method=\"" + method + "\"," + code_label(c), n);
      }
}

void http_durations(writer& w, const metrics_view& v) {
  w.family("http_request_duration_seconds", "histogram",
           "Time from a whole request read to its response ready to send, by route pattern.");
  for (std::size_t r = 0; r < metric_routes; ++r) {
    std::uint64_t buckets[shm::duration_buckets];
    std::uint64_t count = 0;
    for (std::size_t b = 0; b < shm::duration_buckets; ++b) {
      buckets[b] = sum(v.memory, [&](const shm::slot_metrics& s) -> const shm::counter& { return s.duration[r][b]; });
      count += buckets[b];
    }
    if (count == 0) continue;
    auto route = route_label(v.routes, r);
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b < shm::duration_buckets; ++b) {
      cumulative += buckets[b];
      w.sample("http_request_duration_seconds_bucket", route + ",le=\"" + bucket_bounds[b] + "\"", cumulative);
    }
    auto us = sum(v.memory, [&](const shm::slot_metrics& s) -> const shm::counter& { return s.duration_us[r]; });
    w.sample("http_request_duration_seconds_sum", route, static_cast<double>(us) / 1e6);
    w.sample("http_request_duration_seconds_count", route, count);
  }
}

void http_gauges(writer& w, const metrics_view& v) {
  w.family("http_connections_open", "gauge", "Client connections open on the public port.");
  w.sample("http_connections_open", "",
           sum_gauges(v.memory, [](const shm::gauge_cell& g) -> const shm::gauge& { return g.connections; }));
  w.family("http_requests_in_flight", "gauge", "Requests read and not yet answered.");
  w.sample("http_requests_in_flight", "",
           sum_gauges(v.memory, [](const shm::gauge_cell& g) -> const shm::gauge& { return g.in_flight; }));
  w.family("http_response_bytes_total", "counter", "Bytes of responses (status lines, headers, bodies).");
  w.sample("http_response_bytes_total", "", sum(v.memory, [](const shm::slot_metrics& s) -> const shm::counter& {
             return s.bytes_sent;
           }));
}

bool slot_live(const shm::slot_metrics& s) {
  for (const auto& cell : s.gauges)
    if (cell.owner.load(std::memory_order_relaxed) != 0) return true;
  return false;
}

void worker_slots(writer& w, const metrics_view& v) {
  const auto& m = v.memory;
  w.family("granite_worker_restarts_total", "counter",
           "Workers replaced after an unplanned end, by slot and cause (exit, signal, watchdog, boot).");
  for (std::size_t s = 0; s < m.slots_used(); ++s)
    for (int c = 0; c < shm::exit_causes; ++c)
      w.sample("granite_worker_restarts_total", slot_label(s) + ",cause=\"" + cause_names[c] + "\"",
               m.slot(s).restarts[c].load(std::memory_order_relaxed));
  w.family("granite_accept_queue_connections", "gauge",
           "Connections waiting in a slot's listening socket (sampled by the leader every second).");
  for (std::size_t s = 0; s < m.slots_used(); ++s)
    if (slot_live(m.slot(s)))
      w.sample("granite_accept_queue_connections", slot_label(s),
               m.slot(s).accept_queue.load(std::memory_order_relaxed));
  w.family("granite_accept_queue_limit", "gauge", "The backlog of a slot's listening socket.");
  for (std::size_t s = 0; s < m.slots_used(); ++s)
    if (slot_live(m.slot(s)))
      w.sample("granite_accept_queue_limit", slot_label(s), m.slot(s).accept_queue_limit.load(std::memory_order_relaxed));
  if (!v.beats) return;
  w.family("granite_worker_heartbeat_age_seconds", "gauge",
           "Since a slot's worker last showed that its event loop runs (the watchdog acts at worker.timeout_s).");
  auto now = std::chrono::steady_clock::now();
  for (std::size_t s = 0; s < m.slots_used(); ++s)
    if (slot_live(m.slot(s)))
      w.sample("granite_worker_heartbeat_age_seconds", slot_label(s),
               std::chrono::duration<double>(now - v.beats->last(s)).count());
}

// The instance's change feed (store/change_feed.hpp): one sample each.
void change_feed(writer& w, const metrics_view& v) {
  const auto& f = v.memory.feed();
  auto one = [&w](const char* name, const char* type, const char* help, auto value) {
    w.family(name, type, help);
    w.sample(name, "", value);
  };
  auto load = [](const auto& cell) { return cell.load(std::memory_order_relaxed); };
  bool trusted = v.notices && v.notices->trusted(std::chrono::steady_clock::now());
  one("granite_changes_trusted", "gauge",
      "1 while the feed has proven the instance's change notices current: the read caches answer only then.",
      std::int64_t{trusted ? 1 : 0});
  one("granite_changes_untrusted_seconds_total", "counter",
      "Time the notices could not be proven current (the read caches bypassed), summed.",
      static_cast<double>(load(f.untrusted_ms)) / 1000.0);
  one("granite_changes_streaming", "gauge",
      "1: changes come from the change stream (logical replication); 0: from the triggers' notices.",
      load(f.streaming));
  one("granite_changes_holding_stream", "gauge",
      "1 while this instance holds the change stream and publishes its batches for every instance.", load(f.holding));
  one("granite_changes_takeovers_total", "counter", "Times this instance took the change stream.", load(f.takeovers));
  one("granite_changes_batches_total", "counter", "Batches of changes received from the stream's holder.",
      load(f.batches));
  one("granite_changes_published_total", "counter", "Batches this instance sent, holding the stream.",
      load(f.published));
  one("granite_changes_notices_total", "counter", "Change notices put in the instance's ring by its feed.",
      load(f.notices));
  one("granite_changes_gaps_total", "counter",
      "Times a change may have been missed (a new stream, a reconnection): every read cache emptied.", load(f.gaps));
  one("granite_changes_lag_bytes", "gauge",
      "The database's WAL past what the instance's ring has, at the feed's last probe.", load(f.lag_bytes));
  one("granite_changes_proof_seconds", "gauge",
      "How long the last proof took: from the probe of the WAL position to the batch that got past it.",
      static_cast<double>(load(f.proof_age_us)) / 1e6);
  one("granite_changes_feed_running", "gauge", "1 while the instance's change feed process runs.", load(f.running));
  one("granite_changes_feed_restarts_total", "counter", "Change feed processes replaced after an unplanned end.",
      load(f.restarts));
}

using counter_of = const shm::counter& (*)(const shm::slot_metrics&);
using gauge_of = const shm::gauge& (*)(const shm::gauge_cell&);

struct counter_family {
  const char* name;
  const char* help;
  counter_of cell;
};
struct gauge_family {
  const char* name;
  const char* help;
  gauge_of cell;
};

// The database path and the read cache, as each worker counts them (added
// to the slot's cells four times a second).
const counter_family worker_counters[] = {
    {"granite_database_batches_total", "Requests' batches of statements sent to PostgreSQL.",
     [](const shm::slot_metrics& s) -> const shm::counter& { return s.db_batches; }},
    {"granite_database_refused_total",
     "Batches answered unavailable or timeout without PostgreSQL's answer (503 to the client).",
     [](const shm::slot_metrics& s) -> const shm::counter& { return s.db_refused; }},
    {"granite_database_retried_total",
     "Batches sent once more: their connection was lost, their statement was cancelled before its deadline "
     "(a cancel meant for the batch in front of it), or a keyed write found its statement missing (the prepare "
     "of a batch in front of it failed).",
     [](const shm::slot_metrics& s) -> const shm::counter& { return s.db_retried; }},
    {"granite_database_reconnects_total", "Database connections lost after they were ready.",
     [](const shm::slot_metrics& s) -> const shm::counter& { return s.db_reconnects; }},
    {"granite_database_hedged_total",
     "Reads sent once more on another connection: they waited behind the front of a connection that had "
     "answered nothing for 20 ms (its backend waited for a CPU, a lock or a slow statement).",
     [](const shm::slot_metrics& s) -> const shm::counter& { return s.db_hedged; }},
    {"granite_cache_hits_total", "Reads answered from the read cache.",
     [](const shm::slot_metrics& s) -> const shm::counter& { return s.cache_hits; }},
    {"granite_cache_misses_total", "Cacheable reads the read cache did not hold.",
     [](const shm::slot_metrics& s) -> const shm::counter& { return s.cache_misses; }},
    {"granite_cache_fills_total", "Responses kept in the read cache.",
     [](const shm::slot_metrics& s) -> const shm::counter& { return s.cache_fills; }},
    {"granite_cache_refused_fills_total", "Responses not kept (a change notice came first, or too large).",
     [](const shm::slot_metrics& s) -> const shm::counter& { return s.cache_refused_fills; }},
    {"granite_cache_evictions_total", "Responses dropped for room (least recently used).",
     [](const shm::slot_metrics& s) -> const shm::counter& { return s.cache_evictions; }},
    {"granite_cache_notices_total", "Change notices applied to the read cache.",
     [](const shm::slot_metrics& s) -> const shm::counter& { return s.cache_notices; }},
    {"granite_cache_flushes_total", "Times the read cache was emptied whole.",
     [](const shm::slot_metrics& s) -> const shm::counter& { return s.cache_flushes; }},
    {"granite_cache_spared_total", "Cached pages a change of their list could not touch, kept.",
     [](const shm::slot_metrics& s) -> const shm::counter& { return s.cache_spared; }},
    {"granite_cache_bypassed_total",
     "Responses not kept because the change notices were not proven current at that moment (answered from the "
     "database).",
     [](const shm::slot_metrics& s) -> const shm::counter& { return s.cache_bypassed; }},
};
const gauge_family worker_gauges[] = {
    {"granite_database_connections", "Database connections open.",
     [](const shm::gauge_cell& g) -> const shm::gauge& { return g.db_connections; }},
    {"granite_database_connections_wanted", "Database connections configured (read, write and replica, every worker).",
     [](const shm::gauge_cell& g) -> const shm::gauge& { return g.db_wanted; }},
    {"granite_database_waiting", "Batches waiting for a database connection that can take them.",
     [](const shm::gauge_cell& g) -> const shm::gauge& { return g.db_waiting; }},
    {"granite_cache_entries", "Responses in the read caches.",
     [](const shm::gauge_cell& g) -> const shm::gauge& { return g.cache_entries; }},
    {"granite_cache_bytes", "Bytes of responses in the read caches.",
     [](const shm::gauge_cell& g) -> const shm::gauge& { return g.cache_bytes; }},
    {"granite_cache_listening", "Workers whose read cache is in use: the change feed has proven its notices current (the others bypass it).",
     [](const shm::gauge_cell& g) -> const shm::gauge& { return g.cache_listening; }},
};

// The password-hashing bulkhead: its queue, its refusals, its jobs' time
// (a summary: sum and count).
void hashing(writer& w, const metrics_view& v) {
  const auto& m = v.memory;
  w.family("granite_hashing_queued", "gauge", "Password hashing jobs waiting for a thread of the bulkhead.");
  w.sample("granite_hashing_queued", "",
           sum_gauges(m, [](const shm::gauge_cell& g) -> const shm::gauge& { return g.hashing_queued; }));
  w.family("granite_hashing_refused_total", "counter",
           "Password hashing jobs refused (503): the queue was full, or the job waited past auth.hash_wait_limit_ms.");
  w.sample("granite_hashing_refused_total", "reason=\"full\"",
           sum(m, [](const shm::slot_metrics& s) -> const shm::counter& { return s.hashing_full; }));
  w.sample("granite_hashing_refused_total", "reason=\"expired\"",
           sum(m, [](const shm::slot_metrics& s) -> const shm::counter& { return s.hashing_expired; }));
  w.family("granite_sign_in_attempts_refused_total", "counter",
           "Sign-ins and sign-ups refused with 429: their client had used up its attempts (auth.attempts_per_minute), "
           "or the username was blocked for failed sign-ins (auth.account_free_failures).");
  w.sample("granite_sign_in_attempts_refused_total", "reason=\"client\"",
           sum(m, [](const shm::slot_metrics& s) -> const shm::counter& { return s.attempts_refused; }));
  w.sample("granite_sign_in_attempts_refused_total", "reason=\"username\"",
           sum(m, [](const shm::slot_metrics& s) -> const shm::counter& { return s.sign_ins_blocked; }));
  w.family("granite_idempotency_total", "counter",
           "Writes sent with an Idempotency-Key: applied (ran; their answer kept when they changed something), "
           "replayed (answered from their key), "
           "reused (422: the key was used for another request), in_use (409: its first request was running).");
  const char* outcomes[] = {"applied", "replayed", "reused", "in_use"};
  for (int o = 0; o < 4; ++o)
    w.sample("granite_idempotency_total", std::string("outcome=\"") + outcomes[o] + "\"",
             sum(m, [o](const shm::slot_metrics& s) -> const shm::counter& { return s.idempotency[o]; }));
  w.family("granite_hashing_duration_seconds", "summary", "Time password hashing jobs ran on the bulkhead's threads.");
  auto us = sum(m, [](const shm::slot_metrics& s) -> const shm::counter& { return s.hashing_busy_us; });
  w.sample("granite_hashing_duration_seconds_sum", "", static_cast<double>(us) / 1e6);
  w.sample("granite_hashing_duration_seconds_count", "",
           sum(m, [](const shm::slot_metrics& s) -> const shm::counter& { return s.hashing_ran; }));
}

// Workers by state, and whether the instance is draining (a SIGTERM: its
// /health answers 503).
void drain_state(writer& w, const metrics_view& v) {
  std::int64_t by_state[3] = {};
  for (std::size_t s = 0; s < v.memory.slots_used(); ++s)
    for (const auto& g : v.memory.slot(s).gauges) {
      if (g.owner.load(std::memory_order_relaxed) == 0) continue;
      auto state = g.state.load(std::memory_order_relaxed);
      if (state >= 0 && state < 3) ++by_state[state];
    }
  w.family("granite_workers", "gauge",
           "Workers by state: serving, draining (/health answers 503, still accepting), stopping (no longer accepting).");
  constexpr const char* names[] = {"serving", "draining", "stopping"};
  for (int i = 0; i < 3; ++i) w.sample("granite_workers", std::string("state=\"") + names[i] + "\"", by_state[i]);
  w.family("granite_draining", "gauge", "1 while the instance drains after SIGTERM (its /health answers 503), else 0.");
  w.sample("granite_draining", "", std::int64_t{by_state[1] > 0 ? 1 : 0});
}

// Where reads went: the primary and each replica (database.replicas).
void read_sources(writer& w, const metrics_view& v) {
  const auto& m = v.memory;
  auto sources = most_of(m, [](const shm::gauge_cell& g) -> const shm::gauge& { return g.db_sources; }, 1);
  auto label = [](std::size_t i) {
    return i == 0 ? std::string("source=\"primary\"") : "source=\"replica " + std::to_string(i) + "\"";
  };
  auto n = static_cast<std::size_t>(std::min<std::int64_t>(sources, shm::metric_sources));
  // A counter kept per source, summed over the workers, for the sources
  // from `first` on (1: the replicas).
  using per_source = shm::counter (shm::slot_metrics::*)[shm::metric_sources];
  auto counted = [&](const char* name, const char* help, std::size_t first, per_source of) {
    w.family(name, "counter", help);
    for (std::size_t i = first; i < n; ++i) {
      auto cell = [i, of](const shm::slot_metrics& s) -> const shm::counter& { return (s.*of)[i]; };
      w.sample(name, label(i), sum(m, cell));
    }
  };
  counted("granite_database_reads_total",
          "Reads answered, by where they were read: the primary, or a replica (database.replicas, in order).", 0,
          &shm::slot_metrics::db_reads);
  if (n < 2) return;
  counted("granite_database_reads_behind_total",
          "Reads a replica answered from behind the instance's floor or the client's position (or that its replay "
          "cancelled): not used, sent again to a replica that is far enough or to the primary.",
          1, &shm::slot_metrics::db_behind);
  counted("granite_database_replica_renewals_total",
          "Connections to a replica closed and opened again at the end of "
          "database.replica_connection_lifetime_s, for a reader endpoint to spread them again.",
          1, &shm::slot_metrics::db_renewed);
  w.family("granite_database_replica_lag_seconds", "gauge",
           "A replica's replay lag as it last reported it (the most any worker saw): 0 when it has replayed all it "
           "received.");
  for (std::size_t i = 1; i < n; ++i) {
    auto most = most_of(m, [i](const shm::gauge_cell& g) -> const shm::gauge& { return g.db_replica_lag_ms[i]; }, -1);
    if (most >= 0) w.sample("granite_database_replica_lag_seconds", label(i), static_cast<double>(most) / 1e3);
  }
  w.family("granite_database_replica_usable", "gauge",
           "Workers for which a replica takes reads now: connected, within database.replica_max_lag_ms, and not "
           "known to be behind.");
  for (std::size_t i = 1; i < n; ++i)
    w.sample("granite_database_replica_usable", label(i),
             sum_gauges(m, [i](const shm::gauge_cell& g) -> const shm::gauge& { return g.db_replica_usable[i]; }));
}

void worker_state(writer& w, const metrics_view& v) {
  for (const auto& f : worker_counters) {
    w.family(f.name, "counter", f.help);
    w.sample(f.name, "", sum(v.memory, f.cell));
  }
  for (const auto& f : worker_gauges) {
    w.family(f.name, "gauge", f.help);
    w.sample(f.name, "", sum_gauges(v.memory, f.cell));
  }
}

}  // namespace

std::string metrics_text(const metrics_view& v, bool openmetrics) {
  writer w(openmetrics);
  w.family("granite_build_info", "gauge", "The running granite's version.");
  w.sample("granite_build_info", "version=" + quoted(version), std::uint64_t{1});
  http_requests(w, v);
  http_durations(w, v);
  http_gauges(w, v);
  worker_slots(w, v);
  change_feed(w, v);
  worker_state(w, v);
  read_sources(w, v);
  hashing(w, v);
  drain_state(w, v);
  w.family("granite_access_log_lines_dropped_total", "counter",
           "Access lines that could not be written (a full disk, an unwritable file, a writer far behind).");
  w.sample("granite_access_log_lines_dropped_total", "",
           sum(v.memory, [](const shm::slot_metrics& s) -> const shm::counter& { return s.access_lines_dropped; }));
  return w.finish();
}

http::response metrics_response(const metrics_view& v, const std::string& accept) {
  bool openmetrics = accept.find("application/openmetrics-text") != std::string::npos;
  http::response r;
  r.status = 200;
  r.content_type = openmetrics ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                               : "text/plain; version=0.0.4; charset=utf-8";
  r.body = metrics_text(v, openmetrics);
  return r;
}

}  // namespace granite::worker
