#pragma once

// An instance's change feed: one process per instance (the leader
// supervises it like a worker; it serves no HTTP) that brings every change
// of a user, thread or post into the instance's ring of notices, and proves,
// again and again, that the ring is current.
//
// Two sources (store/changes.hpp):
//  - stream: PostgreSQL's logical replication. One instance of the fleet
//    at a time holds the stream (a session advisory lock decides which; the
//    others stand by and take over when it goes): it reads pgoutput from a
//    temporary slot, and republishes the changes in batches on the channel
//    granite_changes, at most one NOTIFY transaction in flight and one every
//    batch_every (10 ms). Every instance, the holder too, LISTENs there on one
//    connection and writes what comes into its ring. Writers never notify,
//    so they never queue for the notification lock at commit.
//  - notices: the triggers' NOTIFY in every writing transaction, listened
//    to on one connection per instance. The fallback where logical
//    replication cannot be had: every notifying commit takes a database-wide
//    lock, so the fleet's writers commit one at a time.
//
// The proof. Every probe_every (50 ms) the feed takes the time t0 and asks for the
// database's WAL flush position F: every commit acknowledged before t0
// lies below F. Once a batch says the decoder has got past F, every change
// committed before t0 is in the ring, and the ring is trusted until
// t0 + trust_window (100 ms). (With notices, the probe's answer itself proves it:
// the notices of every commit before the probe come first.) So no worker
// answers from its cache more than trust_window after a change it has not
// applied, whatever fails: a stalled decoder, a lost connection, a killed
// process. When a change may have been missed (a new stream, which starts
// where its slot was made; a batch that does not follow the last one; a
// reconnection) the feed puts "*" in the ring, which empties every
// worker's cache, before it trusts it again.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "granite/store/changes.hpp"

namespace granite::store {

enum class change_source { automatic, stream, notices };

struct change_feed_options {
  std::string conninfo;  // store::conninfo(): LISTEN, probes, the lock, the batches
  change_source source = change_source::automatic;
  std::string schema = "public";
  std::chrono::milliseconds trust_window{100};
  std::chrono::milliseconds probe_every{50};
  std::chrono::milliseconds batch_every{10};
  std::chrono::milliseconds heartbeat_every{250};  // a batch without changes, when nothing else went
  std::chrono::milliseconds claim_every{500};      // a standby's try for the stream
  std::chrono::milliseconds status_every{1000};    // the slot's confirmed position, to the walsender
};

// What a feed reports, for the instance's metrics (shm/metrics.hpp copies
// it). Counters only grow.
struct change_feed_stats {
  std::atomic<std::uint64_t> batches{0};       // batches received
  std::atomic<std::uint64_t> notices{0};       // notices put in the ring
  std::atomic<std::uint64_t> gaps{0};          // "*" for a change possibly missed
  std::atomic<std::uint64_t> takeovers{0};     // times this instance took the stream
  std::atomic<std::uint64_t> published{0};     // batches this instance sent (holding the stream)
  std::atomic<std::int64_t> holding{0};        // 1 while this instance holds the stream
  std::atomic<std::int64_t> streaming{0};      // 1: stream; 0: notices
  std::atomic<std::int64_t> lag_bytes{0};      // the last probe's position past what the ring has
  std::atomic<std::int64_t> untrusted_ms{0};   // time without a proof, summed
  std::atomic<std::int64_t> proof_age_us{0};   // how old the newest proof was when made (a probe's wait)
};

// Where the feed puts what it learns: the instance's ring.
struct change_sink {
  std::function<void(std::string_view notice)> publish;
  std::function<void(std::chrono::steady_clock::time_point)> trust_until;
  std::function<void()> distrust;
  // Positions (shm::notice_ring): `changed`, of a batch with changes, is
  // given before its notices are published; `applied` after. Both 0 when
  // the notices carry no position (the triggers' fallback).
  std::function<void(lsn changed, lsn applied)> positions;
};

class change_feed {
 public:
  change_feed(change_feed_options options, change_sink sink, change_feed_stats& stats);
  ~change_feed();
  change_feed(const change_feed&) = delete;
  change_feed& operator=(const change_feed&) = delete;

  // Runs until `stop` is set (checked at least every 100 ms); `beat` is
  // called at least that often, for the leader's watchdog.
  void run(const std::atomic<bool>& stop, const std::function<void()>& beat);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace granite::store
