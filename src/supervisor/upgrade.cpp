#include "granite/supervisor/upgrade.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <string_view>

namespace granite::supervisor {

namespace {
constexpr int first_fd = 3;  // SD_LISTEN_FDS_START

bool is_listening_socket(int fd) {
  int listening = 0;
  socklen_t len = sizeof listening;
  return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening;
}

int number(const std::map<std::string, std::string>& env, const char* name) {
  auto it = env.find(name);
  return it == env.end() ? 0 : std::atoi(it->second.c_str());
}
}  // namespace

inherited take_inherited_sockets(const std::map<std::string, std::string>& env) {
  inherited out;
  if (number(env, "LISTEN_PID") != getpid()) return out;  // meant for another process
  int count = number(env, "LISTEN_FDS");
  for (int fd = first_fd; fd < first_fd + count; ++fd) {
    if (!is_listening_socket(fd)) continue;
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    out.fds.push_back(fd);
  }
  pid_t from = number(env, "GRANITE_UPGRADE_FROM");
  if (from > 0 && from == getppid()) out.upgrade_from = from;
  return out;
}

pid_t exec_successor(const std::string& executable, const std::vector<std::string>& args,
                     const std::map<std::string, std::string>& environment, const std::vector<int>& listen_fds) {
  // Everything the child needs is prepared before fork.
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : environment)
    if (k != "LISTEN_FDS" && k != "LISTEN_PID" && k != "LISTEN_FDNAMES" && k != "GRANITE_UPGRADE_FROM")
      env_strings.push_back(k + "=" + v);
  env_strings.push_back("LISTEN_FDS=" + std::to_string(listen_fds.size()));
  env_strings.push_back("GRANITE_UPGRADE_FROM=" + std::to_string(getpid()));
  env_strings.push_back("LISTEN_PID=");  // completed in the child, which knows its pid
  std::vector<char*> argv{const_cast<char*>(executable.c_str())};
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  pid_t pid = fork();
  if (pid != 0) return pid;

  env_strings.back() += std::to_string(getpid());
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  // Move the sockets out of the way, then down to 3, 4, ... without CLOEXEC.
  std::vector<int> high;
  for (int fd : listen_fds) high.push_back(fcntl(fd, F_DUPFD_CLOEXEC, 1000));
  for (std::size_t i = 0; i < high.size(); ++i) dup2(high[i], first_fd + static_cast<int>(i));
  for (int fd : high) close(fd);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);
  execve(executable.c_str(), argv.data(), envp.data());
  _exit(127);
}

std::string current_executable() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return {};
  return std::string(buf, static_cast<std::size_t>(n));
}

}  // namespace granite::supervisor
