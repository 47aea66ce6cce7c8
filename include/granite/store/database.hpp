#pragma once

// The store as the modules above it see it, free of libpq and libpqxx: how to
// reach PostgreSQL, what it means when it cannot be reached, and what they
// may ask of a connection they are handed (the class itself, for the store's
// own SQL, is in connection.hpp).
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>

#include "granite/error.hpp"

namespace granite::store {

class connection;

struct connect_options {
  std::string url;  // libpq URI or keyword string; empty: libpq defaults
  int statement_timeout_ms = 5000;
  int connect_timeout_s = 5;
  std::string application_name = "granite";
};

// The database could not be reached, or the connection was lost.
class unavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The user's URL rewritten as a keyword string with granite's defaults added
// where the user set none. Exposed for tests.
std::string conninfo(const connect_options& options);

// What a failure thrown by a database call means for the client:
// unavailable when the database is (the connection was lost, the statement
// ran out of time, the server is restarting), internal when a statement
// failed otherwise (a bug), nullopt when the failure is not the database's.
std::optional<error> database_failure(const std::exception& e);

// Asks the database for nothing (SELECT 1): whether it answers. Throws as
// any statement does.
void ping(connection& c);

}  // namespace granite::store
