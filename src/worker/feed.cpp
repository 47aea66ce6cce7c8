// The change feed's process: one per instance, supervised by the leader
// like a worker. Everything it has is made here, after the fork, in the
// order it needs it; the language tears it down in reverse.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <atomic>

#include "granite/config/config.hpp"
#include "granite/exit_codes.hpp"
#include "granite/obs/log.hpp"
#include "granite/shm/metrics.hpp"
#include "granite/shm/notice_ring.hpp"
#include "granite/store/change_feed.hpp"
#include "granite/store/database.hpp"
#include "granite/worker/worker.hpp"

namespace granite::worker {

namespace {

std::atomic<bool> stop_requested{false};

extern "C" void on_stop_signal(int) { stop_requested.store(true, std::memory_order_relaxed); }

// The stop signals end run() at its next turn (poll(2) is interrupted: no
// SA_RESTART). They were blocked since the fork; now they may come.
void catch_stop_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGTERM, SIGINT, SIGQUIT}) sigaction(sig, &sa, nullptr);
  signal(SIGUSR1, SIG_IGN);  // the workers' access-log reopen: nothing to reopen here
  block_stop_signals(false);
}

store::change_source source_of(const std::string& name) {
  if (name == "stream") return store::change_source::stream;
  if (name == "notify") return store::change_source::notices;
  return store::change_source::automatic;
}

store::change_feed_options feed_options(const config::config& cfg) {
  store::connect_options connect{cfg.session_url(), cfg.database.statement_timeout_ms, cfg.database.connect_timeout_s, "granite changes"};
  store::change_feed_options o;
  o.conninfo = store::conninfo(connect);
  o.source = source_of(cfg.cache.changes);
  return o;
}

// The feed's counters into the instance's metrics.
class stats_copier {
 public:
  stats_copier(const store::change_feed_stats& from, shm::metrics_memory* to) : from_(from), to_(to) {}
  void tick() {
    if (!to_) return;
    auto& m = to_->feed();
    add(m.batches, from_.batches, batches_);
    add(m.notices, from_.notices, notices_);
    add(m.gaps, from_.gaps, gaps_);
    add(m.takeovers, from_.takeovers, takeovers_);
    add(m.published, from_.published, published_);
    std::uint64_t untrusted = static_cast<std::uint64_t>(from_.untrusted_ms.load(std::memory_order_relaxed));
    m.untrusted_ms.fetch_add(untrusted - untrusted_, std::memory_order_relaxed);
    untrusted_ = untrusted;
    m.streaming.store(from_.streaming.load(std::memory_order_relaxed), std::memory_order_relaxed);
    m.holding.store(from_.holding.load(std::memory_order_relaxed), std::memory_order_relaxed);
    m.lag_bytes.store(from_.lag_bytes.load(std::memory_order_relaxed), std::memory_order_relaxed);
    m.proof_age_us.store(from_.proof_age_us.load(std::memory_order_relaxed), std::memory_order_relaxed);
  }

 private:
  // What `from` counted since the last copy, added (a restarted feed's
  // counters start again from 0; the instance's never go back).
  static void add(shm::counter& to, const std::atomic<std::uint64_t>& from, std::uint64_t& copied) {
    auto now = from.load(std::memory_order_relaxed);
    to.fetch_add(now - copied, std::memory_order_relaxed);
    copied = now;
  }
  const store::change_feed_stats& from_;
  shm::metrics_memory* to_;
  std::uint64_t batches_ = 0, notices_ = 0, gaps_ = 0, takeovers_ = 0, published_ = 0, untrusted_ = 0;
};

}  // namespace

int run_feed(const config::config& cfg, const feed_inherited& from, std::function<void()> heartbeat) {
  obs::init_feed(cfg.log.level);
  catch_stop_signals();
  heartbeat();
  shm::notice_ring& ring = *from.notices;
  if (from.metrics) from.metrics->feed().running.store(1, std::memory_order_relaxed);
  store::change_feed_stats stats;
  stats_copier copier(stats, from.metrics);
  store::change_sink sink{[&ring](std::string_view notice) { ring.publish(notice); },
                          [&ring](std::chrono::steady_clock::time_point until) { ring.trust_until(until); },
                          [&ring] { ring.distrust(); },
                          [&ring](store::lsn changed, store::lsn applied) {
                            ring.set_positioned(changed || applied);
                            ring.raise_floor(changed);
                            ring.raise_applied(applied);
                          }};
  try {
    store::change_feed feed(feed_options(cfg), std::move(sink), stats);
    feed.run(stop_requested, [&] {
      heartbeat();
      copier.tick();
    });
  } catch (const std::exception& e) {
    ring.distrust();
    spdlog::error("the change feed failed: {}", e.what());
    return exit_code::failure;
  }
  copier.tick();
  if (from.metrics) from.metrics->feed().holding.store(0, std::memory_order_relaxed);
  spdlog::info("stopped");
  return exit_code::ok;
}

}  // namespace granite::worker
