// What a pipeline watches while batches are in flight: the front's
// deadline (its statement is cancelled past it) and stalls (the reads
// behind the front are handed over to be copied elsewhere).
#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include <thread>

#include "pipeline.hpp"

namespace granite::store {

namespace {

// A replica's read at the front of its connection is copied elsewhere after
// this long without progress.
constexpr auto replica_front_after = std::chrono::milliseconds(500);

}  // namespace

// The deadline's timer is for the batch at the front: the server works
// through a pipeline in order, so only the front's statement can be running.
// When it fires (look_at), it looks at whichever batch is at the front then,
// and waits for that one's deadline, or cancels it.
void pipeline::check_deadline() {
  if (!conn_ || in_flight_.empty() || in_flight_.front()->deadline == clock::time_point::max()) return;
  auto now = clock::now();
  if (now < in_flight_.front()->deadline) return look_at(overdue_, in_flight_.front()->deadline, &pipeline::check_deadline);
  cancel_front(now);
  // Should the cancel miss (the statement ended as it came, or the cancel
  // could not be sent), the front is looked at again shortly.
  look_at(overdue_, now + std::chrono::milliseconds(250), &pipeline::check_deadline);
}

void pipeline::look_at(lazy_timer& t, clock::time_point at, void (pipeline::*check)()) {
  t.waiting = true;
  t.timer.expires_at(at);
  t.timer.async_wait([this, &t, check, alive = alive_, gen = generation_](boost::system::error_code ec) {
    if (ec || !*alive || gen != generation_) return;
    t.waiting = false;
    (this->*check)();
  });
}

void pipeline::check_stall() {
  if (!conn_ || in_flight_.empty()) return;
  auto now = clock::now();
  if (!stalled(now)) return look_at(stall_check_, progress_ + setup_.stall_after, &pipeline::check_stall);
  // The batch at the front may be running (a slow statement, a lock
  // wait): a copy would double its cost or hold a second connection. Those
  // behind it have certainly not begun.
  std::vector<std::shared_ptr<job>> reads;
  // A replica's front too, once it has stalled for long: a replica that
  // froze, or whose replay holds the read, gives its reads up within a
  // second.
  bool front_too = setup_.replica && now - progress_ > replica_front_after;
  for (auto j = front_too ? in_flight_.begin() : std::next(in_flight_.begin()); j != in_flight_.end(); ++j)
    if ((*j)->lane == database::lane::read && !(*j)->hedged && !(*j)->probe) {
      (*j)->hedged = true;
      reads.push_back(*j);
    }
  // Looked at again while it stays stalled: what it is sent meanwhile
  // (when nothing else could take it) is handed over too.
  look_at(stall_check_, now + setup_.stall_after, &pipeline::check_stall);
  if (!reads.empty()) hooks_.stalled(*this, std::move(reads));
}

// libpq's cancel request opens a connection of its own and waits for it: on
// a thread, one at a time.
void pipeline::cancel_front(clock::time_point now) {
  if (now - last_cancel_log_ >= std::chrono::seconds(1)) {
    last_cancel_log_ = now;
    spdlog::warn("a batch ran past its deadline (database.statement_timeout_ms, counted from when it was asked); "
                 "cancelling its statement");
  }
  if (cancelling_->exchange(true)) return;
  PGcancel* cancel = PQgetCancel(conn_);
  if (!cancel) {
    *cancelling_ = false;
    return;
  }
  std::thread([cancel, busy = cancelling_] {
    char error[256];  // a cancel that fails is tried again (no log: the worker may be exiting)
    PQcancel(cancel, error, sizeof error);
    PQfreeCancel(cancel);
    *busy = false;
  }).detach();
}

}  // namespace granite::store
