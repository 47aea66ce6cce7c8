#include "granite/supervisor/supervisor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <cerrno>
#include <cstring>

#include "granite/config/config.hpp"
#include "granite/exit_codes.hpp"
#include "granite/http/notice_ring.hpp"
#include "granite/supervisor/heartbeat.hpp"
#include "granite/supervisor/listen_sockets.hpp"
#include "granite/supervisor/service_manager.hpp"
#include "granite/supervisor/upgrade.hpp"
#include "granite/supervisor/worker_table.hpp"
#include "granite/worker/worker.hpp"

namespace granite::supervisor {

namespace {

// Signal handlers only record the signal and wake the loop (self-pipe).
std::atomic<std::uint64_t> pending_signals{0};
int wake_pipe[2] = {-1, -1};
constexpr std::size_t max_workers = 1024;  // as config key `workers`
constexpr int handled_signals[] = {SIGTERM, SIGINT,  SIGQUIT, SIGHUP,  SIGCHLD,
                                   SIGUSR1, SIGUSR2, SIGTTIN, SIGTTOU, SIGWINCH};
constexpr auto successor_timeout = std::chrono::seconds(120);  // migrations may run first

extern "C" void record_signal(int sig) {
  int saved = errno;
  pending_signals.fetch_or(std::uint64_t{1} << sig);
  [[maybe_unused]] auto n = write(wake_pipe[1], "", 1);
  errno = saved;
}

void make_pipe(int fds[2]) {
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
    throw std::runtime_error(std::string("cannot create a pipe: ") + std::strerror(errno));
}

void install_handlers() {
  struct sigaction sa {};
  sa.sa_handler = record_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int sig : handled_signals) sigaction(sig, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

// In a new worker: forget the leader's handlers and descriptors, and die with
// the leader rather than outlive it.
void become_worker(pid_t leader, int status_read, const std::vector<int>& listen_fds, int keep_fd) {
  worker::block_stop_signals(true);
  for (int sig : handled_signals) signal(sig, SIG_DFL);
  prctl(PR_SET_PDEATHSIG, SIGINT);
  if (getppid() != leader) _exit(exit_code::failure);
  close(wake_pipe[0]);
  close(wake_pipe[1]);
  close(status_read);
  for (int fd : listen_fds)
    if (fd != keep_fd) close(fd);
}

void read_status(int fd, worker_table& table) {
  worker::status_message m{};
  while (read(fd, &m, sizeof m) == static_cast<ssize_t>(sizeof m))
    if (m.kind == 'R') table.mark_ready(m.slot, m.pid);
}

int poll_timeout_ms(const worker_table& table) {
  auto next = table.next_deadline();
  if (!next) return 1000;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*next - clock::now()).count();
  return static_cast<int>(std::clamp<long long>(ms + 1, 0, 1000));
}

bool has(std::uint64_t set, int sig) { return (set >> sig) & 1; }

// SIGTTIN: one more worker, with a socket of its own in the same group.
bool add_worker(const config::config& cfg, worker_table& table, std::vector<int>& listen_fds) {
  if (table.stopping()) return false;
  if (listen_fds.size() >= max_workers) {
    spdlog::warn("already {} workers, the most allowed", max_workers);
    return false;
  }
  try {
    listen_fds.push_back(add_listen_socket(cfg.listen.host, cfg.listen.port, cfg.listen.backlog));
  } catch (const listen_error& e) {
    spdlog::error("cannot add a worker: {}", e.what());
    return false;
  }
  table.add_slot();
  return true;
}

// SIGTTOU: one worker fewer. The slot's socket closes at once, so that new
// connections go to the other sockets while its worker finishes in-flight
// requests (with net.ipv4.tcp_migrate_req=1 the kernel also hands over the
// connections already queued on it).
bool remove_worker(worker_table& table, std::vector<int>& listen_fds) {
  if (table.stopping()) return false;
  if (!table.retire_slot()) {
    spdlog::warn("one worker left; not removing it");
    return false;
  }
  close(listen_fds.back());
  listen_fds.pop_back();
  return true;
}

// SIGUSR2: the binary upgrade, seen from the old leader. The new binary is
// exec'd with the listening sockets; both generations accept on them until
// the new leader, once its workers are ready, sends SIGWINCH: then the old
// workers retire and the old leader exits. If the new leader exits or is not
// ready in time, the old one keeps serving and says why.
struct upgrade {
  pid_t successor = 0;
  clock::time_point deadline{};

  void start(const config_source& source, const std::vector<int>& listen_fds, const worker_table& table) {
    if (table.stopping()) return;
    if (successor) return spdlog::warn("SIGUSR2: an upgrade is already under way (pid {})", successor);
    if (table.reloading()) return spdlog::warn("SIGUSR2: a reload is under way; send it again once it completes");
    if (source.executable.empty()) return spdlog::error("SIGUSR2: cannot tell which binary to run");
    successor = exec_successor(source.executable, source.args, source.environment, listen_fds);
    if (successor < 0) {
      successor = 0;
      return spdlog::error("SIGUSR2: cannot fork: {}", std::strerror(errno));
    }
    deadline = clock::now() + successor_timeout;
    spdlog::info("SIGUSR2: upgrade: started {} as new leader pid={}; serving until it is ready", source.executable,
                 successor);
  }

  void on_successor_ready(worker_table& table) {
    if (!successor || table.stopping()) return;
    spdlog::info("upgrade: new leader pid={} serves; retiring this leader's workers", successor);
    table.stop(stop_mode::retire);
  }

  void check(worker_table& table) {
    for (const auto& e : table.take_other_exits()) {
      if (e.pid != successor) continue;
      if (!table.stopping())
        spdlog::error("upgrade failed: new leader pid={} {} before it was ready; still serving (its log above says "
                      "why)",
                      e.pid, describe_exit(e.status));
      successor = 0;
    }
    if (successor && !table.stopping() && clock::now() >= deadline) {
      spdlog::error("upgrade failed: new leader pid={} not ready within {} s; stopping it, still serving", successor,
                    successor_timeout.count());
      kill(successor, SIGINT);
      deadline = clock::now() + successor_timeout;
    }
  }
};

// What systemd (Type=notify) is told, and when: ready once every worker
// serves, so that `systemctl start` returns only then; stopping from the first
// TERM/INT; reloading from HUP until every worker was replaced and the old
// ones have exited. A new binary started by SIGUSR2 names itself the main
// process once its workers serve.
class service_state {
 public:
  void update(const worker_table& table, const config::config& cfg) {
    if (table.stopping() || !table.all_ready() || table.reloading()) return;
    if (announced_ && !reload_announced_) return;
    // A reload is done once the old workers are gone, not when they are told
    // to go: until they have closed their sockets they may still accept.
    if (reload_announced_ && !table.retiring().empty()) return;
    notify_service_manager(fmt::format("READY=1\nMAINPID={}\nSTATUS=serving on {}:{} with {} workers", getpid(),
                                       cfg.listen.host, cfg.listen.port, cfg.worker_count()));
    announced_ = true;
    reload_announced_ = false;
  }
  void reloading() {
    reload_announced_ = true;
    notify_service_manager("RELOADING=1\nSTATUS=reloading: replacing the workers one at a time");
  }
  void stopping(const char* how) {
    if (stopping_) return;
    stopping_ = true;
    notify_service_manager(fmt::format("STOPPING=1\nSTATUS={}", how));
  }

 private:
  bool announced_ = false, reload_announced_ = false, stopping_ = false;
};

timings timings_for(const config::config& cfg) {
  timings t;
  // Workers stop by themselves within these; SIGKILL only after.
  t.stop_timeout = std::chrono::seconds(cfg.drain.delay_s + cfg.drain.timeout_s + 1);
  t.retire_timeout = std::chrono::seconds(cfg.drain.timeout_s + 1);
  t.worker_timeout = std::chrono::seconds(cfg.worker.timeout_s);
  t.abort_grace = std::min<std::chrono::milliseconds>(std::chrono::seconds(5), t.worker_timeout);
  return t;
}

// SIGHUP: read the configuration again. An invalid one changes nothing.
// What the sockets were opened with stays until a restart.
void reload(std::shared_ptr<const config::config>& current, const config_source& source, worker_table& table,
            std::vector<int>& listen_fds) {
  if (table.stopping()) return;
  config::config next;
  try {
    next = config::load(source.flags, source.environment);
  } catch (const config::config_error& e) {
    return spdlog::error("SIGHUP: configuration refused, the workers keep serving with the old one: {}", e.what());
  }
  if (next.listen.host != current->listen.host || next.listen.port != current->listen.port ||
      next.listen.backlog != current->listen.backlog) {
    spdlog::warn("SIGHUP: listen.* changes need a restart; keeping {}:{}", current->listen.host, current->listen.port);
    next.listen = current->listen;
  }
  spdlog::set_level(spdlog::level::from_str(next.log.level));
  current = std::make_shared<const config::config>(next);
  table.retime(timings_for(next));
  // Workers first, at the new count: new slots start with the new configuration.
  while (listen_fds.size() < static_cast<std::size_t>(next.worker_count()) && add_worker(next, table, listen_fds)) {
  }
  while (listen_fds.size() > static_cast<std::size_t>(next.worker_count()) && remove_worker(table, listen_fds)) {
  }
  table.reload();
}

}  // namespace

int run_leader(const config::config& cfg, const config_source& source, std::vector<int> listen_fds,
               pid_t upgrade_from) {
  auto current = std::make_shared<const config::config>(cfg);
  int status_pipe[2];
  make_pipe(wake_pipe);
  make_pipe(status_pipe);
  install_handlers();

  const pid_t leader = getpid();
  heartbeats beats(max_workers);
  http::notice_ring notices;  // the workers' change notices, shared across the fork
  system_process_ops ops(
      [&](int slot) {
        become_worker(leader, status_pipe[0], listen_fds, listen_fds[slot]);
        // The child's copy of the leader's memory holds the configuration
        // current at the fork.
        return worker::run(*current, slot, listen_fds[slot], status_pipe[1], [&beats, slot] { beats.beat(slot); },
                           &notices);
      },
      beats);
  worker_table table(ops, static_cast<int>(listen_fds.size()), timings_for(cfg));
  spdlog::info("granite leader starting {} workers on {}:{}", listen_fds.size(), cfg.listen.host, cfg.listen.port);

  upgrade upgrading;
  service_state service;
  table.manage_workers();
  while (!table.finished()) {
    pollfd fds[2] = {{wake_pipe[0], POLLIN, 0}, {status_pipe[0], POLLIN, 0}};
    poll(fds, 2, poll_timeout_ms(table));
    char drain[64];
    while (read(wake_pipe[0], drain, sizeof drain) > 0) {
    }
    auto sigs = pending_signals.exchange(0);
    if (has(sigs, SIGTERM)) {
      if (!table.stopping())
        spdlog::info("SIGTERM: draining ({} s with /health 503, then up to {} s for in-flight requests)",
                     current->drain.delay_s, current->drain.timeout_s);
      table.stop(stop_mode::graceful);
      service.stopping("draining");
    }
    if (has(sigs, SIGINT) || has(sigs, SIGQUIT)) {
      table.stop(stop_mode::fast);
      service.stopping("stopping");
    }
    if (has(sigs, SIGHUP)) {
      if (upgrading.successor) {
        spdlog::warn("SIGHUP: ignored while an upgrade is under way");
      } else if (!table.stopping()) {
        service.reloading();
        reload(current, source, table, listen_fds);
      }
    }
    if (has(sigs, SIGUSR2)) upgrading.start(source, listen_fds, table);
    if (has(sigs, SIGWINCH)) upgrading.on_successor_ready(table);
    if (has(sigs, SIGTTIN)) add_worker(*current, table, listen_fds);
    if (has(sigs, SIGTTOU)) remove_worker(table, listen_fds);
    if (has(sigs, SIGUSR1)) spdlog::warn("SIGUSR1 means nothing to granite; ignored");
    read_status(status_pipe[0], table);
    table.reap_workers();
    upgrading.check(table);
    if (upgrade_from && table.all_ready()) {
      // We are the new binary: the old leader may retire now.
      spdlog::info("upgrade: every worker ready; telling the old leader pid={} to retire", upgrade_from);
      kill(upgrade_from, SIGWINCH);
      upgrade_from = 0;
    }
    table.watchdog();
    table.manage_workers();
    service.update(table, *current);
  }

  for (int fd : listen_fds) close(fd);
  spdlog::info("granite leader exiting with status {}", table.exit_code());
  return table.exit_code();
}

}  // namespace granite::supervisor
