#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace granite::shm {

// One heartbeat cell per worker slot in memory shared across fork: the worker
// writes the time from its event loop, the leader's watchdog reads it. The
// clock is CLOCK_MONOTONIC, the same in every process.
class heartbeats {
 public:
  explicit heartbeats(std::size_t slots);  // mapped before the first fork
  ~heartbeats();
  heartbeats(const heartbeats&) = delete;
  heartbeats& operator=(const heartbeats&) = delete;

  void beat(std::size_t slot);
  std::chrono::steady_clock::time_point last(std::size_t slot) const;

 private:
  std::size_t slots_;
  std::atomic<std::int64_t>* cells_;
};

}  // namespace granite::shm
