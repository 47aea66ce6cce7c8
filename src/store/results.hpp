#pragma once

// What the store makes of libpq's results (private to store/).
#include <libpq-fe.h>

#include <string>

#include "granite/store/async.hpp"

namespace granite::store {

struct rows::result {
  explicit result(PGresult* r) : r(r) {}
  ~result() { PQclear(r); }
  result(const result&) = delete;
  result& operator=(const result&) = delete;
  PGresult* r;
};

// libpq's message on one line, without its trailing newline.
std::string one_line(const char* text);
// The connection's last error on one line ("out of memory" without one).
std::string message_of(PGconn* c);

// Takes ownership of `r`.
inline rows wrap_result(PGresult* r) { return rows(std::make_shared<const rows::result>(r)); }

// A failed statement's result, classified.
failure failure_of(const PGresult* r);

// Whether the server sent it as it ended the session (FATAL or PANIC): the
// backend exits, and its open transaction with it. Never true of the errors
// libpq makes up itself (they carry no SQLSTATE).
bool ends_session(const PGresult* r);

}  // namespace granite::store
