#pragma once

// Running a feature's prepared statements: included by the *_store.cpp files
// only (it brings libpqxx).
#include <optional>
#include <pqxx/pqxx>
#include <vector>

#include "granite/store/connection.hpp"

namespace granite::store {

// Every row of a prepared statement, each mapped by from_row.
template <class T, class... Args>
std::vector<T> rows(connection& c, const char* statement, T (*from_row)(const pqxx::row&), Args&&... args) {
  pqxx::nontransaction tx(c.raw());
  auto result = tx.exec_prepared(statement, std::forward<Args>(args)...);
  std::vector<T> out;
  out.reserve(result.size());
  for (pqxx::result::size_type i = 0; i < result.size(); ++i) out.push_back(from_row(result[i]));
  return out;
}

// The first row of a prepared statement, or nullopt when there is none.
template <class T, class... Args>
std::optional<T> first_row(connection& c, const char* statement, T (*from_row)(const pqxx::row&), Args&&... args) {
  pqxx::nontransaction tx(c.raw());
  auto result = tx.exec_prepared(statement, std::forward<Args>(args)...);
  if (result.empty()) return std::nullopt;
  return from_row(result[0]);
}

}  // namespace granite::store
