#include "granite/supervisor/process_ops.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "granite/supervisor/listen_sockets.hpp"

namespace granite::supervisor {

// Every signal is blocked across the fork: the child starts with the
// leader's handlers, and a signal that came before it replaced them would
// run one in the child (a TERM meant for the worker would be recorded there
// and lost, and the worker would miss its drain). In the child they stay
// blocked until it has handlers of its own; in the leader, whatever came
// meanwhile is delivered as the mask is restored.
pid_t system_process_ops::spawn(int slot) {
  sigset_t all, before;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &before);
  pid_t pid = fork();
  if (pid != 0) {  // the leader, or -1
    pthread_sigmask(SIG_SETMASK, &before, nullptr);
    return pid;
  }
  std::exit(child_main_(slot));
}

void system_process_ops::signal(pid_t pid, int sig) {
  if (pid > 0) ::kill(pid, sig);
}

std::optional<exit_info> system_process_ops::reap() {
  int status = 0;
  pid_t pid;
  do {
    pid = waitpid(-1, &status, WNOHANG);
  } while (pid < 0 && errno == EINTR);
  if (pid <= 0) return std::nullopt;
  return exit_info{pid, status};
}

int system_process_ops::open_socket() {
  try {
    return add_slot_socket(address_.host, address_.port);
  } catch (const listen_error& e) {
    spdlog::error("cannot open a listening socket for a new slot: {}", e.what());
    return -1;
  }
}

void system_process_ops::close_socket(int fd) { ::close(fd); }

void system_process_ops::pause_socket(int fd) { leave_group(fd); }

void system_process_ops::forget(pid_t pid) {
  if (!metrics_) return;
  for (std::size_t slot = 0; slot < metrics_->slots_used(); ++slot) metrics_->release(slot, pid);
}

void system_process_ops::count_restart(int slot, shm::exit_cause cause) {
  if (!metrics_ || slot < 0 || static_cast<std::size_t>(slot) >= metrics_->slots()) return;
  metrics_->slot(static_cast<std::size_t>(slot)).restarts[static_cast<int>(cause)].fetch_add(1, std::memory_order_relaxed);
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    const char* name = sigabbrev_np(sig);
    return "killed by signal " + std::to_string(sig) + (name ? " (SIG" + std::string(name) + ")" : "") +
           (WCOREDUMP(status) ? ", core dumped" : "");
  }
  return "changed state " + std::to_string(status);
}

// On a listening socket, TCP_INFO's tcpi_unacked is the accept queue's
// length and tcpi_sacked its limit (the backlog).
void system_process_ops::sample_accept_queue(int slot, int fd) {
  if (!metrics_ || slot < 0 || static_cast<std::size_t>(slot) >= metrics_->slots() || fd < 0) return;
  tcp_info info{};
  socklen_t len = sizeof info;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return;
  auto& m = metrics_->slot(static_cast<std::size_t>(slot));
  m.accept_queue.store(info.tcpi_unacked, std::memory_order_relaxed);
  m.accept_queue_limit.store(info.tcpi_sacked, std::memory_order_relaxed);
}

}  // namespace granite::supervisor
