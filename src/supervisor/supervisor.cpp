#include "granite/supervisor/supervisor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "granite/config/config.hpp"
#include "granite/exit_codes.hpp"
#include "granite/supervisor/worker_table.hpp"
#include "granite/worker/worker.hpp"

namespace granite::supervisor {

namespace {

// Signal handlers only record the signal and wake the loop (self-pipe).
std::atomic<std::uint64_t> pending_signals{0};
int wake_pipe[2] = {-1, -1};
constexpr int handled_signals[] = {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2, SIGTTIN, SIGTTOU};

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
  for (int sig : handled_signals) signal(sig, SIG_DFL);
  prctl(PR_SET_PDEATHSIG, SIGTERM);
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

}  // namespace

int run_leader(const config::config& cfg, const std::vector<int>& listen_fds) {
  int status_pipe[2];
  make_pipe(wake_pipe);
  make_pipe(status_pipe);
  install_handlers();

  const pid_t leader = getpid();
  system_process_ops ops([&](int slot) {
    become_worker(leader, status_pipe[0], listen_fds, listen_fds[slot]);
    return worker::run(cfg, slot, listen_fds[slot], status_pipe[1]);
  });
  timings t;
  // Workers stop themselves within shutdown.timeout_ms; SIGKILL only after.
  t.stop_timeout = std::chrono::milliseconds(cfg.shutdown.timeout_ms + 500);
  worker_table table(ops, static_cast<int>(listen_fds.size()), t);
  spdlog::info("granite leader starting {} workers on {}:{}", listen_fds.size(), cfg.listen.host, cfg.listen.port);

  table.manage_workers();
  while (!table.finished()) {
    pollfd fds[2] = {{wake_pipe[0], POLLIN, 0}, {status_pipe[0], POLLIN, 0}};
    poll(fds, 2, poll_timeout_ms(table));
    char drain[64];
    while (read(wake_pipe[0], drain, sizeof drain) > 0) {
    }
    auto sigs = pending_signals.exchange(0);
    if (has(sigs, SIGTERM) || has(sigs, SIGINT) || has(sigs, SIGQUIT)) {
      if (!table.stopping()) spdlog::info("stopping: workers finish within {} ms", cfg.shutdown.timeout_ms);
      table.stop();
    }
    for (int sig : {SIGHUP, SIGUSR1, SIGUSR2, SIGTTIN, SIGTTOU})
      if (has(sigs, sig)) spdlog::warn("signal {} is not supported yet; ignored", sigabbrev_np(sig));
    read_status(status_pipe[0], table);
    table.reap_workers();
    table.manage_workers();
  }

  for (int fd : listen_fds) close(fd);
  spdlog::info("granite leader exiting with status {}", table.exit_code());
  return table.exit_code();
}

}  // namespace granite::supervisor
