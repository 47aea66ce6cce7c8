#pragma once

// Attempts per client for the whole instance: a token bucket per client
// address, in memory the leader maps before it forks, so that every worker
// draws on the same buckets (a client cannot multiply its budget by the
// number of workers). Bounded: 4096 clients in sets of 8; a new client in a
// full set takes the place of the one that tried longest ago (its bucket
// starts full). Each set has a process-shared robust mutex: a worker killed
// while holding one leaves it to the next taker, never locked for good.
#include <pthread.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace granite::shm {

class client_buckets {
 public:
  static constexpr std::size_t sets = 512;
  static constexpr std::size_t ways = 8;
  using key = std::array<std::uint8_t, 16>;
  using clock = std::chrono::steady_clock;  // CLOCK_MONOTONIC: the same in every process

  client_buckets();  // mapped before the first fork
  ~client_buckets();
  client_buckets(const client_buckets&) = delete;
  client_buckets& operator=(const client_buckets&) = delete;

  // One attempt by `who` at `now`, from a bucket of `burst` tokens that
  // refills at `per_second`: zero when it may go ahead (a token taken), else
  // how long until a token is there (nothing taken).
  clock::duration take(const key& who, double per_second, double burst, clock::time_point now);

 private:
  struct entry {
    key who;
    bool used;
    double tokens;
    std::int64_t refilled;  // clock ticks
    std::int64_t tried;
  };
  struct alignas(64) set {
    pthread_mutex_t lock;
    entry entries[ways];
  };
  set* mem_;
};

}  // namespace granite::shm
