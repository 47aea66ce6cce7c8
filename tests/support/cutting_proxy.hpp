#pragma once

// A TCP relay on loopback in front of a server's port, which cuts every
// connection through it on demand: both ends are reset at once, as when a
// network path fails under open connections (neither side is told first).
// For tests that cut granite's database connections at any moment,
// including between a commit and its answer.
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

namespace granite::testkit {

class cutting_proxy {
 public:
  explicit cutting_proxy(int target_port);
  ~cutting_proxy();
  cutting_proxy(const cutting_proxy&) = delete;
  cutting_proxy& operator=(const cutting_proxy&) = delete;

  int port() const { return port_; }
  // Resets every connection open now; how many there were.
  int cut();

 private:
  struct pair {
    int client, server;
  };
  void run();
  void close_all_locked();

  int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  int wake_[2] = {-1, -1};
  std::atomic<bool> stopping_{false};
  std::mutex m_;
  std::vector<pair> pairs_;
  unsigned generation_ = 0;  // counts cuts: what poll() watched may be gone
  std::thread thread_;
};

}  // namespace granite::testkit
