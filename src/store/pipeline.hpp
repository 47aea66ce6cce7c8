#pragma once

// One PostgreSQL connection in libpq's pipeline mode, driven by an event
// loop: batches are sent as they come, their results are matched in order,
// and the socket is watched all the time, so that a connection the server
// closes is noticed at once, not by the next request that uses it.
//
// A write (any batch on the write lane) goes with a sync of its own: it is
// its own transaction. Reads sent in one turn of the loop share one sync,
// sent once the turn's other handlers have run (reads_per_sync of them at
// most): one send to the server and one transaction there for all of them,
// in place of one each (libpq 15's PQpipelineSync flushes each time). A read
// that fails is answered with its failure; the reads behind it in its sync,
// which the server then skips, are sent again, each with a sync of its own.
// Through a transaction pooler each read keeps a sync of its own: PgBouncer
// 1.18 was seen handing one read's rows to another when reads shared one
// under load.
//
// It is opened on a thread of its own (libpq's blocking connect: DNS, TLS,
// the connect timeout, then the session's settings and prepared
// statements), and handed to the loop ready to use.
#include <libpq-fe.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <unordered_set>
#include <atomic>

#include "granite/store/async.hpp"

namespace granite::store {

using clock = std::chrono::steady_clock;

// A batch on its way: sent, or waiting to be.
struct job {
  database::lane lane;
  batch work;
  std::function<void(answer)> done;
  int sends = 0;             // how often it was sent
  std::size_t answered = 0;  // statements whose results came back
  std::vector<rows> results;
  std::optional<failure> failed;
  clock::time_point queued_at{};  // when it last began to wait for a connection
  // When it must be answered, however long it waited and whatever ran in
  // front of it: submitted + database.statement_timeout_ms (max: never).
  clock::time_point deadline = clock::time_point::max();
  // Of its last send: its sync went to libpq (from then on the server may
  // commit it), and the server ended the session in place of one of its
  // statements' results (so it committed nothing).
  bool synced = false;
  bool ended_by_server = false;
  // ... and the server refused it as read-only (it failed: nothing of it
  // was committed).
  bool refused_as_read_only = false;
  // Set when its connection is lost: provably nothing of it was committed
  // (a write may then be sent again).
  bool never_committed = false;
  // A read held by a stalled connection is sent again on another (once):
  // both copies are hedged, and the one left on the stalled connection is
  // superseded (its answer counts only if it is a success that comes first).
  bool hedged = false;
  bool superseded = false;
  // Of its last send: it shares a sync with the reads sent in the same turn
  // (answered when its own statements' results are in), and the server
  // skipped it for a neighbour's failure (it ran nothing: sent again,
  // `alone` from then on, with a sync of its own).
  bool shares_sync = false;
  bool skipped = false;
  bool alone = false;
  // It found a statement missing that its connection was to have had (the
  // prepare of a keyed write's form, sent by a batch in front of it,
  // failed): sent again once, its keyed form unnamed (counting on no
  // prepare, which another batch may have in flight again).
  bool sent_unprepared = false;

  // Of its last send: what went before its own statements, whose results
  // are not the caller's (a kept batch's claim, and the prepare of its
  // first statement's kept form when the connection had not had it), and
  // the statement prepared for it, if any.
  std::size_t leading = 0;
  const statement* prepared_for_it = nullptr;
  // Of its last send: a write's commit position is asked after its sync,
  // with a sync of its own (trailing: 1), so that it is read after the
  // commit; `position` is what came (0: none).
  std::size_t trailing = 0;
  std::uint64_t position = 0;
  std::size_t statements() const { return work.size() + leading + trailing; }
  // The results up to its sync: those of its transaction.
  std::size_t committing() const { return work.size() + leading; }

  // A read: the least position in the primary's log a replica must have
  // replayed to answer it (the instance's floor when it was asked, or more
  // when the client presented a position), and, of its last send on a
  // replica, what the replica reported ahead of it.
  std::uint64_t floor = 0;
  bool on_replica = false;
  std::optional<std::uint64_t> replayed;  // nullopt: not asked; max: not in recovery (current)
  std::int64_t lag_ms = 0;
  // A replica's probe: no caller, nothing counted.
  bool probe = false;
  int bounces = 0;  // sent again for a replica behind it
};

struct connection_setup {
  std::string conninfo;
  int statement_timeout_ms = 0;
  const std::vector<statement>* statements = nullptr;
  bool pooled = false;  // database_options::pooled
  // Busy with no answer for this long: the connection is stalled.
  clock::duration stall_after = std::chrono::milliseconds(20);
  // A replica's connection: every read asks the replica's replay position
  // and lag first (read_position). A write connection asks each write's
  // commit position after its commit (commit_position).
  bool replica = false;
  bool positions = false;
};

// What a replica reports ahead of each read: how far it has replayed the
// primary's log (NULL on a server not in recovery), and its replay lag in
// milliseconds: 0 when it has replayed all it received (or receives
// nothing), else the time since the commit it replayed last.
extern const statement read_position;
// The primary's log position after a write's commit.
extern const statement commit_position;

class pipeline {
 public:
  struct hooks {
    std::function<void(pipeline&)> ready;
    std::function<void(pipeline&, const std::string& why)> failed;  // could not connect
    // Lost after it was ready; `unanswered` are its batches that had sent
    // nothing back (the lane decides what to do with them).
    std::function<void(pipeline&, const std::string& why, std::deque<std::shared_ptr<job>> unanswered)> lost;
    std::function<void(pipeline&)> answered;  // a batch was answered: it may take more
    // A batch that ran nothing, and that the lane sends again: its statement
    // was cancelled before its own deadline (a cancel meant for the batch in
    // front of it, which ended as the cancel came, or someone's
    // pg_cancel_backend: it committed nothing, and was sent once only), or
    // the server skipped a read for the failure of another sharing its sync.
    std::function<void(pipeline&, std::shared_ptr<job>)> send_again;
    // The connection stalled (busy, no answer for setup.stall_after: its
    // backend waits for a CPU, a lock or a slow statement) while reads that
    // have not been hedged yet wait behind the batch at its front: here
    // they are, marked hedged, still in flight here. The lane may send a
    // copy of each elsewhere.
    std::function<void(pipeline&, std::vector<std::shared_ptr<job>>)> stalled;
    // A read answered by a replica that had not replayed as far as the
    // read's floor, or that a recovery conflict cancelled: unused, the lane
    // sends it elsewhere.
    std::function<void(pipeline&, std::shared_ptr<job>)> behind;
  };

  pipeline(boost::asio::io_context& loop, connection_setup setup, hooks h);
  ~pipeline();
  pipeline(const pipeline&) = delete;
  pipeline& operator=(const pipeline&) = delete;

  // Connects in the background; hooks.ready or hooks.failed follow, on the loop.
  void open();
  bool ready() const { return conn_ != nullptr; }
  bool opening() const { return opening_; }
  // Batches sent and not yet answered.
  std::size_t outstanding() const { return in_flight_.size(); }
  // Busy, and no answer for setup.stall_after: a statement is slow or
  // waits on a lock, or the backend waits for a CPU, and whatever is sent
  // now waits behind it. A batch answered with
  // a timeout is no answer: what held it most likely holds the next.
  bool stalled(clock::time_point now) const { return !in_flight_.empty() && now - progress_ > setup_.stall_after; }
  // A replica's: the position and lag it last reported, and when.
  std::uint64_t replayed() const { return replayed_; }
  // Reads answered here (the callers', not probes).
  std::uint64_t reads_answered() const { return reads_answered_; }
  std::int64_t lag_ms() const { return lag_ms_; }
  clock::time_point reported_at() const { return reported_at_; }
  // When the last connection attempt began.
  clock::time_point attempt_started() const { return attempt_started_; }
  // Only while ready.
  void send(std::shared_ptr<job> j);
  // Closes the connection at once (granite stops, or an idle replica
  // connection is renewed); every batch not yet answered is answered
  // unavailable, here and now.
  void close();

 private:
  void watch();
  void on_readable();
  void read_results();
  void on_result(PGresult* r);
  // False when the connection was lost trying.
  // Prepared (by name) unless the connection is pooled or `unnamed`.
  bool send_statement(const statement& s, const std::vector<const char*>& values, bool unnamed = false);
  void finish_front();
  // The sync the reads of this turn share: sent (and flushed) at the end of
  // the turn, or before anything that must not share it. False when the
  // connection was lost trying.
  bool sync_shared();
  void flush();
  void lose(std::string why);  // by value: it may name what release() clears
  // The batch the server works on is past its deadline: its statement is
  // cancelled, so that it fails (a write commits nothing) and the batches
  // behind it get their turn.
  void check_deadline();
  void cancel_front(clock::time_point now);
  // Looks at the connection stall_after after its last progress: stalled,
  // the reads behind its front are handed to hooks.stalled.
  void check_stall();
  // One timer per connection and purpose, not moved as batches come and
  // go (that would cost every batch a timer operation): it runs `check` at
  // `at`, which looks at the connection as it is then and sets it again.
  struct lazy_timer {
    boost::asio::steady_timer timer;
    bool waiting = false;
  };
  void look_at(lazy_timer& t, clock::time_point at, void (pipeline::*check)());
  void release();
  static void on_notice(void* self, const PGresult* r);

  boost::asio::io_context& loop_;
  connection_setup setup_;
  hooks hooks_;
  PGconn* conn_ = nullptr;
  std::unique_ptr<boost::asio::posix::stream_descriptor> socket_;
  bool opening_ = false;
  bool waiting_to_write_ = false;
  bool in_query_ = false;  // a statement's results have begun and its NULL has not come
  std::size_t unsynced_reads_ = 0;  // sent this turn, their shared sync not yet
  bool sync_posted_ = false;
  // The server ended the session while nothing was in flight (libpq hands
  // that FATAL error to the notice receiver): nothing sent since ran.
  std::optional<std::string> ended_;
  unsigned generation_ = 0;  // one per connection: a wait of an earlier one is stale
  clock::time_point progress_{};  // the last answer, or the send that ended idleness
  clock::time_point attempt_started_{};
  std::deque<std::shared_ptr<job>> in_flight_;
  // The kept forms (kept.hpp) prepared on this connection, or being
  // prepared: each is prepared with the first batch that needs it.
  std::unordered_set<const statement*> kept_prepared_;
  std::thread opener_;
  lazy_timer overdue_;      // check_deadline()
  lazy_timer stall_check_;  // check_stall()
  std::shared_ptr<std::atomic<bool>> cancelling_ = std::make_shared<std::atomic<bool>>(false);
  clock::time_point last_cancel_log_{};
  std::uint64_t replayed_ = 0;
  std::uint64_t reads_answered_ = 0;
  std::int64_t lag_ms_ = -1;
  clock::time_point reported_at_{};
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace granite::store
