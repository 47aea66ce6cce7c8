#include "granite/store/async.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <limits>
#include <random>

#include "granite/store/event_loop.hpp"
#include "kept.hpp"
#include "pipeline.hpp"
#include "placement.hpp"
#include "reconnect.hpp"

namespace granite::store {

namespace asio = boost::asio;
using std::chrono::milliseconds;

namespace {
// A connection that has sent nothing back for this long while busy is
// stalled (a slow statement, a lock, a backend waiting for a CPU): nothing
// more is sent behind it while another connection can take it, batches wait
// in granite instead, where their wait is bounded, and the reads waiting
// behind the batch at its front are sent again elsewhere (hedged, once each).
constexpr auto stall_after = milliseconds(20);
// Connection attempts (reconnect.hpp): a lost connection is opened again at
// once; one that fails is tried again after 50 ms, doubling to 500 ms. A
// batch that finds every connection of its lane down waits for the next
// attempt that begins after it came (at most 50 ms away): it is refused
// only when that attempt fails. So during an outage each request is refused
// within tens of milliseconds, and none is refused once PostgreSQL accepts
// connections.
constexpr auto attempt_spacing = database_reconnector.first();

failure unavailable_because(std::string why) { return {failure::kind::unavailable, {}, std::move(why)}; }

const char* lane_name(database::lane l) { return l == database::lane::read ? "read" : "write"; }

// A replica that sent a read back for being behind gets no reads until it
// reports a position past that read's floor: it is asked (a probe) at most
// this often while it is idle and reads are passing it by.
constexpr auto probe_spacing = milliseconds(10);
// A read sent back this often (recovery conflicts) goes to the primary.
constexpr int most_bounces = 2;

// The host (and port) a URL names, for /health/database and the log:
// never its password.
std::string host_of(const std::string& url) {
  std::string host, port;
  if (PQconninfoOption* options = PQconninfoParse(url.c_str(), nullptr)) {
    for (auto* o = options; o->keyword; ++o) {
      if (!o->val) continue;
      if (std::string_view(o->keyword) == "host" || (host.empty() && std::string_view(o->keyword) == "hostaddr"))
        host = o->val;
      if (std::string_view(o->keyword) == "port") port = o->val;
    }
    PQconninfoFree(options);
  }
  if (host.empty()) host = "(default)";
  return port.empty() ? host : host + ":" + port;
}
}  // namespace

struct database::impl {
  struct link {
    std::unique_ptr<pipeline> p;
    asio::steady_timer retry;
    reconnector attempts = database_reconnector;
    bool first_attempt = true;
    // A replica's: its source (index in sources), the floor of the last
    // read it sent back (no reads until it reports a position at or past
    // it), when it was last probed.
    std::size_t source = 0;
    std::uint64_t needs = 0;
    clock::time_point probed{};
    // A replica's connection is renewed from this time on
    // (database_options::replica_lifetime): it takes no more reads, and is
    // closed and opened again once the last it holds is answered; the timer
    // runs the renewal, on the loop.
    clock::time_point renew_at = clock::time_point::max();
    asio::steady_timer renewal;
    explicit link(asio::io_context& loop) : retry(loop), renewal(loop) {}
    bool ready() const { return p->ready(); }
  };
  struct lane_state {
    database::lane kind;
    bool replicas = false;
    std::vector<std::unique_ptr<link>> links;
    std::deque<std::shared_ptr<job>> waiting;  // no connection of the lane can take them now
    asio::steady_timer deadline;               // the oldest waiting batch's
    std::vector<link_state> states;            // what place_batch() is shown, one per link
    explicit lane_state(asio::io_context& loop) : deadline(loop) {}
  };

  impl(asio::io_context& l, database_options o)
      : loop(l), options(std::move(o)), reads(l), writes(l), replicas(l) {
    options.statements.insert(options.statements.begin(),
                              {ping, claim_key, kept_read, read_position, commit_position});
    wait_limit = milliseconds(options.connect.statement_timeout_ms);
    sources.push_back({"primary", host_of(options.connect.url)});
    make_lane(reads, database::lane::read, options.read_connections);
    make_lane(writes, database::lane::write, options.write_connections);
    replicas.replicas = true;
    for (std::size_t r = 0; r < options.replicas.size(); ++r) {
      sources.push_back({"replica " + std::to_string(r + 1), host_of(options.replicas[r])});
      make_lane(replicas, database::lane::read, options.replica_connections, r + 1);
    }
  }

  void make_lane(lane_state& lane, database::lane kind, int count, std::size_t source = 0) {
    lane.kind = kind;
    for (int i = 0; i < count; ++i) {
      auto ln = std::make_unique<link>(loop);
      connection_setup setup{conninfo_for(kind, i, source), options.connect.statement_timeout_ms,
                             &options.statements, options.pooled, stall_after};
      setup.replica = source > 0;
      // A write's position matters only where reads may be answered by a
      // replica: elsewhere it is not asked (and no header carries it).
      setup.positions = source == 0 && !options.replicas.empty();
      ln->source = source;
      ln->first_attempt = source == 0;  // a replica that cannot be reached does not hold the worker's boot
      link* raw = ln.get();
      pipeline::hooks h{
          [this, &lane, raw](pipeline&) { on_ready(lane, *raw); },
          [this, &lane, raw](pipeline&, const std::string& why) { on_failed(lane, *raw, why); },
          [this, &lane, raw](pipeline&, const std::string& why, std::deque<std::shared_ptr<job>> unanswered) {
            on_lost(lane, *raw, why, std::move(unanswered));
          },
          [this, raw](pipeline&) {
            if (raw->renew_at != clock::time_point::max()) renewing(*raw, clock::now());
            drain();
          },
          [this](pipeline&, std::shared_ptr<job> j) { send_again(std::move(j)); },
          [this](pipeline&, std::vector<std::shared_ptr<job>> held) { hedge(std::move(held)); },
          [this, raw](pipeline&, std::shared_ptr<job> j) { behind(*raw, std::move(j)); }};
      ln->p = std::make_unique<pipeline>(loop, std::move(setup), std::move(h));
      lane.links.push_back(std::move(ln));
    }
    lane.states.resize(lane.links.size());
  }

  // In pg_stat_activity: "granite worker 0 reads", "... reads 1",
  // "... writes", "... replica 1 reads".
  std::string conninfo_for(database::lane kind, int i, std::size_t source) {
    auto o = options.connect;
    o.writer = kind == database::lane::write;
    if (source > 0) {
      o.url = options.replicas[source - 1];
      o.application_name += " replica " + std::to_string(source);
    }
    o.application_name += std::string(" ") + lane_name(kind) + "s";
    if (i > 0)
      o.application_name += " " + std::to_string(i);
    return conninfo(o);
  }

  // For the log: "read lane", "write lane", "replica 1 (host:port)".
  std::string where(const lane_state& lane, const link& ln) const {
    if (lane.replicas) return sources[ln.source].name + " (" + sources[ln.source].host + ")";
    return std::string(lane_name(lane.kind)) + " lane";
  }

  lane_state& lane_of(database::lane l) { return l == database::lane::read ? reads : writes; }

  // The answer is never given inside the call that asked: on the loop, later
  // (or at once while stopping, when the loop no longer runs).
  void answer_later(std::shared_ptr<job> j, answer a) {
    ++counters.refused;
    if (stopped) return j->done(std::move(a));
    asio::post(loop, [j = std::move(j), a = std::move(a)]() mutable { j->done(std::move(a)); });
  }

  // --- where a batch goes --------------------------------------------------

  static bool any_ready(const lane_state& lane) {
    return std::any_of(lane.links.begin(), lane.links.end(), [](auto& ln) { return ln->ready(); });
  }
  static bool any_opening(const lane_state& lane) {
    return std::any_of(lane.links.begin(), lane.links.end(), [](auto& ln) { return ln->p->opening(); });
  }

  // Sends the batch on a connection that can take it now (placement.hpp);
  // false when none can.
  bool place(const std::shared_ptr<job>& j) {
    auto now = clock::now();
    if (place_on_replica(j, now)) return true;
    for (auto* lane : {&reads, &writes})
      for (std::size_t i = 0; i < lane->links.size(); ++i) {
        auto& p = *lane->links[i]->p;
        lane->states[i] = {p.ready(), p.stalled(now), p.outstanding()};
      }
    auto where = place_batch(j->lane, reads.states, writes.states);
    if (!where) return false;
    lane_of(where->lane).links[where->index]->p->send(j);
    return true;
  }

  // A replica takes a read when it is connected, not stalled, and not known
  // to be behind: it has reported a position past the floor of the last
  // read it sent back, and (database.replica_max_lag_ms) a lag within the
  // limit. Of those, the one with the fewest reads in flight (ties take turns). A replica
  // passed by for being behind is probed, so that it is taken again once
  // it has caught up.
  bool replica_usable(const link& ln) const {
    auto& p = *ln.p;
    if (p.replayed() < ln.needs) return false;
    return options.replica_max_lag_ms == 0 || p.lag_ms() <= options.replica_max_lag_ms;
  }

  bool place_on_replica(const std::shared_ptr<job>& j, clock::time_point now) {
    if (replicas.links.empty() || j->lane != database::lane::read || j->work.must_be_current() ||
        j->bounces >= most_bounces || j->floor == std::numeric_limits<std::uint64_t>::max())
      return false;
    link* best = nullptr;
    // From the next one each time: ties (idle connections) take turns.
    auto count = replicas.links.size();
    auto first = next_replica++ % count;
    for (std::size_t k = 0; k < count; ++k) {
      auto& ln = replicas.links[(first + k) % count];
      auto& p = *ln->p;
      if (!p.ready() || p.stalled(now) || renewing(*ln, now)) continue;
      if (!replica_usable(*ln)) {
        probe(*ln, now);
        continue;
      }
      if (!best || p.outstanding() < best->p->outstanding()) best = ln.get();
    }
    if (!best) return false;
    best->p->send(j);
    return true;
  }

  // --- renewing a replica's connection ------------------------------------
  //
  // A reader endpoint (Aurora's) hands a replica to each new connection: the
  // ones kept open stay where they first landed, and a replica that
  // autoscaling adds gets reads only from connections opened after it came.
  // So each replica connection is closed and opened again after its
  // lifetime, less up to a quarter of it at random, so that a worker's
  // connections, opened together at its boot, do not all go at once.

  void renew_after_lifetime(link& ln) {
    ln.renew_at = clock::time_point::max();
    auto life = options.replica_lifetime;
    if (life.count() <= 0) return;
    std::uniform_int_distribution<milliseconds::rep> less(0, life.count() / 4);
    ln.renew_at = clock::now() + life - milliseconds(less(jitter));
    arm_renewal(ln, ln.renew_at);
  }

  void arm_renewal(link& ln, clock::time_point when) {
    ln.renewal.expires_at(when);
    ln.renewal.async_wait([this, &ln](boost::system::error_code ec) {
      if (!ec && !stopped) renew(ln);
    });
  }

  // Whether the connection is due for renewal (it then takes no more
  // reads). Once it holds none, its timer renews it at the loop's next
  // turn: never inside a call of its own pipeline.
  bool renewing(link& ln, clock::time_point now) {
    if (now < ln.renew_at) return false;
    if (ln.p->outstanding() == 0) arm_renewal(ln, now);
    return true;
  }

  // From the timer, on the loop. A connection holding reads again waits:
  // the answer to the last of them calls renewing() once more.
  void renew(link& ln) {
    if (!ln.ready() || ln.p->outstanding() > 0 || clock::now() < ln.renew_at) return;
    ++sources[ln.source].renewed;
    spdlog::debug("renewing a connection to {} at the end of its lifetime", where(replicas, ln));
    ln.renew_at = clock::time_point::max();
    ln.p->close();
    open_now(ln);
  }

  void probe(link& ln, clock::time_point now) {
    if (ln.p->outstanding() > 0 || now - ln.probed < probe_spacing) return;
    ln.probed = now;
    auto j = std::make_shared<job>();
    j->lane = database::lane::read;
    j->probe = true;
    j->done = [](answer) {};
    ln.p->send(std::move(j));
  }

  // A replica answered a read from behind its floor (or a recovery
  // conflict cancelled it there): the answer is dropped, and the read goes
  // where a read goes now, which is not that replica until it catches up.
  void behind(link& ln, std::shared_ptr<job> j) {
    ++sources[ln.source].behind;
    ln.needs = std::max(ln.needs, j->floor);
    ++j->bounces;
    j->sends = 0;  // it ran nothing of consequence: a lost connection may still send it once more
    j->answered = 0;
    j->results.clear();
    j->failed.reset();
    dispatch(std::move(j));
  }

  void dispatch(std::shared_ptr<job> j) {
    if (stopped) return answer_later(std::move(j), answer(unavailable_because("granite is stopping; retry shortly")));
    if (place(j)) return;
    auto& lane = lane_of(j->lane);
    if (lane.waiting.size() >= static_cast<std::size_t>(options.queue_limit))
      return answer_later(std::move(j),
                          answer(unavailable_because("too many requests are waiting for the database; retry shortly")));
    j->queued_at = clock::now();
    wait_in_order(lane, std::move(j));
    arm_deadline(lane);
    if (!any_ready(lane)) attempt_soon(lane);
  }

  // In the order of their deadlines: a batch sent again after its
  // connection was lost goes before those asked after it.
  static void wait_in_order(lane_state& lane, std::shared_ptr<job> j) {
    auto at = std::upper_bound(lane.waiting.begin(), lane.waiting.end(), j->deadline,
                               [](clock::time_point d, const std::shared_ptr<job>& w) { return d < w->deadline; });
    lane.waiting.insert(at, std::move(j));
  }

  // Batches that waited go out, oldest first, while connections take them.
  // Each leaves the queue before it is placed: sending it may find its
  // connection lost, and that connection's batches then come back into the
  // queue, ahead of it when they are older. Popping the front after the
  // send would take one of them out unanswered and leave this one queued
  // to be sent, and answered, twice.
  void drain() {
    for (auto* lane : {&reads, &writes}) {
      while (!lane->waiting.empty()) {
        auto j = std::move(lane->waiting.front());
        lane->waiting.pop_front();
        if (!place(j)) {
          wait_in_order(*lane, std::move(j));
          break;
        }
      }
      arm_deadline(*lane);
    }
  }

  // A batch is answered at the latest database.statement_timeout_ms after
  // it was asked (none when that is 0): one still waiting for a connection
  // then is answered as a statement that ran out of time would be (one
  // already sent is cancelled by its connection, pipeline.cpp).
  void arm_deadline(lane_state& lane) {
    if (lane.waiting.empty() || wait_limit.count() == 0) return;
    auto due = lane.waiting.front()->deadline;
    if (lane.deadline.expiry() == due) return;
    lane.deadline.expires_at(due);
    lane.deadline.async_wait([this, &lane](boost::system::error_code ec) {
      if (ec || stopped) return;
      auto now = clock::now();
      while (!lane.waiting.empty() && lane.waiting.front()->deadline <= now) {
        auto j = std::move(lane.waiting.front());
        lane.waiting.pop_front();
        answer_later(std::move(j), answer(failure{failure::kind::timeout, {},
                                                  "the database did not answer in time; retry shortly"}));
      }
      arm_deadline(lane);
    });
  }

  // --- connections ---------------------------------------------------------

  // Every connection of the lane is down and batches wait: an attempt now,
  // or as soon as the spacing allows, unless one is under way.
  void attempt_soon(lane_state& lane) {
    if (stopped || any_opening(lane)) return;
    link* oldest = nullptr;
    for (auto& ln : lane.links)
      if (!ln->ready() && (!oldest || ln->attempts.last_failure() < oldest->attempts.last_failure()))
        oldest = ln.get();
    if (!oldest) return;
    auto due = oldest->attempts.last_failure() + attempt_spacing;
    if (clock::now() >= due) return open_now(*oldest);
    if (oldest->retry.expiry() > clock::now() && oldest->retry.expiry() <= due) return;  // sooner already
    retry_at(*oldest, due);
  }

  void retry_at(link& ln, clock::time_point when) {
    ln.retry.expires_at(when);
    ln.retry.async_wait([this, &ln](boost::system::error_code ec) {
      if (!ec && !stopped) ln.p->open();
    });
  }

  void open_now(link& ln) {
    ln.retry.cancel();
    ln.p->open();
  }

  void on_ready(lane_state& lane, link& ln) {
    first_attempt_over(ln, nullptr);
    if (lane.replicas) renew_after_lifetime(ln);
    if (ln.attempts.succeeded()) spdlog::info("database connection re-established ({})", where(lane, ln));
    drain();
    // The database is back: the others need not wait out their backoff.
    for (auto* l : {&reads, &writes, &replicas})
      for (auto& other : l->links)
        if (!other->ready() && !other->p->opening()) open_now(*other);
  }

  void on_failed(lane_state& lane, link& ln, const std::string& why) {
    first_attempt_over(ln, &why);
    auto next = ln.attempts.failed(clock::now());
    if (next.outage_began)
      spdlog::warn("database unreachable ({}; retrying every {} ms at most): {}", where(lane, ln),
                   ln.attempts.most().count(), why);
    else
      spdlog::debug("database still unreachable ({}): {}", where(lane, ln), why);
    if (stopped) return;
    retry_at(ln, next.next);
    if (any_ready(lane) || any_opening(lane)) return;
    // Refused: what waited since before this attempt began. What came later
    // waits for the next one.
    auto began = ln.p->attempt_started();
    auto waiting = std::exchange(lane.waiting, {});
    for (auto& j : waiting) {
      if (j->queued_at <= began)
        answer_later(std::move(j), answer(unavailable_because("the database is unreachable; retry shortly")));
      else
        lane.waiting.push_back(std::move(j));
    }
    arm_deadline(lane);
    if (!lane.waiting.empty()) attempt_soon(lane);
  }

  void on_lost(lane_state& lane, link& ln, const std::string& why, std::deque<std::shared_ptr<job>> unanswered) {
    spdlog::warn("database connection lost ({}: {}); reconnecting", where(lane, ln), why);
    ++counters.reconnects;
    open_now(ln);
    for (auto& j : unanswered) {
      if (j->superseded || j->probe) continue;  // its copy stands for it
      // A replica lost: its reads go elsewhere (the primary at worst).
      if (lane.replicas) ++j->bounces;
      if ((j->sends < 2 || lane.replicas) && may_send_again(*j)) {
        send_again(std::move(j));
      } else {
        answer_later(std::move(j), answer(unavailable_because("the database connection was lost; retry shortly")));
      }
    }
  }

  // Reads a stalled connection holds behind its front, each sent once more
  // as a copy that goes where place() sends it now (never to a stalled
  // connection; to the write connection only when it is idle; or it waits
  // in granite). The client gets the first success, or the copy's failure:
  // the read left on the stalled connection is superseded, and nothing of
  // it is sent again. A read is idempotent: the server may run both. With
  // no connection to take the copy and no room to wait, none is made: the
  // read keeps its place.
  void hedge(std::vector<std::shared_ptr<job>> held) {
    for (auto& j : held) {
      if (lane_of(j->lane).waiting.size() >= static_cast<std::size_t>(options.queue_limit)) continue;
      auto first = std::make_shared<std::function<void(answer)>>(std::move(j->done));
      auto copy = std::make_shared<job>();
      copy->lane = j->lane;
      copy->work = j->work;
      copy->deadline = j->deadline;
      copy->sends = j->sends;
      copy->floor = j->floor;
      copy->bounces = j->bounces;
      copy->hedged = true;
      copy->done = [first](answer a) {
        if (auto done = std::exchange(*first, {})) done(std::move(a));
      };
      j->superseded = true;
      j->done = [first](answer a) {
        if (!a.ok()) return;
        if (auto done = std::exchange(*first, {})) done(std::move(a));
      };
      ++counters.hedged;
      dispatch(std::move(copy));
    }
  }

  void send_again(std::shared_ptr<job> j) {
    if (j->superseded) return;  // its copy stands for it
    ++counters.retried;
    j->answered = 0;
    j->results.clear();
    j->failed.reset();
    dispatch(std::move(j));
  }

  // A read changed nothing and may go again, unless a statement of it
  // failed for a reason of its own. A write goes again only when it
  // provably committed nothing (its sync never left, or the server ended
  // the session before it), or when it is kept under an idempotency key:
  // its claim then finds whether the first send committed.
  static bool may_send_again(const job& j) {
    if (j.lane == database::lane::write) return j.never_committed || j.work.kept();
    return !j.failed || j.failed->what == failure::kind::unavailable;
  }

  asio::io_context& loop;
  database_options options;
  lane_state reads, writes, replicas;
  std::size_t next_replica = 0;
  std::minstd_rand jitter{std::random_device{}()};
  std::vector<database::stats::source> sources;  // their names and counters
  milliseconds wait_limit{0};
  bool stopped = false;
  database::stats counters;
  // Until every connection's first attempt is over: start()'s callback.
  std::size_t first_attempts = 0;
  std::optional<std::string> first_error;
  std::function<void(std::optional<std::string>)> opened;

  void first_attempt_over(link& ln, const std::string* error) {
    if (!ln.first_attempt) return;
    ln.first_attempt = false;
    if (error && !first_error) first_error = *error;
    if (--first_attempts == 0 && opened) std::exchange(opened, {})(first_error);
  }
};

database::database(std::unique_ptr<impl> i) : impl_(std::move(i)) {}

std::unique_ptr<database> make_database(asio::io_context& loop, database_options options) {
  return std::make_unique<database>(std::make_unique<database::impl>(loop, std::move(options)));
}

database::~database() { stop(); }

void database::start(std::function<void(std::optional<std::string>)> opened) {
  impl_->opened = std::move(opened);
  for (auto* lane : {&impl_->reads, &impl_->writes}) impl_->first_attempts += lane->links.size();
  for (auto* lane : {&impl_->reads, &impl_->writes, &impl_->replicas})
    for (auto& ln : lane->links) ln->p->open();
}

void database::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  for (auto* lane : {&impl_->reads, &impl_->writes, &impl_->replicas}) {
    lane->deadline.cancel();
    for (auto& ln : lane->links) {
      ln->retry.cancel();
      ln->renewal.cancel();
      ln->p->close();
    }
    auto waiting = std::exchange(lane->waiting, {});
    for (auto& j : waiting) j->done(answer(unavailable_because("granite is stopping; retry shortly")));
  }
}

void database::submit(lane l, batch b, std::function<void(answer)> done) {
  ++impl_->counters.batches;
  auto j = std::make_shared<job>();
  if (impl_->wait_limit.count() > 0) j->deadline = clock::now() + impl_->wait_limit;
  j->lane = l;
  if (l == lane::read) j->floor = std::max(impl_->options.floor ? impl_->options.floor() : 0, b.least());
  j->work = std::move(b);
  j->done = std::move(done);
  impl_->dispatch(std::move(j));
}

database::stats database::snapshot() const {
  stats s = impl_->counters;
  s.sources = impl_->sources;
  for (auto& src : s.sources) src.reads = 0;
  for (auto* lane : {&impl_->reads, &impl_->writes, &impl_->replicas}) {
    for (auto& ln : lane->links) {
      s.connections += ln->ready();
      auto& src = s.sources[ln->source];
      src.connections += ln->ready();
      ++src.wanted;
      src.reads += ln->p->reads_answered();
      if (ln->source > 0) {
        src.replayed = std::max(src.replayed, ln->p->replayed());
        if (ln->p->lag_ms() >= 0) src.lag_ms = src.lag_ms < 0 ? ln->p->lag_ms() : std::min(src.lag_ms, ln->p->lag_ms());
      }
    }
    s.wanted += lane->links.size();
    s.waiting += lane->waiting.size();
  }
  for (std::size_t r = 1; r < s.sources.size(); ++r) s.sources[r].usable = false;
  for (auto& ln : impl_->replicas.links)
    if (ln->ready() && impl_->replica_usable(*ln) && clock::now() < ln->renew_at) s.sources[ln->source].usable = true;
  return s;
}

}  // namespace granite::store
