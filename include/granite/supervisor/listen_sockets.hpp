#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace granite::supervisor {

class listen_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Opens `count` listening sockets on one address with SO_REUSEPORT, one per
// worker slot. The leader keeps them for its whole life, so a worker that
// dies never takes queued connections with it. Fails when another process
// already listens there, even one that also uses SO_REUSEPORT (whose
// traffic would otherwise be silently shared). Throws listen_error.
std::vector<int> open_listen_sockets(const std::string& host, int port, int backlog, int count);

// One more socket in the same SO_REUSEPORT group, for a new worker slot.
int add_listen_socket(const std::string& host, int port, int backlog);

}  // namespace granite::supervisor
