#include "system_io.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "granite/supervisor/upgrade.hpp"

namespace granite::supervisor {

namespace {

// Signal handlers only record the signal and wake the loop (self-pipe).
std::atomic<std::uint64_t> pending_signals{0};
int wake_pipe[2] = {-1, -1};
constexpr int handled_signals[] = {SIGTERM, SIGINT,  SIGQUIT, SIGHUP,  SIGCHLD,
                                   SIGUSR1, SIGUSR2, SIGTTIN, SIGTTOU, SIGWINCH};

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

void close_pipe(int fds[2]) {
  for (int i = 0; i < 2; ++i) {
    if (fds[i] >= 0) close(fds[i]);
    fds[i] = -1;
  }
}

std::string notify_socket(const std::map<std::string, std::string>& environment) {
  auto it = environment.find("NOTIFY_SOCKET");
  return it == environment.end() ? std::string() : it->second;
}

}  // namespace

system_leader_io::system_leader_io(const config_source& source)
    : source_(source), service_manager_(notify_socket(source.environment)) {
  make_pipe(wake_pipe);
  make_pipe(status_pipe_);
  struct sigaction sa {};
  sa.sa_handler = record_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int sig : handled_signals) sigaction(sig, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

leader_events system_leader_io::wait(std::chrono::milliseconds timeout) {
  pollfd fds[2] = {{wake_pipe[0], POLLIN, 0}, {status_pipe_[0], POLLIN, 0}};
  poll(fds, 2, static_cast<int>(timeout.count()));
  char drain[64];
  while (read(wake_pipe[0], drain, sizeof drain) > 0) {
  }
  leader_events out;
  out.signals = pending_signals.exchange(0);
  worker::status_message m{};
  while (read(status_pipe_[0], &m, sizeof m) == static_cast<ssize_t>(sizeof m)) out.messages.push_back(m);
  return out;
}

config::config system_leader_io::reload_config() { return config::load(source_.flags, source_.environment); }

pid_t system_leader_io::start_successor(const std::vector<int>& sockets) {
  if (source_.executable.empty()) {
    spdlog::error("SIGUSR2: cannot tell which binary to run");
    return -1;
  }
  pid_t pid = exec_successor(source_.executable, source_.args, source_.environment, sockets);
  if (pid < 0)
    spdlog::error("SIGUSR2: cannot fork: {}", std::strerror(errno));
  else
    spdlog::info("SIGUSR2: upgrade: started {} as new leader pid={}; serving until it is ready", source_.executable,
                 pid);
  return pid;
}

void system_leader_io::forget_in_child() {
  for (int sig : handled_signals) signal(sig, SIG_DFL);
  close_pipe(wake_pipe);
  close(status_pipe_[0]);
  status_pipe_[0] = -1;
}

}  // namespace granite::supervisor
