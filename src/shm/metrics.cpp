#include "granite/shm/metrics.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace granite::shm {

static_assert(counter::is_always_lock_free && gauge::is_always_lock_free, "metrics must be lock-free across processes");
static_assert(std::atomic<pid_t>::is_always_lock_free);
static_assert(64 + sizeof(feed_metrics) <= 4096);

namespace {
// The slots, then the high-water mark and the feed's on a page of their own.
constexpr std::size_t page = 4096;
std::size_t bytes_for(std::size_t slots) { return (slots * sizeof(slot_metrics) + page - 1) / page * page + page; }
}  // namespace

// Anonymous shared memory is zero-filled, which is what every atomic here
// starts as; pages a slot never touches are never allocated.
metrics_memory::metrics_memory(std::size_t slots) : slots_(slots) {
  void* p = mmap(nullptr, bytes_for(slots), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error(std::string("cannot map the metrics memory: ") + std::strerror(errno));
  mem_ = static_cast<slot_metrics*>(p);
  used_ = reinterpret_cast<std::atomic<std::size_t>*>(static_cast<char*>(p) + bytes_for(slots) - page);
  feed_ = reinterpret_cast<feed_metrics*>(static_cast<char*>(p) + bytes_for(slots) - page + 64);
}

metrics_memory::~metrics_memory() { munmap(mem_, bytes_for(slots_)); }

gauge_cell* metrics_memory::claim(std::size_t slot, pid_t pid) {
  if (slot >= slots_) return nullptr;
  auto& s = mem_[slot];
  auto seen = used_->load(std::memory_order_relaxed);
  while (seen < slot + 1 && !used_->compare_exchange_weak(seen, slot + 1, std::memory_order_relaxed)) {
  }
  for (auto& cell : s.gauges) {
    pid_t free = 0;
    if (cell.owner.compare_exchange_strong(free, pid, std::memory_order_acq_rel)) return &cell;
  }
  return nullptr;
}

void metrics_memory::release(std::size_t slot, pid_t pid) {
  if (slot >= slots_) return;
  for (auto& cell : mem_[slot].gauges) {
    if (cell.owner.load(std::memory_order_acquire) != pid) continue;
    for (auto* g : {&cell.connections, &cell.in_flight, &cell.db_connections, &cell.db_wanted, &cell.db_waiting,
                    &cell.cache_entries, &cell.cache_bytes, &cell.cache_listening, &cell.hashing_queued, &cell.state})
      g->store(0, std::memory_order_relaxed);
    cell.owner.store(0, std::memory_order_release);
  }
}

}  // namespace granite::shm
