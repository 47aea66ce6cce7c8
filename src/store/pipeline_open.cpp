// Opening a pipeline's connection: libpq's blocking connect and the
// session's setup, on a thread of its own, handed to the loop ready to use.
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

#include "pipeline.hpp"
#include "results.hpp"

namespace granite::store {

namespace asio = boost::asio;

namespace {

bool command_ok(PGconn* c, PGresult* r, std::string& error) {
  bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  if (!ok) error = one_line(r ? PQresultErrorMessage(r) : PQerrorMessage(c));
  PQclear(r);
  return ok;
}

extern "C" void log_notice(void*, const char* message) { spdlog::info("database: {}", one_line(message)); }

// The blocking part, on the opener's thread: connect, set the session up and
// prepare every statement (unless a pooler may hand each batch another
// session), then switch to pipeline mode.
PGconn* connect_and_prepare(const connection_setup& s, std::string& error) {
  PGconn* c = PQconnectdb(s.conninfo.c_str());
  auto fail = [&](std::string why) -> PGconn* {
    error = std::move(why);
    PQfinish(c);
    return nullptr;
  };
  if (!c || PQstatus(c) != CONNECTION_OK) return fail("cannot connect to PostgreSQL: " + message_of(c));
  PQsetNoticeProcessor(c, log_notice, nullptr);
  if (s.pooled) {
    if (PQsetnonblocking(c, 1) != 0 || PQenterPipelineMode(c) != 1) return fail(message_of(c));
    return c;
  }
  std::string timeout = "SET statement_timeout = " + std::to_string(s.statement_timeout_ms);
  if (!command_ok(c, PQexec(c, timeout.c_str()), error)) return fail(error);
  for (const auto& st : *s.statements)
    if (!command_ok(c, PQprepare(c, st.name, st.sql, 0, nullptr), error))
      return fail("cannot prepare " + std::string(st.name) + ": " + error);
  if (PQsetnonblocking(c, 1) != 0 || PQenterPipelineMode(c) != 1) return fail(message_of(c));
  return c;
}

}  // namespace

void pipeline::open() {
  if (conn_ || opening_) return;
  opening_ = true;
  attempt_started_ = clock::now();
  if (opener_.joinable()) opener_.join();
  opener_ = std::thread([this, alive = alive_, setup = setup_] {
    // Closed with the attempt unless the loop takes it (it may never run
    // this handler).
    struct attempt {
      PGconn* conn = nullptr;
      std::string error;
      ~attempt() {
        if (conn) PQfinish(conn);
      }
    };
    auto a = std::make_shared<attempt>();
    a->conn = connect_and_prepare(setup, a->error);
    asio::post(loop_, [this, alive, a] {
      if (!*alive) return;
      opening_ = false;
      if (!a->conn) return hooks_.failed(*this, a->error);
      conn_ = std::exchange(a->conn, nullptr);
      PQsetNoticeReceiver(conn_, &pipeline::on_notice, this);
      ++generation_;
      socket_ = std::make_unique<asio::posix::stream_descriptor>(loop_, PQsocket(conn_));
      watch();
      hooks_.ready(*this);
    });
  });
}

}  // namespace granite::store
