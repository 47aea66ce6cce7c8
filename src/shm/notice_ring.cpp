#include "granite/shm/notice_ring.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

namespace granite::shm {

static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "the notice ring must be lock-free across processes");

notice_ring::notice_ring() {
  void* p = mmap(nullptr, sizeof(shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error(std::string("cannot map the notice ring: ") + std::strerror(errno));
  mem_ = static_cast<shared*>(p);  // zero-filled: every stamp 0
  new (&mem_->head) std::atomic<std::uint64_t>(0);
  new (&mem_->fresh_until) std::atomic<std::int64_t>(0);
  new (&mem_->floor) std::atomic<std::uint64_t>(0);
  new (&mem_->applied) std::atomic<std::uint64_t>(0);
  new (&mem_->positioned) std::atomic<bool>(false);
  for (auto& s : mem_->slots) new (&s.stamp) std::atomic<std::uint64_t>(0);
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(&mem_->lock, &attr);
  pthread_mutexattr_destroy(&attr);
}

notice_ring::~notice_ring() { munmap(mem_, sizeof(shared)); }

std::uint64_t notice_ring::publish(std::string_view notice) {
  if (notice.size() > longest) notice = "*";
  if (pthread_mutex_lock(&mem_->lock) == EOWNERDEAD) {
    // Its holder died mid-write: that slot's stamp is 0, and readers flush
    // when they meet it. The ring itself is consistent.
    pthread_mutex_consistent(&mem_->lock);
  }
  std::uint64_t index = mem_->head.load(std::memory_order_relaxed);
  slot& s = mem_->slots[index % capacity];
  s.stamp.store(0, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  s.length = static_cast<std::uint8_t>(notice.size());
  std::memcpy(s.text, notice.data(), notice.size());
  s.stamp.store(index + 1, std::memory_order_release);
  mem_->head.store(index + 1, std::memory_order_release);
  pthread_mutex_unlock(&mem_->lock);
  return index;
}

void notice_ring::trust_until(std::chrono::steady_clock::time_point until) {
  mem_->fresh_until.store(until.time_since_epoch().count(), std::memory_order_release);
}

std::uint64_t notice_ring::head() const { return mem_->head.load(std::memory_order_acquire); }

// A seqlock read: the slot is the one wanted before and after the copy, or
// it was overwritten meanwhile.
bool notice_ring::copy_out(std::uint64_t index, char* out, std::size_t& length) const {
  const slot& s = mem_->slots[index % capacity];
  if (s.stamp.load(std::memory_order_acquire) != index + 1) return false;
  length = s.length;
  if (length > longest) return false;
  std::memcpy(out, s.text, length);
  std::atomic_thread_fence(std::memory_order_acquire);
  return s.stamp.load(std::memory_order_relaxed) == index + 1;
}

}  // namespace granite::shm
