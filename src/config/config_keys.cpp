#include "config_keys.hpp"

#include <cctype>

#include "granite/network.hpp"
#include "granite/text.hpp"

namespace granite::config::detail {

namespace {
template <class T>
std::function<field(config&)> at(T config::*member) {
  return [member](config& c) -> field { return &(c.*member); };
}
template <class S, class T>
std::function<field(config&)> at(S config::*section, T S::*member) {
  return [section, member](config& c) -> field { return &((c.*section).*member); };
}
constexpr std::int64_t mib = 1024 * 1024;
}  // namespace

const std::vector<key_spec>& keys() {
  static const std::vector<key_spec> all = {
      {"listen.host", at(&config::listen, &config::listen_t::host), 0, 0, {}},
      {"listen.port", at(&config::listen, &config::listen_t::port), 1, 65535, {}},
      {"listen.backlog", at(&config::listen, &config::listen_t::backlog), 1, 65535, {}},
      {"workers", at(&config::workers), 0, max_workers, {}},
      {"worker.timeout_s", at(&config::worker, &config::worker_t::timeout_s), 0, 3600, {}},
      {"http.header_limit_bytes", at(&config::http, &config::http_t::header_limit_bytes), 1024, 1 * mib, {}},
      {"http.body_limit_bytes", at(&config::http, &config::http_t::body_limit_bytes), 0, 64 * mib, {}},
      {"http.idle_timeout_s", at(&config::http, &config::http_t::idle_timeout_s), 1, 3600, {}},
      {"http.header_timeout_s", at(&config::http, &config::http_t::header_timeout_s), 1, 3600, {}},
      {"http.body_timeout_s", at(&config::http, &config::http_t::body_timeout_s), 1, 3600, {}},
      {"http.max_connections", at(&config::http, &config::http_t::max_connections), 1, 1000000, {}},
      {"http.max_requests_per_connection", at(&config::http, &config::http_t::max_requests_per_connection), 0,
       1000000000, {}},
      {"http.idempotency_ttl_s", at(&config::http, &config::http_t::idempotency_ttl_s), 60, 30 * 86400, {}},
      {"http.require_if_match", at(&config::http, &config::http_t::require_if_match), 0, 0, {}},
      {"http.trusted_proxies", at(&config::http, &config::http_t::trusted_proxies), 0, 0, {}, {},
       [](std::string_view entry) -> std::string {
         if (ip_network::parse(entry)) return {};
         return "\"" + std::string(entry) +
                "\" is not an IPv4 or IPv6 network (a CIDR such as 10.0.0.0/16 or 2001:db8::/32, or one address)";
       }},
      {"database.url", at(&config::database, &config::database_t::url), 0, 0, {}},
      {"database.read_connections", at(&config::database, &config::database_t::read_connections), 1, 16, {}},
      {"database.write_connections", at(&config::database, &config::database_t::write_connections), 1, 16, {}},
      {"database.replicas", at(&config::database, &config::database_t::replicas), 0, 0, {}, {},
       [](std::string_view entry) -> std::string {
         if (trim_ows(entry).empty()) return "an entry is blank: each is a replica's libpq URL";
         return {};
       }},
      {"database.replica_connections", at(&config::database, &config::database_t::replica_connections), 1, 16, {}},
      {"database.replica_max_lag_ms", at(&config::database, &config::database_t::replica_max_lag_ms), 0, 3600000, {}},
      {"database.replica_connection_lifetime_s",
       at(&config::database, &config::database_t::replica_connection_lifetime_s), 0, 86400, {}},
      {"database.listen_url", at(&config::database, &config::database_t::listen_url), 0, 0, {}},
      {"database.pooler", at(&config::database, &config::database_t::pooler), 0, 0, {"none", "transaction"}},
      {"database.queue_limit", at(&config::database, &config::database_t::queue_limit), 1, 1000000, {}},
      {"database.statement_timeout_ms", at(&config::database, &config::database_t::statement_timeout_ms), 0, 3600000, {}},
      {"database.connect_timeout_s", at(&config::database, &config::database_t::connect_timeout_s), 1, 300, {}},
      {"database.migrate", at(&config::database, &config::database_t::migrate), 0, 0, {}},
      {"auth.hash_threads", at(&config::auth, &config::auth_t::hash_threads), 1, 64, {}},
      {"auth.hash_queue_limit", at(&config::auth, &config::auth_t::hash_queue_limit), 1, 100000, {}},
      {"auth.hash_wait_limit_ms", at(&config::auth, &config::auth_t::hash_wait_limit_ms), 1, 600000, {}},
      {"auth.hash_cpu_percent", at(&config::auth, &config::auth_t::hash_cpu_percent), 1, 100, {}},
      {"auth.hash_priority", at(&config::auth, &config::auth_t::hash_priority), 0, 0, {"idle", "low"}},
      {"auth.argon2_ops_limit", at(&config::auth, &config::auth_t::argon2_ops_limit), 1, 100, {}},
      {"auth.argon2_memory_kib", at(&config::auth, &config::auth_t::argon2_memory_kib), 8, 1024 * 1024, {}},
      {"auth.session_ttl_s", at(&config::auth, &config::auth_t::session_ttl_s), 1, 366 * 24 * 3600, {}},
      {"auth.attempts_per_minute", at(&config::auth, &config::auth_t::attempts_per_minute), 0, 100000, {}},
      {"auth.attempts_burst", at(&config::auth, &config::auth_t::attempts_burst), 1, 100000, {}},
      {"auth.account_free_failures", at(&config::auth, &config::auth_t::account_free_failures), 0, 1000, {}},
      {"auth.account_block_max_s", at(&config::auth, &config::auth_t::account_block_max_s), 1, 86400, {}},
      {"posting.budget", at(&config::posting, &config::posting_t::budget), 0, 100000, {}},
      {"posting.window_s", at(&config::posting, &config::posting_t::window_s), 1, 86400, {}},
      {"cache.enabled", at(&config::cache, &config::cache_t::enabled), 0, 0, {}},
      {"cache.size_mib", at(&config::cache, &config::cache_t::size_mib), 1, 64 * 1024, {}},
      {"cache.changes", at(&config::cache, &config::cache_t::changes), 0, 0, {"auto", "stream", "notify"}},
      {"log.level", at(&config::log, &config::log_t::level), 0, 0,
       {"trace", "debug", "info", "warn", "error", "critical", "off"}},
      {"log.access", at(&config::log, &config::log_t::access), 0, 0, {}},
      {"log.access_file", at(&config::log, &config::log_t::access_file), 0, 0, {}},
      {"log.format", at(&config::log, &config::log_t::format), 0, 0, {"plain", "json"}},
      {"log.flush_ms", at(&config::log, &config::log_t::flush_ms), 1, 60000, {}},
      {"metrics.listen", at(&config::metrics, &config::metrics_t::listen), 0, 0, {}},
      {"drain.delay_s", at(&config::drain, &config::drain_t::delay_s), 0, 3600, {}},
      {"drain.timeout_s", at(&config::drain, &config::drain_t::timeout_s), 1, 3600, {}},
  };
  return all;
}

// Keys of earlier releases: accepted (their values checked as they were),
// without effect.
const std::vector<key_spec>& retired_keys() {
  static int ignored = 0;
  static const std::vector<key_spec> all = {
      {"database.pool_size", [](config&) -> field { return &ignored; }, 1, 64, {},
       "database.pool_size no longer has an effect: each worker drives pipelined connections from its event loop "
       "(database.read_connections, database.write_connections)"},
  };
  return all;
}

const key_spec* find_key(std::string_view name) {
  for (const auto& k : keys())
    if (k.name == name) return &k;
  for (const auto& k : retired_keys())
    if (k.name == name) return &k;
  return nullptr;
}

std::string env_name(std::string_view key) {
  std::string out = "GRANITE_";
  for (char ch : key) out += ch == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return out;
}

std::vector<std::string> key_names_impl() {
  std::vector<std::string> out;
  for (const auto& k : keys()) out.emplace_back(k.name);
  return out;
}

}  // namespace granite::config::detail

namespace granite::config {
std::vector<std::string> key_names() { return detail::key_names_impl(); }
}  // namespace granite::config
