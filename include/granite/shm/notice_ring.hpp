#pragma once

// The change notices of one instance's writes, in memory that its workers
// share (mapped by the leader before the first fork). A worker that wrote
// appends its notices before it answers; every worker reads what is new
// before it answers from its cache or keeps a response. So, on one
// instance, a write is seen by every worker as soon as it is answered;
// other instances learn of it through PostgreSQL's notices, milliseconds
// later.
#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace granite::shm {

class notice_ring {
 public:
  static constexpr std::size_t capacity = 4096;  // notices kept; a reader further behind flushes
  static constexpr std::size_t longest = 95;     // a longer notice is published as "*"

  notice_ring();  // throws std::runtime_error when the memory cannot be mapped
  ~notice_ring();
  notice_ring(const notice_ring&) = delete;
  notice_ring& operator=(const notice_ring&) = delete;

  // Appends a notice; returns its index (what head() was just before).
  std::uint64_t publish(std::string_view notice);
  // How many notices were ever published: a reader starts from here.
  std::uint64_t head() const;
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
    slot slots[capacity];
  };
  bool copy_out(std::uint64_t index, char* out, std::size_t& length) const;

  shared* mem_;
};

}  // namespace granite::shm
