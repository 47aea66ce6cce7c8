#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "granite/config/config.hpp"

namespace granite::supervisor {

// Where the configuration came from, so that SIGHUP can read it again: the
// file is re-read, the flags and the environment of the start still apply.
// The same, with the command line, is what SIGUSR2 execs a new binary with.
struct config_source {
  config::overrides flags;
  std::map<std::string, std::string> environment;
  std::string executable;          // resolved at start
  std::vector<std::string> args;   // argv without argv[0]
};

// The leader: forks one worker per listening socket and keeps the slots
// filled. SIGTERM drains (for a load balancer), SIGINT/SIGQUIT or a second
// SIGTERM stop fast, SIGHUP reloads the configuration and replaces the
// workers one by one, SIGTTIN/SIGTTOU add or remove a worker. Serves no HTTP
// and holds no database connection. Returns the process exit code.
// `upgrade_from`: the previous leader to tell once every worker is ready
// (SIGWINCH), or 0.
int run_leader(const config::config& cfg, const config_source& source, std::vector<int> listen_fds,
               pid_t upgrade_from);

}  // namespace granite::supervisor
