#include "granite/store/listen.hpp"

#include <libpq-fe.h>

#include "granite/store/notices.hpp"
#include "granite/store/database.hpp"

namespace granite::store {

namespace {
// libpq's message on one line, without its trailing newline.
std::string message_of(PGconn* c) {
  std::string m = c ? PQerrorMessage(c) : "out of memory";
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  for (auto& ch : m)
    if (ch == '\n') ch = ' ';
  return m;
}
}  // namespace

struct notice_connection::impl {
  PGconn* conn = nullptr;
  ~impl() {
    if (conn) PQfinish(conn);
  }
};

notice_connection::notice_connection(const std::string& conninfo) : impl_(std::make_unique<impl>()) {
  impl_->conn = PQconnectdb(conninfo.c_str());
  PGconn* c = impl_->conn;
  if (!c || PQstatus(c) != CONNECTION_OK) throw unavailable(message_of(c));
  std::string listen = "LISTEN " + std::string(notice_channel);
  PGresult* r = PQexec(c, listen.c_str());
  bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  std::string why = ok ? std::string() : PQresultErrorMessage(r);
  PQclear(r);
  if (!ok) throw unavailable(why);
  if (PQsetnonblocking(c, 1) != 0) throw unavailable(message_of(c));
}

notice_connection::~notice_connection() = default;

int notice_connection::socket() const { return PQsocket(impl_->conn); }

bool notice_connection::take(const std::function<void(std::string_view, int)>& apply) {
  PGconn* c = impl_->conn;
  if (PQconsumeInput(c) == 0) {
    error_ = message_of(c);
    return false;
  }
  while (PGnotify* n = PQnotifies(c)) {
    apply(n->extra, n->be_pid);
    PQfreemem(n);
  }
  if (PQstatus(c) != CONNECTION_OK) {
    error_ = message_of(c);
    return false;
  }
  return true;
}

}  // namespace granite::store
