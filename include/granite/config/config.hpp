#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace granite::config {

// The most worker processes an instance runs: the bound of `workers` and of
// SIGTTIN, and the size of the leader's shared memory per slot.
inline constexpr int max_workers = 1024;
// The most read replicas (database.replicas): the metrics' cells per slot.
inline constexpr std::size_t max_replicas = 8;

// The whole configuration, read once in the leader and never changed.
// Precedence: built-in defaults < config file < environment < flags.
struct config {
  struct listen_t {
    std::string host = "0.0.0.0";
    int port = 8080;
    int backlog = 1024;
  } listen;
  int workers = 0;  // 0: one per online CPU
  struct worker_t {
    int timeout_s = 30;  // watchdog: a worker silent this long is aborted; 0: off
  } worker;
  struct http_t {
    std::int64_t header_limit_bytes = 8 * 1024;
    std::int64_t body_limit_bytes = 64 * 1024;
    int idle_timeout_s = 75;     // a kept-alive connection waiting for its next request
    int header_timeout_s = 10;   // a request's header, from its first byte (a new connection's too)
    int body_timeout_s = 30;     // a request's body, after its header
    int max_connections = 10000;  // per worker; beyond, new connections are closed at once
    int max_requests_per_connection = 1000;  // then the response closes the connection; 0: no limit
    int idempotency_ttl_s = 86400;  // how long an Idempotency-Key keeps a write's response
    // A PATCH or DELETE of a user, thread or post without If-Match is 428.
    bool require_if_match = false;
    // Peers whose X-Forwarded-For is believed (the load balancer's
    // subnets), as CIDRs; empty: the client is always the peer.
    std::vector<std::string> trusted_proxies;
  } http;
  struct database_t {
    std::string url;  // empty: libpq defaults (PGHOST, PGPORT, PGUSER, ...)
    int read_connections = 1;   // per worker, pipelined; the first also receives the change notices
    int write_connections = 1;  // per worker, pipelined
    // Sessions that need a server to themselves (the change feed,
    // migrations, seeds, the schema check) connect here: around a
    // transaction-pooling pooler. Empty: url.
    std::string listen_url;
    // What database.url reaches: the server itself ("none"), or a pooler
    // that hands each transaction any of its server connections
    // ("transaction": granite then keeps no state in a session: no
    // prepared statements, no SET).
    std::string pooler = "none";
    // Streaming replicas that serve reads (libpq URLs; one reader endpoint,
    // such as Aurora's, counts as one): each worker keeps
    // replica_connections to each. A replica whose replay lags more than
    // replica_max_lag_ms (0: no limit) gets no reads until it catches up.
    // A replica connection is opened again after
    // replica_connection_lifetime_s (less up to a quarter; 0: never), so
    // that a reader endpoint spreads it over the replicas there are now.
    std::vector<std::string> replicas;
    int replica_connections = 1;
    int replica_max_lag_ms = 1000;
    int replica_connection_lifetime_s = 300;
    int queue_limit = 1024;     // per lane: requests waiting for a connection; beyond, 503
    int statement_timeout_ms = 5000;
    int connect_timeout_s = 5;
    bool migrate = true;
  } database;
  // Where the sessions that need a server to themselves connect.
  const std::string& session_url() const { return database.listen_url.empty() ? database.url : database.listen_url; }
  struct auth_t {
    int hash_threads = 1;       // per worker: the password-hashing bulkhead
    int hash_queue_limit = 16;  // per worker: sign-ups and sign-ins waiting; beyond, 503
    int hash_wait_limit_ms = 5000;  // one that waited longer is answered 503 unhashed
    int hash_cpu_percent = 10;      // of one CPU, per hashing thread at most
    std::string hash_priority = "idle";  // idle (SCHED_IDLE) or low (nice 19)
    int argon2_ops_limit = 2;       // Argon2id passes over memory (t)
    int argon2_memory_kib = 19456;  // Argon2id memory per hash (m), 19 MiB
    int session_ttl_s = 7 * 24 * 3600;  // a sign-in's token lives this long
    int attempts_per_minute = 10;  // sign-ins and sign-ups per client address, instance-wide; 0: no limit
    int attempts_burst = 20;       // of which at once
    int account_free_failures = 5;  // failed sign-ins per username before each further one blocks it; 0: no limit
    int account_block_max_s = 900;  // the longest such block
  } auth;
  // New posts and threads per account, fleet-wide (checked by the insert
  // itself, in the database: migration 0008); beyond, 429.
  struct posting_t {
    int budget = 0;     // in any window_s seconds; 0: no limit
    int window_s = 60;
  } posting;
  struct cache_t {
    bool enabled = true;  // the read cache; false: every read asks the database
    int size_mib = 16;    // per worker: serialized responses kept, least recently used evicted
    // Where the instance learns of changes (store/change_feed.hpp): stream
    // (logical replication, decoded once for the fleet), notify (the
    // triggers' notices), or auto (the stream where the database allows it).
    std::string changes = "auto";
  } cache;
  struct log_t {
    std::string level = "info";
    bool access = true;
    std::string access_file;        // empty: stderr; reopened on SIGUSR1
    std::string format = "plain";   // of access lines: plain or json
    int flush_ms = 500;             // access lines wait in a worker's buffer at most this long
  } log;
  struct metrics_t {
    // The Prometheus endpoint's own listener (never the public port); empty: none.
    std::string listen = "127.0.0.1:9464";
  } metrics;
  struct drain_t {
    int delay_s = 15;    // after SIGTERM: /health 503, keep serving, before we stop accepting
    int timeout_s = 10;  // then: how long in-flight requests may take to finish
  } drain;

  // Effective worker count after resolving 0 to the online CPU count.
  int worker_count() const;

  // What the loader noticed without refusing: keys that no longer have an
  // effect. The leader logs them at start.
  std::vector<std::string> warnings;
};

// One bad input, already phrased for a person: names the key and the source.
class config_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What the command line said about configuration.
struct setting {
  std::string key;    // "listen.port"
  std::string value;  // as typed
  std::string flag;   // how it was given, for messages: "--port"
};
struct overrides {
  std::optional<std::string> file{};  // --config
  std::vector<setting> set{};         // --port, --workers, --set k=v
};

// Builds and validates the configuration from every layer. `environment` is
// passed in (not read here) so that tests can drive it. Throws config_error.
config load(const overrides& flags, const std::map<std::string, std::string>& environment);

// The process environment as a map, for load().
std::map<std::string, std::string> process_environment();

// The configuration as JSON text (the database password is masked).
std::string to_json(const config& c);

// Every key as "section.name", in documentation order.
std::vector<std::string> key_names();

}  // namespace granite::config
