#include "granite/supervisor/service_manager.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>

namespace granite::supervisor {

bool service_manager::notify(std::string_view state) const {
  if (socket_.empty()) return false;
  std::string_view path(socket_);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if ((path[0] != '/' && path[0] != '@') || path.size() >= sizeof addr.sun_path) {
    spdlog::warn("NOTIFY_SOCKET={} is not a socket path; the service manager is not told", path);
    return false;
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (path[0] == '@') addr.sun_path[0] = '\0';  // the abstract namespace
  auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());

  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    spdlog::warn("cannot tell the service manager '{}': {}", state, std::strerror(errno));
    return false;
  }
  ssize_t sent = sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&addr), length);
  int err = errno;
  close(fd);
  if (sent != static_cast<ssize_t>(state.size())) {
    spdlog::warn("cannot tell the service manager '{}': {}", state, std::strerror(err));
    return false;
  }
  return true;
}

}  // namespace granite::supervisor
