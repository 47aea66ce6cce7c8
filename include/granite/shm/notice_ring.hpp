#pragma once

// The instance's change notices (store/changes.hpp), in memory that its
// processes share (mapped by the leader before the first fork). Two kinds of
// writers append: a worker that wrote, its own changes, before it answers;
// the instance's change feed, every change the database reports (other
// instances' writes, anyone's). Every worker reads what is new before it
// answers from its cache or keeps a response. So, on one instance, a write
// is seen by every worker as soon as it is answered; every other, once its
// feed has it, milliseconds later.
//
// The feed also says until when the ring is known to be current: it proves
// that every change committed before some moment is in the ring, and the
// cache may be used for a bounded time after that moment (fresh_until).
// A worker that finds the ring not current asks the database instead.
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace granite::shm {

class notice_ring {
 public:
  static constexpr std::size_t capacity = 16384;  // notices kept; a reader further behind flushes
  static constexpr std::size_t longest = 95;     // a longer notice is published as "*"

  notice_ring();  // throws std::runtime_error when the memory cannot be mapped
  ~notice_ring();
  notice_ring(const notice_ring&) = delete;
  notice_ring& operator=(const notice_ring&) = delete;

  // Appends a notice; returns its index (what head() was just before).
  std::uint64_t publish(std::string_view notice);
  // How many notices were ever published: a reader starts from here.
  std::uint64_t head() const;
  // Until when (CLOCK_MONOTONIC, as steady_clock) the cache may be trusted:
  // the feed moves it forward as it proves the ring current; 0 (the start,
  // a lost feed) is never.
  void trust_until(std::chrono::steady_clock::time_point until);
  void distrust() { mem_->fresh_until.store(0, std::memory_order_release); }
  bool trusted(std::chrono::steady_clock::time_point now) const {
    return now.time_since_epoch().count() < mem_->fresh_until.load(std::memory_order_acquire);
  }
  std::chrono::steady_clock::time_point trusted_until() const {
    return std::chrono::steady_clock::time_point(
        std::chrono::steady_clock::duration(mem_->fresh_until.load(std::memory_order_acquire)));
  }

  // Positions in the primary's log (store::lsn), which only go up.
  //  - floor: the last change the instance knows of (the feed's batches of
  //    changes, its workers' own writes). A replica that has not replayed
  //    this far must not answer its reads. Raised before the notices that
  //    come with it are published: a worker that has read a notice finds
  //    the floor past its change.
  //  - applied: every change committed before it is in the ring (the
  //    feed's batches, heartbeats included): a read that presents a
  //    position at or below it may be answered from a cache that has read
  //    the ring.
  //  - positioned: the feed delivers positions (the change stream; the
  //    triggers' notices carry none). Without them a cached instance knows
  //    of changes whose positions it cannot tell, so its reads go to the
  //    primary.
  void raise_floor(std::uint64_t at) { raise(mem_->floor, at); }
  std::uint64_t floor() const { return mem_->floor.load(std::memory_order_acquire); }
  void raise_applied(std::uint64_t at) { raise(mem_->applied, at); }
  std::uint64_t applied() const { return mem_->applied.load(std::memory_order_acquire); }
  void set_positioned(bool yes) { mem_->positioned.store(yes, std::memory_order_release); }
  bool positioned() const { return mem_->positioned.load(std::memory_order_acquire); }

  // Gives every notice from `next` on to apply(std::string_view) and moves
  // `next` past them. False when some were overwritten before they could
  // be read (the reader must then assume anything changed).
  template <class Apply>
  bool read(std::uint64_t& next, Apply apply) const {
    std::uint64_t end = head();
    if (end - next > capacity) {
      next = end;
      return false;
    }
    char copy[longest + 1];
    for (; next < end; ++next) {
      std::size_t length = 0;
      if (!copy_out(next, copy, length)) {
        next = end;
        return false;
      }
      apply(std::string_view(copy, length));
    }
    return true;
  }

 private:
  struct slot {
    std::atomic<std::uint64_t> stamp;  // index + 1 once written; 0 while being written
    std::uint8_t length;
    char text[longest];
  };
  struct shared {
    pthread_mutex_t lock;  // writers only; robust: a worker killed while holding it does not wedge the others
    std::atomic<std::uint64_t> head;
    std::atomic<std::int64_t> fresh_until;  // steady_clock ticks; 0: not current
    std::atomic<std::uint64_t> floor, applied;
    std::atomic<bool> positioned;
    slot slots[capacity];
  };
  static void raise(std::atomic<std::uint64_t>& at, std::uint64_t to) {
    auto now = at.load(std::memory_order_relaxed);
    while (now < to && !at.compare_exchange_weak(now, to, std::memory_order_acq_rel)) {
    }
  }
  bool copy_out(std::uint64_t index, char* out, std::size_t& length) const;

  shared* mem_;
};

}  // namespace granite::shm
