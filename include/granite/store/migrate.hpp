#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "granite/store/database.hpp"

namespace granite::store {

class connection;

struct migration {
  int version;
  const char* name;
  const char* sql;
};

// Every migration compiled into this binary, by version (generated from
// src/store/migrations/NNNN_name.sql).
const std::vector<migration>& migrations();
int latest_schema_version();

// The database cannot be used by this binary: newer schema, wrong encoding.
class schema_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct migrate_report {
  int from = 0;
  int to = 0;
  std::vector<int> applied;
};

// Applies the missing migrations, each in its own transaction, under a
// PostgreSQL advisory lock so that any number of granite processes on any
// number of instances can call it at once. Throws schema_error.
migrate_report migrate(connection& c);

// The version recorded in the database (0 before the first migration).
int schema_version(connection& c);

// Throws schema_error unless the schema is exactly what this binary expects.
void require_current_schema(connection& c);
// The same, on a connection of its own (unavailable when there is none).
void require_current_schema(const connect_options& options);

}  // namespace granite::store
