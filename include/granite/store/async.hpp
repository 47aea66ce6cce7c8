#pragma once

// The database as a worker's event loop uses it: statements sent in batches
// on libpq connections in pipeline mode, their sockets watched by the loop,
// so that a query costs no thread and the loop never waits on PostgreSQL.
// Reads and writes go in lanes of their own (connections of their own), so
// that a write waiting on a lock delays only the writes behind it. Free of
// libpq and Asio: handlers await a batch's answer (a coroutine suspends and
// the loop resumes it when the answer is in). The worker makes one on its
// loop with store/event_loop.hpp.
#include <algorithm>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "granite/error.hpp"
#include "granite/store/database.hpp"
#include "granite/store/statement.hpp"

namespace granite::store {

// A write kept under an idempotency key (features/idempotency.hpp): the
// key's user, the key, the digest of the request that used it (hex) and
// how long it is kept.
struct kept_key {
  std::int64_t user = 0;
  std::string key;
  std::string request_sha256;
  int ttl_s = 86400;
};

// A batch: statements sent together and answered together, as one
// transaction (what runs between two pipeline syncs is one: if a statement
// fails, none of the batch's effects stay).
class batch {
 public:
  // Appends a statement with its parameters: integers, text, or NULL
  // (std::nullopt, or an empty optional<string>).
  template <class... A>
  batch& add(const statement& s, const A&... args) {
    items_.push_back({&s, values_.size()});
    (value(args), ...);
    return *this;
  }
  std::size_t size() const { return items_.size(); }

  // Keeps the batch under an idempotency key, in its own transaction: a
  // statement sent before it claims the key (refused as kind::in_use while
  // another request holds it, kind::unique on idempotency_keys_pkey when the
  // key is kept already: nothing of the batch is applied then), and its
  // first statement, which must return the rows its response is made of,
  // keeps them under the key when it returns any. A batch that keeps
  // nothing (its first statement touched no row) leaves the key free. Such
  // a write is sent again after its connection was cut whether or not it
  // may have committed: the claim finds out, waiting for the first
  // transaction when it is still ending.
  batch& keep_under(kept_key k) {
    kept_ = std::move(k);
    return *this;
  }
  const std::optional<kept_key>& kept() const { return kept_; }

  // A read answered only from a state at or past this position in the
  // primary's log (a commit position a client presents, from a write's
  // answer): a replica that has replayed it, or else the primary.
  batch& at_least(std::uint64_t position) & {
    at_least_ = std::max(at_least_, position);
    return *this;
  }
  batch&& at_least(std::uint64_t position) && { return std::move(at_least(position)); }
  std::uint64_t least() const { return at_least_; }
  // A read that must see every commit so far, wherever it was made (a
  // session token, an owner checked before a write): on the primary only.
  batch& current() & {
    current_ = true;
    return *this;
  }
  batch&& current() && { return std::move(current()); }
  bool must_be_current() const { return current_; }

  // For the connection that sends it: statement i, its parameters as
  // C strings (null for NULL), valid while the batch lives.
  const statement& at(std::size_t i) const { return *items_[i].s; }
  std::vector<const char*> parameters(std::size_t i) const;

 private:
  struct item {
    const statement* s;
    std::size_t first;  // its first parameter in values_
  };
  void value(std::int64_t v);
  void value(int v) { value(static_cast<std::int64_t>(v)); }
  void value(std::string_view v);
  void value(const std::string& v) { value(std::string_view(v)); }
  void value(const char* v) { value(std::string_view(v)); }
  void value(const std::optional<std::string>& v);
  void value(std::nullopt_t);

  std::vector<item> items_;
  std::vector<std::optional<std::string>> values_;
  std::optional<kept_key> kept_;
  std::uint64_t at_least_ = 0;
  bool current_ = false;
};

// One statement's rows, in libpq's text format (the copy of an answer
// shares them).
class rows {
 public:
  struct result;
  rows() = default;
  explicit rows(std::shared_ptr<const result> r) : r_(std::move(r)) {}

  std::size_t size() const;
  int columns() const;
  // Rows an INSERT, UPDATE or DELETE touched.
  std::size_t affected() const;
  bool null(std::size_t row, int column) const;
  std::string_view text(std::size_t row, int column) const;
  std::int64_t integer(std::size_t row, int column) const;  // 0 for NULL

 private:
  std::shared_ptr<const result> r_;
};

// Why a batch has no answer.
struct failure {
  enum class kind {
    unavailable,  // the database cannot be reached, or the connection was lost
    timeout,      // database.statement_timeout_ms ran out
    unique,       // a unique constraint (`constraint` names it)
    foreign_key,  // a foreign key (`constraint` names it)
    read_only,    // the server takes no writes now (a demoted primary, a standby, a disk guard)
    in_use,       // a lock granite asks not to wait for is held (SQLSTATE 55P03): an idempotency key in use
    conflict,     // a replica's replay cancelled the statement (SQLSTATE 40001), or a deadlock (40P01)
    over_budget,  // the account's posting budget is used up (SQLSTATE GR429, migration 0008)
    unprepared,   // a prepared statement the connection lacks (SQLSTATE 26000): the batch ran nothing
    statement,    // any other error of a statement: a bug
  };
  kind what = kind::unavailable;
  std::string constraint;
  // unavailable, timeout, in_use, over_budget: what the client is told
  // ("...; retry shortly"); the others: the SQLSTATE and the server's
  // message, for the log.
  std::string message;
  int retry_after_s = 0;  // over_budget: when the budget has room again
};

// The rows of each statement of a batch, or why there are none.
class answer {
 public:
  answer() = default;
  explicit answer(std::vector<rows> r) : rows_(std::move(r)) {}
  explicit answer(failure f) : failure_(std::move(f)) {}
  answer(std::vector<rows> r, std::uint64_t position) : rows_(std::move(r)), position_(position) {}

  bool ok() const { return !failure_; }
  const failure& failed() const { return *failure_; }
  const rows& operator[](std::size_t statement) const { return rows_.at(statement); }
  // A failure as the client is told of it: unavailable (503, retry) for an
  // unreachable, restarting, read-only or slow database or a conflict with
  // a replica's replay, conflict (409) for
  // a key in use, internal (500) for the rest.
  error as_error() const;
  // A write's: a position in the primary's log at or past its commit (a
  // read at or past it sees the write); 0 when unknown.
  std::uint64_t position() const { return position_; }

 private:
  std::vector<rows> rows_;
  std::optional<failure> failure_;
  std::uint64_t position_ = 0;
};

// Asks the database for nothing (SELECT 1): whether it answers. Prepared on
// every connection.
inline constexpr statement ping{"granite_ping", "SELECT 1"};

// What an idempotency key keeps: the digest of the request that used it
// and the rows of its write's first statement. Read on the write lane.
batch read_kept(std::int64_t user, const std::string& key);
struct kept_write {
  std::string request_sha256;
  // As the write answered: the first statement's rows, the others' empty.
  answer replayed;
};
// Nothing when the key keeps nothing (never used, or expired); `statements`:
// how many the write's batch had.
std::optional<kept_write> kept_of(const answer& read, std::size_t statements);

struct database_options {
  connect_options connect;
  int read_connections = 1;
  int write_connections = 1;
  int queue_limit = 1024;  // batches waiting for a connection, per lane; beyond, unavailable at once
  // The URL reaches a transaction-pooling pooler, which may hand each batch
  // (each transaction) another server connection: nothing is kept in the
  // session. Statements are parsed with each batch instead of prepared once,
  // and the session's statement_timeout is not set (granite's own deadline
  // cancels a statement; the role's setting is the server's backstop).
  bool pooled = false;
  std::vector<statement> statements;  // prepared on every connection
  // Streaming replicas (or reader endpoints) that serve reads: each gets
  // replica_connections of its own. A read goes to one only when the
  // replica has replayed the primary's log at least as far as the floor
  // (and the batch's at_least), which the read asks in the same batch: a
  // replica behind it has the read sent again elsewhere, its answer
  // unused. One further behind than replica_max_lag_ms (0: no limit) gets
  // no reads until it catches up.
  std::vector<std::string> replicas;
  int replica_connections = 1;
  int replica_max_lag_ms = 0;
  // A replica connection is closed and opened again after this long (less
  // up to a quarter, at random), once the reads it holds are answered: a
  // reader endpoint then spreads it again, over the replicas there are now.
  // Zero: kept for the worker's life.
  std::chrono::milliseconds replica_lifetime{0};
  // The instance's floor: the position of the last change it knows of
  // (from its change feed, and its own writes). None: 0.
  std::function<std::uint64_t()> floor;
};

class database {
 public:
  struct impl;
  explicit database(std::unique_ptr<impl> i);  // see make_database()
  ~database();
  database(const database&) = delete;
  database& operator=(const database&) = delete;

  // Opens the connections in the background (batches sent meanwhile wait);
  // opened() follows on the loop once every one has connected, or with the
  // first reason one could not.
  void start(std::function<void(std::optional<std::string> error)> opened = {});
  // Every batch still waiting is answered unavailable; the connections close.
  void stop();

  enum class lane { read, write };
  // Sends the batch on a lane and calls done(answer) on the loop. A read
  // whose connection is lost before it was answered is sent once more, on a
  // fresh connection; a write only when it provably committed nothing (its
  // sync never left granite, or the server ended the session before it) or
  // is kept under a key (batch::keep_under). A batch whose statement is
  // cancelled before its own deadline (a cancel meant for the batch in
  // front of it, or pg_cancel_backend) committed nothing and is sent once
  // more too. Every batch is answered within statement_timeout_ms of this call,
  // however long it waited and whatever ran in front of it: one still
  // waiting for a connection then is answered timeout, and the statement of
  // one already sent is cancelled (it fails as timed out; a write commits
  // nothing).
  void submit(lane l, batch b, std::function<void(answer)> done);

  // co_await db.read(b): the batch's answer.
  class awaiter {
   public:
    awaiter(database& db, lane l, batch b) : db_(db), lane_(l), batch_(std::move(b)) {}
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) {
      db_.submit(lane_, std::move(batch_), [this, h](answer a) {
        answer_ = std::move(a);
        h.resume();
      });
    }
    answer await_resume() { return std::move(answer_); }

   private:
    database& db_;
    lane lane_;
    batch batch_;
    answer answer_;
  };
  awaiter read(batch b) { return {*this, lane::read, std::move(b)}; }
  awaiter write(batch b) { return {*this, lane::write, std::move(b)}; }

  struct stats {
    std::size_t connections = 0;  // open now
    std::size_t wanted = 0;       // configured: read_connections + write_connections
    std::size_t waiting = 0;      // batches waiting for a connection now
    std::uint64_t batches = 0;    // submitted since the start
    std::uint64_t retried = 0;    // sent once more: their connection was lost, a cancel not theirs hit them,
                                  // or a read sharing their sync failed
    std::uint64_t refused = 0;    // answered unavailable or timeout without the database's answer
    std::uint64_t reconnects = 0; // connections lost after they were ready
    std::uint64_t hedged = 0;     // reads sent again elsewhere: their connection stalled
    // Where reads went: the primary (index 0), then each replica in the
    // order configured.
    struct source {
      std::string name;              // "primary", "replica 1", ...
      std::string host;              // as the URL names it (no password)
      std::size_t connections = 0;   // open now
      std::size_t wanted = 0;
      std::uint64_t reads = 0;       // answered from it
      std::uint64_t behind = 0;      // answered from behind the floor: sent again elsewhere, unused
      std::uint64_t renewed = 0;     // connections closed and opened again at the end of their lifetime (replicas)
      std::uint64_t replayed = 0;    // the position it last reported (replicas)
      std::int64_t lag_ms = -1;      // its replay lag as it last reported it; -1: unknown (replicas)
      bool usable = true;            // takes reads now
    };
    std::vector<source> sources;
  };
  stats snapshot() const;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace granite::store
