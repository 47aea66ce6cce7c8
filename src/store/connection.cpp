#include "granite/store/connection.hpp"

#include <libpq-fe.h>

#include <map>
#include <pqxx/connection>
#include <pqxx/except>
#include <pqxx/nontransaction>

namespace granite::store {

namespace {

std::string quoted(const std::string& value) {
  std::string out = "'";
  for (char ch : value) {
    if (ch == '\'' || ch == '\\') out += '\\';
    out += ch;
  }
  return out + "'";
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

std::string conninfo(const connect_options& options) {
  char* message = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(options.url.c_str(), &message);
  if (!parsed) {
    std::string why = message ? trimmed(message) : "out of memory";
    PQfreemem(message);
    throw unavailable("database.url is not a valid connection string: " + why);
  }
  std::map<std::string, std::string> given;
  for (PQconninfoOption* o = parsed; o->keyword; ++o)
    if (o->val) given[o->keyword] = o->val;
  PQconninfoFree(parsed);

  given.try_emplace("connect_timeout", std::to_string(options.connect_timeout_s));
  given.try_emplace("application_name", options.application_name);
  // A database host that vanishes (a failover, a partition) must not leave a
  // query waiting for the kernel's retransmission timeout: probe idle
  // connections and give up on unacknowledged data after a few seconds.
  given.try_emplace("keepalives", "1");
  given.try_emplace("keepalives_idle", "5");
  given.try_emplace("keepalives_interval", "2");
  given.try_emplace("keepalives_count", "3");
  given.try_emplace("tcp_user_timeout", "10000");
  given["client_encoding"] = "UTF8";
  if (options.writer) given["target_session_attrs"] = "read-write";

  std::string out;
  for (const auto& [key, value] : given) out += (out.empty() ? "" : " ") + key + "=" + quoted(value);
  return out;
}

struct connection::impl {
  explicit impl(const std::string& info) : conn(info) {}
  pqxx::connection conn;
};

connection::connection(const connect_options& options) {
  try {
    impl_ = std::make_unique<impl>(conninfo(options));
    pqxx::nontransaction tx(impl_->conn);
    tx.exec("SET statement_timeout = " + std::to_string(options.statement_timeout_ms));
  } catch (const pqxx::broken_connection& e) {
    throw unavailable("cannot connect to PostgreSQL: " + trimmed(e.what()));
  }
}

connection::~connection() = default;

pqxx::connection_base& connection::raw() { return impl_->conn; }

bool connection::is_open() const { return impl_ && impl_->conn.is_open(); }

}  // namespace granite::store
