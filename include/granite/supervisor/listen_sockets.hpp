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

// A socket bound to the group's address that does not listen yet, so the
// kernel hands it no connection: its worker listens once it has booted.
int add_slot_socket(const std::string& host, int port);
// The socket stops listening and leaves the group: new connections go to
// the others, and a later listen(2) brings it back. Connections queued in it
// are reset (or, with net.ipv4.tcp_migrate_req=1, handed to the others).
void leave_group(int fd);

}  // namespace granite::supervisor
