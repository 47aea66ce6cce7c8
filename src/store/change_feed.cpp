#include "granite/store/change_feed.hpp"

#include <libpq-fe.h>
#include <poll.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <optional>
#include <random>

#include "granite/store/database.hpp"
#include "granite/store/notice_triggers.hpp"
#include "reconnect.hpp"
#include "results.hpp"

namespace granite::store {

namespace {

using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

// pg_try_advisory_lock key of the stream's holder: "granite" changes.
constexpr long long holder_key = 0x6772616e69746563LL;

std::string result_error(PGresult* r) { return r ? one_line(PQresultErrorMessage(r)) : "no result"; }

struct pg_connection {
  PGconn* conn = nullptr;
  pg_connection() = default;
  explicit pg_connection(PGconn* c) : conn(c) {}
  pg_connection(pg_connection&& o) noexcept : conn(std::exchange(o.conn, nullptr)) {}
  pg_connection& operator=(pg_connection&& o) noexcept {
    if (this != &o) {
      reset();
      conn = std::exchange(o.conn, nullptr);
    }
    return *this;
  }
  ~pg_connection() { reset(); }
  void reset() {
    if (conn) PQfinish(conn);
    conn = nullptr;
  }
  explicit operator bool() const { return conn != nullptr; }
};

// A blocking statement on a connection that is not yet non-blocking: its
// single row's first value, or why not.
struct answer {
  bool ok = false;
  std::string value;
  std::string error;
};
answer exec(PGconn* c, const std::string& sql) {
  answer a;
  PGresult* r = PQexec(c, sql.c_str());
  auto status = PQresultStatus(r);
  if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
    a.ok = true;
    if (status == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)) a.value = PQgetvalue(r, 0, 0);
  } else {
    a.error = result_error(r);
  }
  PQclear(r);
  return a;
}

pg_connection connect(const std::string& conninfo, std::string& error) {
  pg_connection c(PQconnectdb(conninfo.c_str()));
  if (!c.conn || PQstatus(c.conn) != CONNECTION_OK) {
    error = message_of(c.conn);
    return {};
  }
  return c;
}

// Microseconds since 2000-01-01, PostgreSQL's epoch, for status updates.
std::int64_t pg_now_us() {
  auto since_unix =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch());
  return since_unix.count() - 946684800LL * 1000000;
}

void put64(std::string& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xff);
}
std::uint64_t get64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | static_cast<unsigned char>(p[i]);
  return v;
}

// A text[] literal of payloads (hex digits, decimal ids, letters, "+=-:/* ":
// nothing to escape inside double quotes).
std::string array_literal(const std::vector<std::string>& items) {
  std::string out = "{";
  for (const auto& item : items) out += (out.size() > 1 ? ",\"" : "\"") + item + "\"";
  return out + "}";
}

}  // namespace

struct change_feed::impl {
  change_feed_options opt;
  change_sink sink;
  change_feed_stats& stats;
  bool streaming = false;  // decided once connected (automatic: by what the database allows)
  bool decided = false;

  // The connection every instance has: LISTEN, probes, the holder's lock
  // and its batches. Statements go one at a time, in this order.
  pg_connection listener;
  enum class asked { probe, claim, publish, release };
  std::deque<std::pair<asked, std::string>> to_send;
  std::optional<asked> in_flight;
  bool flushing = false;
  bool triggers_on = true;  // (notices) as the last probe found them
  steady::time_point reconnect_at{};
  reconnector listener_attempts = database_reconnector;

  // The proof (see change_feed.hpp).
  struct probe {
    lsn flushed;
    steady::time_point at;
  };
  std::deque<probe> answered;  // waiting for the ring to get past them
  steady::time_point asked_probe_at{};
  steady::time_point next_probe{};
  steady::time_point trusted_until{};
  steady::time_point untrusted_since{};  // epoch: trusted

  // What has come from the decoder.
  std::uint64_t generation = 0;  // 0: none followed yet (the next batch starts anew)
  std::uint64_t next_seq = 0;
  lsn applied = 0;  // every commit below this is in the ring
  std::vector<change> held;  // of a batch whose last payload has not come

  // Holding the stream.
  bool holding = false;  // streaming (opening does not count)
  pg_connection stream;
  enum class open_step { none, creating, starting };
  open_step opening = open_step::none;
  static constexpr milliseconds opening_limit{30000};
  steady::time_point opening_deadline{};
  std::string opening_slot;
  lsn opening_start = 0;
  pgoutput_decoder decoder;
  std::vector<change> unsent;
  lsn decoded = 0;     // every commit below this has been decoded
  lsn published = 0;   // ... and sent in a batch
  std::uint64_t my_generation = 0;
  std::uint64_t my_seq = 1;
  steady::time_point last_batch{};
  steady::time_point next_claim{};
  steady::time_point next_status{};
  // A stream that cannot be opened (no slot free, no right to replicate)
  // lets another instance try, and tries again later and later.
  reconnector claim_attempts{milliseconds(1000), milliseconds(30000)};
  std::mt19937_64 random{std::random_device{}()};

  impl(change_feed_options o, change_sink s, change_feed_stats& st)
      : opt(std::move(o)), sink(std::move(s)), stats(st) {}

  // --- trust -----------------------------------------------------------------

  void distrust(steady::time_point now) {
    sink.distrust();
    trusted_until = {};
    if (untrusted_since == steady::time_point{}) untrusted_since = now;
  }

  void trust(steady::time_point asked_at, steady::time_point now) {
    auto until = asked_at + opt.trust_window;
    if (until <= trusted_until) return;
    trusted_until = until;
    sink.trust_until(until);
    stats.proof_age_us.store(std::chrono::duration_cast<std::chrono::microseconds>(now - asked_at).count(),
                             std::memory_order_relaxed);
  }

  // Lapsed trust is counted as time without a proof.
  void account(steady::time_point now) {
    bool trusted = now < trusted_until;
    if (trusted && untrusted_since != steady::time_point{}) {
      stats.untrusted_ms.fetch_add(
          std::chrono::duration_cast<milliseconds>(now - untrusted_since).count(), std::memory_order_relaxed);
      untrusted_since = {};
    } else if (!trusted && untrusted_since == steady::time_point{}) {
      untrusted_since = trusted_until == steady::time_point{} ? now : trusted_until;
    }
  }

  void prove(steady::time_point now) {
    while (!answered.empty() && answered.front().flushed <= applied) {
      trust(answered.front().at, now);
      answered.pop_front();
    }
    if (!answered.empty())
      stats.lag_bytes.store(static_cast<std::int64_t>(answered.back().flushed - std::min(applied, answered.back().flushed)),
                            std::memory_order_relaxed);
    else
      stats.lag_bytes.store(0, std::memory_order_relaxed);
  }

  // A change may have been missed: every worker empties its cache.
  void gap() {
    sink.publish("*");
    stats.gaps.fetch_add(1, std::memory_order_relaxed);
  }

  // --- the listening connection ---------------------------------------------

  // Whether this database can stream its changes to this role: the
  // publication, wal_level = logical, and replication rights.
  bool can_stream(PGconn* c, std::string& why) {
    auto level = exec(c, "SHOW wal_level");
    if (!level.ok) return why = level.error, false;
    if (level.value != "logical")
      return why = "wal_level is " + level.value + ", not logical", false;
    auto publication = exec(c, "SELECT count(*) FROM pg_publication WHERE pubname = '" +
                                   std::string(change_publication) + "'");
    if (!publication.ok) return why = publication.error, false;
    if (publication.value != "1") return why = "the publication granite_changes is missing (run granite migrate)", false;
    auto rights = exec(c,
                       "SELECT rolsuper OR rolreplication OR EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = "
                       "'rds_replication' AND pg_has_role(current_user, r.oid, 'member')) FROM pg_roles WHERE "
                       "rolname = current_user");
    if (!rights.ok) return why = rights.error, false;
    if (rights.value != "t")
      return why = "the role has no replication rights (REPLICATION; on RDS, the rds_replication role)", false;
    return true;
  }

  void decide(PGconn* c) {
    if (decided) return;
    decided = true;
    std::string why;
    switch (opt.source) {
      case change_source::stream:
        streaming = true;
        if (!can_stream(c, why))
          spdlog::error("cache.changes is \"stream\" but {}: the read cache stays bypassed until it can stream",
                        why);
        break;
      case change_source::notices:
        streaming = false;
        why = "cache.changes is \"notify\"";
        break;
      case change_source::automatic:
        streaming = can_stream(c, why);
        break;
    }
    if (!streaming)
      spdlog::warn("the read cache follows the triggers' notices, not the change stream: {}. Every notifying "
                   "commit takes a database-wide lock, so the fleet's writers commit one at a time; set "
                   "wal_level = logical and give the role REPLICATION (on RDS: rds.logical_replication = 1 and "
                   "GRANT rds_replication), with cache.changes auto or stream, to follow the stream instead",
                   why);
    stats.streaming.store(streaming ? 1 : 0, std::memory_order_relaxed);
    spdlog::info("read cache changes: {}", streaming ? "the change stream (logical replication)"
                                                     : "the triggers' notices (one listener for this instance)");
  }

  void open_listener(steady::time_point now) {
    std::string error;
    auto c = connect(opt.conninfo, error);
    if (c) {
      decide(c.conn);
      // Named for what it follows: `granite notices off` refuses while
      // anyone follows the notices.
      if (!streaming) exec(c.conn, "SET application_name = 'granite changes (notices)'");
      auto listen = exec(c.conn, "LISTEN " + std::string(streaming ? batch_channel : notice_channel));
      if (!listen.ok) error = listen.error;
      else if (PQsetnonblocking(c.conn, 1) != 0) error = message_of(c.conn);
    }
    if (!error.empty()) {
      auto next = listener_attempts.failed(now);
      if (next.outage_began)
        spdlog::warn("read cache bypassed: cannot listen for changes: {}; retrying every {} ms at most", error,
                     listener_attempts.most().count());
      else
        spdlog::debug("still cannot listen for changes: {}", error);
      reconnect_at = next.next;
      return;
    }
    listener = std::move(c);
    listener_attempts.succeeded();
    generation = 0;
    next_probe = now;
    // The notices of every commit from now on will come; what committed
    // before is what a read from now on sees.
    if (!streaming) gap();
    spdlog::info("listening for changes on {}", streaming ? batch_channel : notice_channel);
  }

  void lose_listener(steady::time_point now, const std::string& why) {
    spdlog::warn("read cache bypassed: the change connection was lost ({}); reconnecting", why);
    listener.reset();
    to_send.clear();
    in_flight.reset();
    flushing = false;
    answered.clear();
    generation = 0;
    distrust(now);
    if (stream) release_stream("its lock's connection was lost");
    reconnect_at = now;  // at once, as a worker's lost connection
    next_claim = now;
  }

  void ask(asked what, std::string sql) { to_send.emplace_back(what, std::move(sql)); }

  // The next statement, when none is in flight.
  bool send_next(steady::time_point now) {
    if (in_flight || to_send.empty()) return true;
    auto& [what, sql] = to_send.front();
    if (PQsendQuery(listener.conn, sql.c_str()) == 0) return false;
    if (what == asked::probe) asked_probe_at = now;
    in_flight = what;
    to_send.pop_front();
    return flush();
  }

  // What libpq could not write at once goes when the socket takes it.
  bool flush() {
    int left = PQflush(listener.conn);
    flushing = left == 1;
    return left >= 0;
  }

  // Notifications first: a probe's answer proves what came before it, which
  // must be in the ring before the ring is trusted.
  bool read_listener(steady::time_point now) {
    PGconn* c = listener.conn;
    if (PQconsumeInput(c) == 0) return false;
    take_notifications(now);
    while (in_flight && !PQisBusy(c)) {
      PGresult* r = PQgetResult(c);
      if (!r) {  // the statement is done
        in_flight.reset();
        break;
      }
      on_result(*in_flight, r, now);
      PQclear(r);
    }
    take_notifications(now);
    return PQstatus(c) == CONNECTION_OK;
  }

  void take_notifications(steady::time_point now) {
    while (PGnotify* n = PQnotifies(listener.conn)) {
      on_notify(n->extra, now);
      PQfreemem(n);
    }
  }

  void on_result(asked what, PGresult* r, steady::time_point now) {
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK;
    std::string value = ok && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? PQgetvalue(r, 0, 0) : "";
    switch (what) {
      case asked::probe:
        if (!ok) return spdlog::warn("a change probe failed: {}", result_error(r));
        if (!streaming) {
          // The answer comes after the notices of every commit before the
          // probe, if the triggers send them at all.
          bool on = value == std::to_string(notice_trigger_count);
          if (on != triggers_on)
            on ? spdlog::info("the change-notice triggers are on: read cache in use")
               : spdlog::error("the change-notice triggers are off (granite notices off): the read cache stays "
                               "bypassed; run `granite notices on`, or follow the change stream (cache.changes)");
          triggers_on = on;
          if (on) trust(asked_probe_at, now);
          return;
        }
        if (auto at = parse_lsn(value)) {
          answered.push_back({*at, asked_probe_at});
          if (answered.size() > 64) answered.pop_front();
          prove(now);
        }
        return;
      case asked::claim:
        if (!ok) return spdlog::warn("cannot try for the change stream: {}", result_error(r));
        if (value == "t") take_stream(now);
        return;
      case asked::publish:
        if (!ok) spdlog::warn("cannot publish a batch of changes: {}", result_error(r));
        return;
      case asked::release:
        return;
    }
  }

  void on_notify(std::string_view payload, steady::time_point now) {
    if (!streaming) {
      if (!parse_notice(payload)) {
        spdlog::warn("unreadable change notice \"{}\": read caches emptied", printable_notice(payload));
        return gap();
      }
      if (sink.positions) sink.positions(0, 0);
      sink.publish(payload);
      stats.notices.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    auto batch = parse_batch(payload);
    if (!batch) {
      spdlog::warn("unreadable batch of changes \"{}\": read caches emptied", printable_notice(payload));
      generation = 0;
      return gap();
    }
    stats.batches.fetch_add(1, std::memory_order_relaxed);
    if (batch->generation != generation || batch->seq != next_seq) {
      // A new stream (a new holder, or the holder's stream opened again),
      // or batches missed: what committed before now is what a read from
      // now on sees; what comes from here on follows.
      if (generation != 0)
        spdlog::info("changes: batch {}/{} does not follow {}/{}: read caches emptied", batch->generation,
                     batch->seq, generation, next_seq);
      gap();
      held.clear();
      generation = batch->generation;
      applied = 0;
    }
    next_seq = batch->seq + 1;
    // A batch's changes committed before its `through`, which only the last
    // payload of a batch carries: the changes of the others wait for it
    // (they came in the same transaction), so that the floor is raised
    // before any of them is published.
    held.insert(held.end(), batch->changes.begin(), batch->changes.end());
    if (!batch->through) return;
    if (sink.positions && !held.empty()) sink.positions(batch->through, 0);
    for (const auto& c : held) sink.publish(format_notice(c));
    stats.notices.fetch_add(held.size(), std::memory_order_relaxed);
    held.clear();
    applied = std::max(applied, batch->through);
    if (sink.positions) sink.positions(0, batch->through);
    prove(now);
  }

  static std::string printable_notice(std::string_view text) {
    std::string out;
    for (char ch : text.substr(0, 120)) out += ch >= 0x20 && ch < 0x7f ? ch : '?';
    return out;
  }

  // --- holding the stream ----------------------------------------------------

  // The lock is ours: a replication connection, a temporary slot (the
  // slot goes with the connection, whatever ends it, and holds no WAL for
  // a process that is gone), then the stream from the slot's consistent
  // point. Making the slot waits for the transactions running at that
  // moment to end, for as long as they take: it is asked without blocking,
  // and given up after opening_limit.
  void take_stream(steady::time_point now) {
    std::string error;
    auto c = connect(opt.conninfo + " replication=database", error);
    opening_slot = "granite_" + std::to_string(random() % 1000000000000ULL);
    std::string sql = "CREATE_REPLICATION_SLOT " + opening_slot + " TEMPORARY LOGICAL pgoutput NOEXPORT_SNAPSHOT";
    if (c && (PQsetnonblocking(c.conn, 1) != 0 || PQsendQuery(c.conn, sql.c_str()) == 0)) error = message_of(c.conn);
    if (!error.empty()) return fail_opening(now, error);
    stream = std::move(c);
    opening = open_step::creating;
    opening_start = 0;
    opening_deadline = now + opening_limit;
  }

  void fail_opening(steady::time_point now, const std::string& error) {
    stream.reset();
    opening = open_step::none;
    auto next = claim_attempts.failed(now);
    spdlog::error("cannot open the change stream: {}; letting another instance try, again in {} ms", error,
                  claim_attempts.backoff().count());
    if (listener) ask(asked::release, "SELECT pg_advisory_unlock(" + std::to_string(holder_key) + ")");
    next_claim = next.next;
  }

  // An answer while the stream opens: the slot made, then the stream begun.
  void on_opening(steady::time_point now) {
    PGconn* c = stream.conn;
    if (PQconsumeInput(c) == 0) return fail_opening(now, message_of(c));
    while (opening != open_step::none && !PQisBusy(c)) {
      PGresult* r = PQgetResult(c);
      if (!r) {  // the slot's answer is complete: the stream from its point
        if (opening != open_step::creating || opening_start == 0) return fail_opening(now, "no answer");
        std::string sql = "START_REPLICATION SLOT " + opening_slot + " LOGICAL " + format_lsn(opening_start) +
                          " (proto_version '1', publication_names '\"" + std::string(change_publication) + "\"')";
        if (PQsendQuery(c, sql.c_str()) == 0) return fail_opening(now, message_of(c));
        opening = open_step::starting;
        continue;
      }
      auto status = PQresultStatus(r);
      if (opening == open_step::creating) {
        std::optional<lsn> at;
        if (status == PGRES_TUPLES_OK && PQntuples(r) == 1 && PQnfields(r) >= 2) at = parse_lsn(PQgetvalue(r, 0, 1));
        std::string error = at ? "" : status == PGRES_TUPLES_OK ? "the new slot has no position" : result_error(r);
        PQclear(r);
        if (!at) return fail_opening(now, error);
        opening_start = *at;  // its consistent point
        continue;
      }
      std::string error = status == PGRES_COPY_BOTH ? "" : result_error(r);
      PQclear(r);
      if (!error.empty()) return fail_opening(now, error);
      opening = open_step::none;
      return streaming_from(now);
    }
  }

  void streaming_from(steady::time_point now) {
    claim_attempts.succeeded();
    holding = true;
    decoder = pgoutput_decoder(opt.schema);
    unsent.clear();
    decoded = published = opening_start;
    my_generation = random() | 1;
    my_seq = 1;
    next_status = now + opt.status_every;
    stats.holding.store(1, std::memory_order_relaxed);
    stats.takeovers.fetch_add(1, std::memory_order_relaxed);
    spdlog::info("holding the change stream (slot {} from {}), for every instance of this database", opening_slot,
                 format_lsn(opening_start));
    publish(now);  // the new generation, at once: the others stop waiting for the old one
  }

  // The stream is closed (its temporary slot goes with it). While the
  // listening connection lives, so does the lock: it is given up, so that
  // another instance may try, and this one tries again later.
  void release_stream(const std::string& why, bool stopping = false) {
    if (stopping) spdlog::info("no longer holding the change stream: stopping");
    else spdlog::warn("no longer holding the change stream: {}", why);
    stream.reset();
    holding = false;
    opening = open_step::none;
    stats.holding.store(0, std::memory_order_relaxed);
    if (listener) ask(asked::release, "SELECT pg_advisory_unlock(" + std::to_string(holder_key) + ")");
  }

  // What the stream has sent: changes, and how far it has decoded.
  bool read_stream(steady::time_point now) {
    PGconn* c = stream.conn;
    if (PQconsumeInput(c) == 0) {
      release_stream(message_of(c));
      return false;
    }
    for (;;) {
      char* buf = nullptr;
      int n = PQgetCopyData(c, &buf, 1);
      if (n == 0) break;
      if (n < 0) {
        std::string why = n == -1 ? "the stream ended" : message_of(c);
        release_stream(why);
        return false;
      }
      std::string_view m(buf, static_cast<std::size_t>(n));
      bool ok = on_stream_message(m, now);
      PQfreemem(buf);
      if (!ok) return false;
    }
    return true;
  }

  bool on_stream_message(std::string_view m, steady::time_point now) {
    if (m.empty()) return true;
    if (m[0] == 'k' && m.size() >= 18) {  // keepalive: the end of WAL sent, the time, reply?
      lsn end = get64(m.data() + 1);
      if (!decoder.in_transaction()) decoded = std::max(decoded, end);
      if (m[17]) send_status(now);
      return true;
    }
    if (m[0] == 'w' && m.size() >= 25) {  // XLogData: start, end, time, then pgoutput
      auto step = decoder.feed(m.substr(25), unsent);
      if (!step.ok) {
        spdlog::error("the change stream sent what cannot be decoded ({}); opening it again", step.error);
        release_stream("undecodable stream");
        return false;
      }
      if (step.committed) decoded = std::max(decoded, *step.committed);
      return true;
    }
    spdlog::error("the change stream sent a message of unknown type; opening it again");
    release_stream("unknown message");
    return false;
  }

  // The slot's position, so that the primary keeps no WAL for it beyond it.
  void send_status(steady::time_point now) {
    std::string m = "r";
    put64(m, decoded);
    put64(m, decoded);
    put64(m, decoded);
    put64(m, static_cast<std::uint64_t>(pg_now_us()));
    m += '\0';
    if (PQputCopyData(stream.conn, m.data(), static_cast<int>(m.size())) != 1 || PQflush(stream.conn) < 0)
      release_stream(message_of(stream.conn));
    next_status = now + opt.status_every;
  }

  // One NOTIFY transaction for what was decoded since the last batch.
  void publish(steady::time_point now) {
    auto payloads = format_batches(my_generation, my_seq, decoded, unsent);
    ask(asked::publish, "SELECT pg_notify('" + std::string(batch_channel) + "', p) FROM unnest('" +
                            array_literal(payloads) + "'::text[]) AS p");
    unsent.clear();
    published = decoded;
    last_batch = now;
    stats.published.fetch_add(payloads.size(), std::memory_order_relaxed);
  }

  bool publish_due(steady::time_point now) const {
    if (!holding || publish_pending()) return false;
    if (now - last_batch >= opt.heartbeat_every) return true;
    return (!unsent.empty() || decoded > published) && now - last_batch >= opt.batch_every;
  }

  // --- the loop --------------------------------------------------------------

  void turn(steady::time_point now) {
    if (!listener) {
      if (now >= reconnect_at) open_listener(now);
      if (!listener) return;
    }
    if (now >= next_probe && !in_flight && to_send.empty()) {
      ask(asked::probe, streaming ? "SELECT pg_current_wal_flush_lsn()" : enabled_notice_triggers_sql);
      next_probe = now + opt.probe_every;
    }
    if (opening != open_step::none && now >= opening_deadline)
      fail_opening(now, "the slot was not made within 30 s: making one waits for every transaction running at "
                        "that moment to end (see pg_stat_activity for a long one)");
    if (streaming && !stream && now >= next_claim && decided) {
      bool queued = std::any_of(to_send.begin(), to_send.end(), [](const auto& q) { return q.first == asked::claim; });
      if (!queued && in_flight != asked::claim) ask(asked::claim, "SELECT pg_try_advisory_lock(" + std::to_string(holder_key) + ")");
      next_claim = now + opt.claim_every;
    }
    if (holding && now >= next_status) send_status(now);
    if (publish_due(now)) publish(now);
    if (!send_next(now)) lose_listener(now, message_of(listener.conn));
  }

  void run(const std::atomic<bool>& stop, const std::function<void()>& beat) {
    auto last_beat = steady::now();
    untrusted_since = last_beat;
    beat();
    while (!stop.load(std::memory_order_relaxed)) {
      auto now = steady::now();
      turn(now);
      account(now);
      if (now - last_beat >= milliseconds(100)) {
        beat();
        last_beat = now;
      }
      pollfd fds[2];
      nfds_t count = 0;
      if (listener) fds[count++] = {PQsocket(listener.conn), static_cast<short>(POLLIN | (flushing ? POLLOUT : 0)), 0};
      if (stream) fds[count++] = {PQsocket(stream.conn), POLLIN, 0};
      int timeout = static_cast<int>(std::min<long long>(wait_ms(now), 100));
      int ready = ::poll(fds, count, timeout);
      now = steady::now();
      if (ready < 0) continue;  // a signal: look at `stop`
      for (nfds_t i = 0; i < count; ++i) {
        if (!fds[i].revents) continue;
        if (listener && fds[i].fd == PQsocket(listener.conn)) {
          if ((flushing && !flush()) || !read_listener(now)) lose_listener(now, message_of(listener.conn));
        } else if (stream && fds[i].fd == PQsocket(stream.conn)) {
          if (opening != open_step::none) on_opening(now);
          else if (!read_stream(now)) next_claim = now + opt.claim_every;
        }
      }
    }
    if (stream) release_stream("", true);
    sink.distrust();
  }

  bool publish_pending() const {
    return in_flight == asked::publish ||
           std::any_of(to_send.begin(), to_send.end(), [](const auto& q) { return q.first == asked::publish; });
  }

  // Until the next thing there is to do: a deadline that passed only counts
  // if turn() can act on it now (a probe waits for the statement in flight,
  // whose answer wakes the loop anyway).
  long long wait_ms(steady::time_point now) const {
    auto next = now + milliseconds(100);
    if (!listener) {
      next = std::min(next, reconnect_at);
    } else {
      if (!in_flight && to_send.empty()) next = std::min(next, next_probe);
      if (streaming && !stream) next = std::min(next, next_claim);
      if (opening != open_step::none) next = std::min(next, opening_deadline);
      if (holding) {
        next = std::min(next, next_status);
        if (!publish_pending()) {
          if (!unsent.empty() || decoded > published) next = std::min(next, last_batch + opt.batch_every);
          next = std::min(next, last_batch + opt.heartbeat_every);
        }
      }
    }
    if (next <= now) return 0;
    return std::chrono::duration_cast<milliseconds>(next - now).count() + 1;
  }
};

change_feed::change_feed(change_feed_options options, change_sink sink, change_feed_stats& stats)
    : impl_(std::make_unique<impl>(std::move(options), std::move(sink), stats)) {}

change_feed::~change_feed() = default;

void change_feed::run(const std::atomic<bool>& stop, const std::function<void()>& beat) { impl_->run(stop, beat); }

}  // namespace granite::store
