#include "granite/supervisor/listen_sockets.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace granite::supervisor {

namespace {

struct address {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family = AF_INET;
};

address parse(const std::string& host, int port) {
  address a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    a.length = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    a.length = sizeof(sockaddr_in6);
    a.family = AF_INET6;
  } else {
    throw listen_error("listen.host \"" + host + "\" is not an IP address");
  }
  return a;
}

int open_one(const address& a, bool reuseport, const std::string& where) {
  int fd = socket(a.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw listen_error("cannot create a socket for " + where + ": " + std::strerror(errno));
  int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (reuseport) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&a.storage), a.length) != 0) {
    int err = errno;
    close(fd);
    throw listen_error("cannot listen on " + where + ": " + std::strerror(err) +
                       (err == EADDRINUSE ? " (is another server, or another granite, running there?)" : ""));
  }
  return fd;
}

std::string where(const std::string& host, int port) {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace

int add_slot_socket(const std::string& host, int port) {
  return open_one(parse(host, port), true, where(host, port));
}

void leave_group(int fd) {
  // Only a listening socket: shutdown(2) of one that does not listen yet
  // would mark it shut, and every connection it accepted later with it.
  int listening = 0;
  socklen_t len = sizeof listening;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening) shutdown(fd, SHUT_RDWR);
}

int add_listen_socket(const std::string& host, int port, int backlog) {
  int fd = add_slot_socket(host, port);
  if (listen(fd, backlog) != 0) {
    int err = errno;
    close(fd);
    throw listen_error("cannot listen on " + where(host, port) + ": " + std::strerror(err));
  }
  return fd;
}

std::vector<int> open_listen_sockets(const std::string& host, int port, int backlog, int count) {
  // A plain bind fails if anyone listens here, SO_REUSEPORT or not.
  close(open_one(parse(host, port), false, where(host, port)));

  std::vector<int> fds;
  try {
    for (int i = 0; i < count; ++i) fds.push_back(add_listen_socket(host, port, backlog));
  } catch (...) {
    for (int fd : fds) close(fd);
    throw;
  }
  return fds;
}

}  // namespace granite::supervisor
