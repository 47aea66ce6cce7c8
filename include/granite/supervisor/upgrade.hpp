#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

namespace granite::supervisor {

// Listening sockets handed to this process, by a previous leader during an
// upgrade or by systemd's socket activation: the LISTEN_FDS / LISTEN_PID
// convention, descriptors from 3 on.
struct inherited {
  std::vector<int> fds;
  pid_t upgrade_from = 0;  // the previous leader, to tell when we serve
};
inherited take_inherited_sockets(const std::map<std::string, std::string>& environment);

// Forks and execs the binary at `executable` with `args`, the listening
// sockets as descriptors 3.., and the environment of the start plus
// LISTEN_FDS, LISTEN_PID and GRANITE_UPGRADE_FROM. Returns the child's pid,
// or -1 when fork failed (a failed exec is an exit with status 127).
pid_t exec_successor(const std::string& executable, const std::vector<std::string>& args,
                     const std::map<std::string, std::string>& environment, const std::vector<int>& listen_fds);

// The running binary's path, resolved now: after a package upgrade replaces
// the file, exec of this path runs the new one.
std::string current_executable();

}  // namespace granite::supervisor
