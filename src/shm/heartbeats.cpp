#include "granite/shm/heartbeats.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

namespace granite::shm {

static_assert(std::atomic<std::int64_t>::is_always_lock_free, "heartbeats must be lock-free across processes");

heartbeats::heartbeats(std::size_t slots) : slots_(slots) {
  void* p = mmap(nullptr, slots * sizeof(std::atomic<std::int64_t>), PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error(std::string("cannot map heartbeat memory: ") + std::strerror(errno));
  cells_ = static_cast<std::atomic<std::int64_t>*>(p);
  for (std::size_t i = 0; i < slots; ++i) new (&cells_[i]) std::atomic<std::int64_t>(0);
}

heartbeats::~heartbeats() { munmap(cells_, slots_ * sizeof(std::atomic<std::int64_t>)); }

void heartbeats::beat(std::size_t slot) {
  if (slot < slots_)
    cells_[slot].store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
}

std::chrono::steady_clock::time_point heartbeats::last(std::size_t slot) const {
  if (slot >= slots_) return {};
  return std::chrono::steady_clock::time_point(
      std::chrono::steady_clock::duration(cells_[slot].load(std::memory_order_relaxed)));
}

}  // namespace granite::shm
