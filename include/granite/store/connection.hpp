#pragma once

#include <memory>
#include <span>

#include "granite/store/database.hpp"
#include "granite/store/statement.hpp"

namespace pqxx {
class connection_base;
}

namespace granite::store {

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

}  // namespace granite::store
