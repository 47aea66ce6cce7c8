#pragma once

// A prepared statement: its name on every connection and its SQL, with $n
// parameters. Each feature keeps its statements beside its other SQL
// (src/features/<name>/<name>_store.cpp) and lists them for
// features::statements(); tools read them from the binary (`granite statements`).
namespace granite::store {

struct statement {
  const char* name;  // null: not prepared, parsed with each batch that sends it
  const char* sql;
};

}  // namespace granite::store
