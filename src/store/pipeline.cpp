#include "pipeline.hpp"

#include <poll.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <limits>

#include "granite/store/changes.hpp"
#include "kept.hpp"
#include "results.hpp"

namespace granite::store {

namespace asio = boost::asio;

namespace {

// Reads that share one sync at most: the first one's results wait for the
// server to reach the sync (it flushes there), so their number is bounded.
constexpr std::size_t reads_per_sync = 16;

// Whether more bytes wait on the socket: the reactor reports readiness as an
// edge, so what is already there must be taken before waiting again.
bool readable_now(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR));
}

// A replica's position (the highest for a server not in recovery).
std::uint64_t position_of(const PGresult* r) {
  if (PQntuples(r) != 1 || PQgetisnull(r, 0, 0)) return std::numeric_limits<std::uint64_t>::max();
  return parse_lsn(PQgetvalue(r, 0, 0)).value_or(0);
}

}  // namespace

const statement read_position{
    "granite_read_position",
    "SELECT pg_last_wal_replay_lsn()::text, CASE WHEN pg_last_wal_receive_lsn() IS NULL OR "
    "pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0 ELSE COALESCE((EXTRACT(epoch FROM "
    "clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000)::bigint, 0) END"};
const statement commit_position{"granite_commit_position", "SELECT pg_current_wal_insert_lsn()::text"};

pipeline::pipeline(asio::io_context& loop, connection_setup setup, hooks h)
    : loop_(loop), setup_(std::move(setup)), hooks_(std::move(h)), overdue_{asio::steady_timer(loop)}, stall_check_{asio::steady_timer(loop)} {}

pipeline::~pipeline() {
  *alive_ = false;
  release();
  if (opener_.joinable()) opener_.join();
}

void pipeline::send(std::shared_ptr<job> j) {
  ++j->sends;
  j->synced = false;
  j->ended_by_server = false;
  j->refused_as_read_only = false;
  j->skipped = false;
  j->on_replica = setup_.replica;
  j->replayed.reset();
  j->trailing = setup_.positions && j->lane == database::lane::write ? 1 : 0;
  j->position = 0;
  j->shares_sync = !setup_.pooled && j->lane == database::lane::read && !j->alone && !j->work.kept();
  if (in_flight_.empty()) progress_ = clock::now();
  in_flight_.push_back(j);
  // Any other batch is its own transaction: the reads sent before it get
  // their sync first.
  if (!j->shares_sync && !sync_shared()) return;
  if (!overdue_.waiting) check_deadline();
  if (!stall_check_.waiting && hooks_.stalled) look_at(stall_check_, progress_ + setup_.stall_after, &pipeline::check_stall);
  std::size_t first = 0;
  j->leading = 0;
  j->prepared_for_it = nullptr;
  if (j->on_replica) {
    // In the same transaction, before the read's own statements (each
    // takes its snapshot after it): the read sees at least this.
    if (!send_statement(read_position, {})) return;
    ++j->leading;
  }
  if (const auto& k = j->work.kept()) {
    // The key's claim, then the first statement, made to keep its rows:
    // prepared first if this connection has not had it (a prepare is no
    // part of the transaction, so one that fails leaves nothing behind),
    // or unnamed when it went missing on an earlier send.
    const statement& kept_form = keeping(j->work.at(0));
    if (!setup_.pooled && !j->sent_unprepared && kept_prepared_.insert(&kept_form).second) {
      if (PQsendPrepare(conn_, kept_form.name, kept_form.sql, 0, nullptr) != 1)
        return lose("cannot send a statement: " + message_of(conn_));
      j->prepared_for_it = &kept_form;
      ++j->leading;
    }
    ++j->leading;
    std::string user = std::to_string(k->user), ttl = std::to_string(k->ttl_s);
    // Sent again after its connection was cut: the first transaction may
    // still be ending on the server, and is waited for.
    std::vector<const char*> claim{user.c_str(), k->key.c_str(), j->sends > 1 ? "t" : "f"};
    if (!send_statement(claim_key, claim)) return;
    auto values = j->work.parameters(0);
    values.insert(values.end(), {user.c_str(), k->key.c_str(), k->request_sha256.c_str(), ttl.c_str()});
    if (!send_statement(kept_form, values, j->sent_unprepared)) return;
    first = 1;
  }
  for (std::size_t i = first; i < j->work.size(); ++i)
    if (!send_statement(j->work.at(i), j->work.parameters(i))) return;
  if (j->shares_sync) {
    // Buffered by libpq (pipeline mode sends nothing before a sync or 64 kB).
    if (++unsynced_reads_ >= reads_per_sync) {
      sync_shared();
      return;
    }
    if (!sync_posted_) {
      sync_posted_ = true;
      asio::post(loop_, [this, alive = alive_, gen = generation_] {
        if (!*alive || gen != generation_) return;
        sync_posted_ = false;
        sync_shared();
      });
    }
    return;
  }
  // Without its sync the server commits none of it; from here on it may.
  j->synced = true;
  if (PQpipelineSync(conn_) != 1) return lose("cannot send a statement: " + message_of(conn_));
  // Asked after the commit (a transaction of its own): a position past it.
  if (j->trailing && (!send_statement(commit_position, {}) || PQpipelineSync(conn_) != 1))
    return lose("cannot send a statement: " + message_of(conn_));
  flush();
}

bool pipeline::sync_shared() {
  if (!conn_) return false;
  if (unsynced_reads_ == 0) return true;
  unsynced_reads_ = 0;
  for (auto j = in_flight_.rbegin(); j != in_flight_.rend() && !(*j)->synced; ++j)
    if ((*j)->shares_sync) (*j)->synced = true;
  if (PQpipelineSync(conn_) != 1) {
    lose("cannot send a statement: " + message_of(conn_));
    return false;
  }
  flush();
  return conn_ != nullptr;
}

bool pipeline::send_statement(const statement& s, const std::vector<const char*>& values, bool unnamed) {
  int n = static_cast<int>(values.size());
  int sent = setup_.pooled || unnamed || !s.name
                 ? PQsendQueryParams(conn_, s.sql, n, nullptr, values.data(), nullptr, nullptr, 0)
                 : PQsendQueryPrepared(conn_, s.name, n, values.data(), nullptr, nullptr, 0);
  if (sent == 1) return true;
  lose("cannot send a statement: " + message_of(conn_));
  return false;
}

void pipeline::flush() {
  int r = PQflush(conn_);
  if (r < 0) return lose("cannot send to the database: " + message_of(conn_));
  if (r == 0 || waiting_to_write_) return;
  // The socket's buffer is full: the rest goes when it drains.
  waiting_to_write_ = true;
  socket_->async_wait(asio::posix::stream_descriptor::wait_write,
                      [this, alive = alive_, gen = generation_](boost::system::error_code ec) {
                        if (!*alive || gen != generation_) return;
                        waiting_to_write_ = false;
                        if (ec) return lose(ec.message());
                        flush();
                      });
}

void pipeline::watch() {
  socket_->async_wait(asio::posix::stream_descriptor::wait_read,
                      [this, alive = alive_, gen = generation_](boost::system::error_code ec) {
                        if (!*alive || gen != generation_ || ec == asio::error::operation_aborted) return;
                        if (ec) return lose(ec.message());
                        on_readable();
                      });
}

void pipeline::on_readable() {
  do {
    if (PQconsumeInput(conn_) == 0) return lose(message_of(conn_));
    read_results();
    if (!conn_) return;  // lost while reading
    if (ended_) return lose(*ended_);
    if (PQstatus(conn_) != CONNECTION_OK) return lose(message_of(conn_));
  } while (readable_now(PQsocket(conn_)));
  watch();
}

// Each statement's results end with a NULL; a batch ends with its sync, or
// with its last statement's NULL when it shares the sync.
void pipeline::read_results() {
  while (conn_ && !in_flight_.empty() && PQisBusy(conn_) == 0) {
    PGresult* r = PQgetResult(conn_);
    if (!r) {
      if (!in_query_) break;  // nothing more has arrived
      in_query_ = false;
      if (auto& j = *in_flight_.front(); j.shares_sync && j.answered == j.statements()) {
        // The session ends (the server ended it in place of a result, or
        // libpq lost it): nothing behind it runs, the lane decides.
        if (j.ended_by_server || (j.failed && j.failed->what == failure::kind::unavailable))
          return lose(message_of(conn_));
        finish_front();
      }
      continue;
    }
    on_result(r);
  }
}

void pipeline::on_result(PGresult* r) {
  auto& j = *in_flight_.front();
  switch (PQresultStatus(r)) {
    case PGRES_PIPELINE_SYNC:
      PQclear(r);
      // The sync of reads answered already (the front's statements have
      // not begun), or the front's own.
      if (j.answered < j.statements()) return;
      return finish_front();
    case PGRES_TUPLES_OK:
    case PGRES_COMMAND_OK:
      if (j.answered >= j.committing()) {  // after the commit: its position
        if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) j.position = parse_lsn(PQgetvalue(r, 0, 0)).value_or(0);
        PQclear(r);
      } else if (j.answered < j.leading) {
        // A replica's position; the key's claim, a prepare: nothing of the
        // caller's.
        if (j.on_replica && j.answered == 0) {
          j.replayed = position_of(r);
          j.lag_ms = PQnfields(r) > 1 && !PQgetisnull(r, 0, 1) ? std::atoll(PQgetvalue(r, 0, 1)) : 0;
        }
        PQclear(r);
      } else {
        j.results.emplace_back(wrap_result(r));
      }
      break;
    case PGRES_PIPELINE_ABORTED:  // after an earlier statement of the batch failed, or of its sync
      if (!j.failed) j.skipped = true;
      PQclear(r);
      break;
    default:
      if (j.answered >= j.committing()) {  // the position after the commit: unknown, the write stands
        PQclear(r);
        break;
      }
      // A prepare that failed prepared nothing: the next batch tries again.
      if (j.answered == 0 && j.prepared_for_it) kept_prepared_.erase(j.prepared_for_it);
      if (!j.failed) j.failed = failure_of(r);
      // A session the server ends (a restart, pg_terminate_backend) in
      // place of a statement's result never reached the batch's commit.
      if (ends_session(r) && j.answered < j.committing()) j.ended_by_server = true;
      PQclear(r);
  }
  ++j.answered;
  in_query_ = true;
}

void pipeline::finish_front() {
  auto j = std::move(in_flight_.front());
  in_flight_.pop_front();
  in_query_ = false;
  if (j->failed && j->failed->what == failure::kind::read_only) {
    // The server takes no writes (demoted after a failover, a standby
    // promoted elsewhere, default_transaction_read_only): this connection
    // is no writer's. The batch failed, so it committed nothing, and goes
    // again on a connection that finds a writer, or is answered 503.
    j->refused_as_read_only = true;
    in_flight_.push_front(std::move(j));
    return lose("the server takes no writes (SQLSTATE 25006); looking for a writer");
  }
  auto now = clock::now();
  if (j->replayed) {
    replayed_ = *j->replayed;
    lag_ms_ = j->lag_ms;
    reported_at_ = now;
  }
  // A replica behind the read's floor, or one whose replay cancelled the
  // read (a recovery conflict): the answer is not used.
  bool behind = j->on_replica && !j->probe &&
                ((j->replayed && *j->replayed < j->floor) || (j->failed && j->failed->what == failure::kind::conflict));
  if (behind && hooks_.behind) {
    progress_ = now;
    hooks_.behind(*this, std::move(j));
    if (hooks_.answered) hooks_.answered(*this);
    return;
  }
  bool timed_out = j->failed && j->failed->what == failure::kind::timeout;
  // Not its own deadline's cancel (nor the server's statement_timeout,
  // which cannot end a statement before granite's deadline for it).
  bool cancelled_early = timed_out && now < j->deadline && j->sends < 2;
  bool ran_nothing = j->skipped && !j->failed;  // the server skipped it for another's failure
  // A batch sent behind the one preparing its keyed form counted on that
  // prepare; when it failed (a cancel, a lock wait cut short), this batch
  // failed at the statement: its transaction committed nothing.
  bool unprepared = j->failed && j->failed->what == failure::kind::unprepared && !j->sent_unprepared;
  if ((cancelled_early || ran_nothing || unprepared) && hooks_.send_again) {
    if (cancelled_early)
      spdlog::info("a statement was cancelled before its deadline (a cancel meant for the batch before it, "
                   "or pg_cancel_backend); it committed nothing and is sent again");
    if (unprepared) {
      spdlog::info("a batch found a statement missing that its connection was to have prepared (the prepare "
                   "before it failed); it committed nothing and is sent again, that statement unnamed");
      j->sent_unprepared = true;
    }
    progress_ = now;
    j->alone = true;
    hooks_.send_again(*this, std::move(j));
    if (hooks_.answered) hooks_.answered(*this);
    return;
  }
  if (ran_nothing) j->failed = failure{failure::kind::unavailable, {}, "the database skipped the statement; retry shortly"};
  if (!timed_out) progress_ = now;
  answer a = j->failed ? answer(std::move(*j->failed)) : answer(std::move(j->results), j->position);
  if (j->lane == database::lane::read && !j->probe && !j->superseded) ++reads_answered_;
  // On the loop, after this read: the answer may send more.
  asio::post(loop_, [j, a = std::move(a)]() mutable { j->done(std::move(a)); });
  if (hooks_.answered) hooks_.answered(*this);
}

void pipeline::lose(std::string why) {
  if (!conn_) return;
  auto unanswered = std::exchange(in_flight_, {});
  // The server works through a pipeline in order: once it ended the session
  // in place of a result, it ran nothing behind it either.
  bool ended = ended_ || (!unanswered.empty() && unanswered.front()->ended_by_server);
  for (auto& j : unanswered) j->never_committed = ended || !j->synced || j->refused_as_read_only;
  in_query_ = false;
  release();
  hooks_.lost(*this, why, std::move(unanswered));
}

void pipeline::close() {
  auto unanswered = std::exchange(in_flight_, {});
  release();
  for (auto& j : unanswered) j->done(answer(failure{failure::kind::unavailable, {}, "granite is stopping; retry shortly"}));
}

void pipeline::release() {
  kept_prepared_.clear();  // the next connection has none of them
  for (auto* t : {&overdue_, &stall_check_}) {
    t->timer.cancel();
    t->waiting = false;
  }
  if (socket_) {
    socket_->release();  // out of the reactor before libpq closes the descriptor
    socket_.reset();
  }
  waiting_to_write_ = false;
  unsynced_reads_ = 0;
  sync_posted_ = false;
  ended_.reset();
  if (conn_) PQfinish(conn_);
  conn_ = nullptr;
}

void pipeline::on_notice(void* self, const PGresult* r) {
  std::string message = one_line(PQresultErrorMessage(r));
  if (!ends_session(r)) return spdlog::info("database: {}", message);
  static_cast<pipeline*>(self)->ended_ = "the server ended the session: " + message;
}

}  // namespace granite::store
