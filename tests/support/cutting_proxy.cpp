#include "support/cutting_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace granite::testkit {

namespace {

sockaddr_in loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  return a;
}

// Closed with a reset, not a FIN: the peer's next read or write fails.
void reset(int fd) {
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}

// Everything read from `from` goes to `to`; false when either end is done.
bool relay(int from, int to) {
  char buf[16384];
  ssize_t n = read(from, buf, sizeof buf);
  if (n <= 0) return false;
  for (ssize_t sent = 0; sent < n;) {
    ssize_t w = write(to, buf + sent, static_cast<std::size_t>(n - sent));
    if (w <= 0) return false;
    sent += w;
  }
  return true;
}

}  // namespace

cutting_proxy::cutting_proxy(int target_port) : target_port_(target_port) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int on = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  auto a = loopback(0);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(listen_fd_, 128) != 0)
    throw std::runtime_error("cutting_proxy: cannot listen");
  socklen_t len = sizeof a;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  if (pipe2(wake_, O_CLOEXEC) != 0) throw std::runtime_error("cutting_proxy: no pipe");
  thread_ = std::thread([this] { run(); });
}

cutting_proxy::~cutting_proxy() {
  stopping_ = true;
  (void)!write(wake_[1], "x", 1);
  thread_.join();
  std::lock_guard lock(m_);
  close_all_locked();
  close(listen_fd_);
  close(wake_[0]);
  close(wake_[1]);
}

int cutting_proxy::cut() {
  std::lock_guard lock(m_);
  int n = static_cast<int>(pairs_.size());
  close_all_locked();
  ++generation_;
  (void)!write(wake_[1], "x", 1);
  return n;
}

void cutting_proxy::close_all_locked() {
  for (auto p : pairs_) {
    reset(p.client);
    reset(p.server);
  }
  pairs_.clear();
}

// One thread relays every connection: loopback is fast, and the test's
// traffic is a few connections.
void cutting_proxy::run() {
  while (!stopping_) {
    std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    unsigned watched;
    {
      std::lock_guard lock(m_);
      watched = generation_;
      for (auto p : pairs_) {
        fds.push_back({p.client, POLLIN, 0});
        fds.push_back({p.server, POLLIN, 0});
      }
    }
    if (poll(fds.data(), fds.size(), 1000) <= 0) continue;
    if (fds[1].revents) {
      char drain[64];
      (void)!read(wake_[0], drain, sizeof drain);
    }
    std::lock_guard lock(m_);
    if (generation_ != watched) continue;  // cut meanwhile: those descriptors are closed
    for (std::size_t i = 2; i < fds.size(); i += 2) {
      auto& p = pairs_[(i - 2) / 2];
      bool open = true;
      if (fds[i].revents) open = relay(p.client, p.server);
      if (open && fds[i + 1].revents) open = relay(p.server, p.client);
      if (!open) {
        close(p.client);
        close(p.server);
        p = {-1, -1};
      }
    }
    std::erase_if(pairs_, [](const pair& p) { return p.client < 0; });
    if (fds[0].revents & POLLIN) {
      int c = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      auto a = loopback(target_port_);
      if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        reset(c);
        close(s);
        continue;
      }
      int on = 1;
      setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
      setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
      pairs_.push_back({c, s});
    }
  }
}

}  // namespace granite::testkit
