#pragma once

// Sign-ins and sign-ups per client, for the whole instance: each client
// address (an IPv6 client by its /64, which one subscriber usually holds
// whole) draws on a token bucket shared by every worker
// (shm/client_buckets.hpp) that holds auth.attempts_burst attempts and
// refills at auth.attempts_per_minute. An attempt over the budget is refused
// before anything else is done for it: no database read, no hash.
#include <atomic>
#include <cstdint>

#include "granite/network.hpp"

namespace granite::shm {
class client_buckets;
}

namespace granite::http {

class attempt_limit {
 public:
  attempt_limit() = default;  // no limit
  // `refused` and `blocked` (null: not counted) count the refusals, for the
  // metrics: this limit's, and those of the failed sign-ins per username.
  attempt_limit(shm::client_buckets* buckets, int per_minute, int burst, std::atomic<std::uint64_t>* refused,
                std::atomic<std::uint64_t>* blocked)
      : buckets_(buckets), per_minute_(per_minute), burst_(burst), refused_(refused), blocked_(blocked) {}

  // Zero when `client` may try now (the attempt is counted); else the whole
  // seconds, at least 1, until it may.
  int wait_s(const ip_address& client);
  // A sign-in refused because its username is blocked.
  void count_blocked() {
    if (blocked_) blocked_->fetch_add(1, std::memory_order_relaxed);
  }

 private:
  shm::client_buckets* buckets_ = nullptr;
  int per_minute_ = 0;
  int burst_ = 0;
  std::atomic<std::uint64_t>* refused_ = nullptr;
  std::atomic<std::uint64_t>* blocked_ = nullptr;
};

}  // namespace granite::http
