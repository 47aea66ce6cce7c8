#pragma once

// Running a feature's prepared statements: included by the *_store.cpp files
// only (it brings libpqxx).
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "granite/store/connection.hpp"
#include "granite/store/statement.hpp"

namespace granite::store {

// Every row of a prepared statement, each mapped by from_row.
template <class T, class... Args>
std::vector<T> rows(connection& c, const statement& s, T (*from_row)(const pqxx::row&), Args&&... args) {
  pqxx::nontransaction tx(c.raw());
  auto result = tx.exec_prepared(s.name, std::forward<Args>(args)...);
  std::vector<T> out;
  out.reserve(result.size());
  for (pqxx::result::size_type i = 0; i < result.size(); ++i) out.push_back(from_row(result[i]));
  return out;
}

// The first row of a prepared statement, or nullopt when there is none.
template <class T, class... Args>
std::optional<T> first_row(connection& c, const statement& s, T (*from_row)(const pqxx::row&), Args&&... args) {
  pqxx::nontransaction tx(c.raw());
  auto result = tx.exec_prepared(s.name, std::forward<Args>(args)...);
  if (result.empty()) return std::nullopt;
  return from_row(result[0]);
}

// Runs a prepared statement for its effect; the number of rows it touched.
template <class... Args>
std::size_t exec(connection& c, const statement& s, Args&&... args) {
  pqxx::nontransaction tx(c.raw());
  return tx.exec_prepared(s.name, std::forward<Args>(args)...).affected_rows();
}

// A text parameter that is NULL when absent (pqxx 6 sends a null char
// pointer as NULL). Text never holds NUL: the API refuses it.
inline const char* nullable(const std::optional<std::string>& value) { return value ? value->c_str() : nullptr; }

}  // namespace granite::store
