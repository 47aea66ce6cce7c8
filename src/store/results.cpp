#include "results.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <string>

namespace granite::store {

std::string one_line(const char* text) {
  std::string m = text ? text : "";
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  for (auto& ch : m)
    if (ch == '\n') ch = ' ';
  return m;
}

std::string message_of(PGconn* c) { return c ? one_line(PQerrorMessage(c)) : "out of memory"; }

void batch::value(std::int64_t v) { values_.emplace_back(std::to_string(v)); }
void batch::value(std::string_view v) { values_.emplace_back(std::string(v)); }
void batch::value(const std::optional<std::string>& v) { values_.push_back(v); }
void batch::value(std::nullopt_t) { values_.emplace_back(std::nullopt); }

std::vector<const char*> batch::parameters(std::size_t i) const {
  std::size_t end = i + 1 < items_.size() ? items_[i + 1].first : values_.size();
  std::vector<const char*> out;
  for (std::size_t v = items_[i].first; v < end; ++v) out.push_back(values_[v] ? values_[v]->c_str() : nullptr);
  return out;
}

std::size_t rows::size() const { return r_ ? static_cast<std::size_t>(PQntuples(r_->r)) : 0; }

int rows::columns() const { return r_ ? PQnfields(r_->r) : 0; }

std::size_t rows::affected() const {
  if (!r_) return 0;
  const char* n = PQcmdTuples(r_->r);
  std::size_t out = 0;
  std::from_chars(n, n + std::char_traits<char>::length(n), out);
  return out;
}

bool rows::null(std::size_t row, int column) const { return PQgetisnull(r_->r, static_cast<int>(row), column) == 1; }

std::string_view rows::text(std::size_t row, int column) const {
  int r = static_cast<int>(row);
  return {PQgetvalue(r_->r, r, column), static_cast<std::size_t>(PQgetlength(r_->r, r, column))};
}

std::int64_t rows::integer(std::size_t row, int column) const {
  auto t = text(row, column);
  std::int64_t out = 0;
  std::from_chars(t.data(), t.data() + t.size(), out);
  return out;
}

failure failure_of(const PGresult* r) {
  auto field = [&](int code) {
    const char* v = PQresultErrorField(r, code);
    return std::string(v ? v : "");
  };
  std::string state = field(PG_DIAG_SQLSTATE);
  failure f;
  f.constraint = field(PG_DIAG_CONSTRAINT_NAME);
  f.message = "SQLSTATE " + state + ": " + field(PG_DIAG_MESSAGE_PRIMARY);
  if (state == "23505") {
    f.what = failure::kind::unique;
  } else if (state == "23503") {
    f.what = failure::kind::foreign_key;
  } else if (state == "57014") {
    f.what = failure::kind::timeout;
    f.message = "the database did not answer in time; retry shortly";
  } else if (state == "55P03") {
    f.what = failure::kind::in_use;
    f.message = field(PG_DIAG_MESSAGE_PRIMARY);  // what the client is told
  } else if (state == "GR429") {
    f.what = failure::kind::over_budget;
    f.message = field(PG_DIAG_MESSAGE_PRIMARY);
    f.retry_after_s = std::max(1, std::atoi(field(PG_DIAG_MESSAGE_DETAIL).c_str()));
  } else if (state == "26000") {
    f.what = failure::kind::unprepared;
  } else if (state == "25006") {
    f.what = failure::kind::read_only;
    f.message = "the database takes no writes right now (a failover may be under way); retry shortly";
  } else if (state == "40001" || state == "40P01") {
    f.what = failure::kind::conflict;
    f.message = "the statement was cancelled by a conflict (a replica's replay, a deadlock); retry shortly";
  } else if (state.starts_with("57P") || state.starts_with("08") || state.empty()) {
    f.what = failure::kind::unavailable;
    f.message = "the database is restarting or unreachable; retry shortly";
  } else {
    f.what = failure::kind::statement;
  }
  return f;
}

bool ends_session(const PGresult* r) {
  const char* severity = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
  const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  if (!severity || !state) return false;
  std::string_view s(severity);
  return s == "FATAL" || s == "PANIC";
}

error answer::as_error() const {
  if (failure_->what == failure::kind::unavailable || failure_->what == failure::kind::timeout ||
      failure_->what == failure::kind::read_only || failure_->what == failure::kind::conflict)
    return granite::unavailable(failure_->message);
  if (failure_->what == failure::kind::in_use) {
    auto e = conflict(failure_->message + "; retry shortly");
    e.retry_after_s = 1;
    return e;
  }
  if (failure_->what == failure::kind::over_budget) {
    error e{error::code::too_many_requests,
            failure_->message + "; retry in " + std::to_string(failure_->retry_after_s) + " s"};
    e.retry_after_s = failure_->retry_after_s;
    return e;
  }
  return {error::code::internal, "a statement failed: " + failure_->message};
}

}  // namespace granite::store
