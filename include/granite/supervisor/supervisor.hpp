#pragma once

#include <vector>

namespace granite::config {
struct config;
}

namespace granite::supervisor {

// The leader: forks one worker per listening socket and keeps the slots
// filled. SIGTERM drains (for a load balancer), SIGINT/SIGQUIT or a second
// SIGTERM stop fast, SIGTTIN/SIGTTOU add or remove a worker. Serves no HTTP
// and holds no database connection. Returns the process exit code.
int run_leader(const config::config& cfg, std::vector<int> listen_fds);

}  // namespace granite::supervisor
