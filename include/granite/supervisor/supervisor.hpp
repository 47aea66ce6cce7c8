#pragma once

#include <vector>

namespace granite::config {
struct config;
}

namespace granite::supervisor {

// The leader: forks one worker per listening socket, keeps the slots filled
// and stops them on SIGTERM/SIGINT. Serves no HTTP and holds no database
// connection. Returns the process exit code.
int run_leader(const config::config& cfg, const std::vector<int>& listen_fds);

}  // namespace granite::supervisor
