#pragma once

#include <memory>
#include <stdexcept>
#include <string>

namespace pqxx {
class connection_base;
}

namespace granite::store {

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

// One PostgreSQL session with granite's settings applied (UTF-8, statement
// timeout, connect timeout, application name) on top of the user's URL.
class connection {
 public:
  explicit connection(const connect_options& options);  // throws unavailable
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  pqxx::connection_base& raw();
  bool is_open() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// The user's URL rewritten as a keyword string with granite's defaults added
// where the user set none. Exposed for tests.
std::string conninfo(const connect_options& options);

}  // namespace granite::store
