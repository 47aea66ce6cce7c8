#include "granite/store/migrate.hpp"

#include <spdlog/spdlog.h>

#include <pqxx/pqxx>

#include "granite/store/connection.hpp"

namespace granite::store {

namespace {

// pg_advisory_lock key: "granite" migrations, shared by every instance.
constexpr long long lock_key = 0x6772616e69746531LL;

constexpr const char* create_history = R"sql(
CREATE TABLE IF NOT EXISTS granite_schema (
  version    integer PRIMARY KEY,
  name       text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
))sql";

int read_version(pqxx::transaction_base& tx) {
  auto exists = tx.exec("SELECT to_regclass('granite_schema') IS NOT NULL");
  if (!exists[0][0].as<bool>()) return 0;
  return tx.exec("SELECT coalesce(max(version), 0) FROM granite_schema")[0][0].as<int>();
}

void require_utf8(pqxx::transaction_base& tx) {
  auto encoding = tx.exec("SHOW server_encoding")[0][0].as<std::string>();
  if (encoding != "UTF8")
    throw schema_error("the database encoding is " + encoding +
                       "; granite needs UTF8 (CREATE DATABASE ... ENCODING 'UTF8' TEMPLATE template0)");
}

// Holds the advisory lock for one scope; released even when a migration fails.
class advisory_lock {
 public:
  explicit advisory_lock(pqxx::connection_base& c) : c_(c) {
    pqxx::nontransaction tx(c_);
    tx.exec("SET statement_timeout = 0");  // a migration may take long; so may waiting for the lock
    tx.exec("SELECT pg_advisory_lock(" + std::to_string(lock_key) + ")");
  }
  ~advisory_lock() {
    try {
      pqxx::nontransaction tx(c_);
      tx.exec("SELECT pg_advisory_unlock(" + std::to_string(lock_key) + ")");
    } catch (const std::exception&) {
      // The session is gone, and with it the lock.
    }
  }
  advisory_lock(const advisory_lock&) = delete;
  advisory_lock& operator=(const advisory_lock&) = delete;

 private:
  pqxx::connection_base& c_;
};

std::string too_new(int found) {
  return "the database schema is at version " + std::to_string(found) + ", newer than this binary's " +
         std::to_string(latest_schema_version()) + "; run a granite that knows it";
}

}  // namespace

int latest_schema_version() { return migrations().empty() ? 0 : migrations().back().version; }

int schema_version(connection& c) {
  pqxx::nontransaction tx(c.raw());
  return read_version(tx);
}

void require_current_schema(connection& c) {
  pqxx::nontransaction tx(c.raw());
  require_utf8(tx);
  int found = read_version(tx);
  if (found > latest_schema_version()) throw schema_error(too_new(found));
  if (found < latest_schema_version())
    throw schema_error("the database schema is at version " + std::to_string(found) + ", older than this binary's " +
                       std::to_string(latest_schema_version()) + "; run `granite migrate`");
}

void require_current_schema(const connect_options& options) {
  connection c(options);
  require_current_schema(c);
}

migrate_report migrate(connection& c) {
  migrate_report report;
  advisory_lock lock(c.raw());
  {
    pqxx::nontransaction tx(c.raw());
    require_utf8(tx);
    tx.exec(create_history);
    report.from = read_version(tx);
  }
  if (report.from > latest_schema_version()) throw schema_error(too_new(report.from));
  report.to = report.from;
  for (const auto& m : migrations()) {
    if (m.version <= report.from) continue;
    pqxx::work tx(c.raw());
    tx.exec(m.sql);
    tx.exec_params("INSERT INTO granite_schema (version, name) VALUES ($1, $2)", m.version, std::string(m.name));
    tx.commit();
    spdlog::info("applied migration {:04d}_{}", m.version, m.name);
    report.applied.push_back(m.version);
    report.to = m.version;
  }
  return report;
}

}  // namespace granite::store
