#pragma once

// How to reach PostgreSQL, free of libpq and libpqxx: for the modules that
// hand work to the store (the worker's pipelined database is async.hpp; the
// blocking connection of the tools, migrations and seeds is connection.hpp).
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
  // The session writes: only a server that takes writes will do (libpq's
  // target_session_attrs=read-write, whatever the URL says), so that a
  // multi-host URL finds the writer after a failover and a demoted or
  // read-only server is passed over. A reader takes the URL's choice.
  bool writer = true;
};

// The database could not be reached, or the connection was lost.
class unavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The user's URL rewritten as a keyword string with granite's defaults added
// where the user set none. Exposed for tests.
std::string conninfo(const connect_options& options);

}  // namespace granite::store
