#include "granite/shm/client_buckets.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

namespace granite::shm {

namespace {

std::size_t hash_of(const client_buckets::key& k) {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (auto b : k) h = (h ^ b) * 1099511628211ull;
  return static_cast<std::size_t>(h ^ (h >> 29));
}

// Holds a set's lock; takes it over when its holder died holding it (the
// set's entries are plain numbers, consistent at every store that matters).
class held {
 public:
  explicit held(pthread_mutex_t& m) : m_(m) {
    if (pthread_mutex_lock(&m_) == EOWNERDEAD) pthread_mutex_consistent(&m_);
  }
  ~held() { pthread_mutex_unlock(&m_); }
  held(const held&) = delete;
  held& operator=(const held&) = delete;

 private:
  pthread_mutex_t& m_;
};

}  // namespace

client_buckets::client_buckets() {
  void* p = mmap(nullptr, sets * sizeof(set), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error(std::string("cannot map the client buckets: ") + std::strerror(errno));
  mem_ = static_cast<set*>(p);
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  for (std::size_t i = 0; i < sets; ++i) pthread_mutex_init(&mem_[i].lock, &attr);
  pthread_mutexattr_destroy(&attr);
}

client_buckets::~client_buckets() { munmap(mem_, sets * sizeof(set)); }

client_buckets::clock::duration client_buckets::take(const key& who, double per_second, double burst,
                                                     clock::time_point now) {
  auto ticks = now.time_since_epoch().count();
  set& s = mem_[hash_of(who) % sets];
  held lock(s.lock);
  entry* e = nullptr;
  for (auto& candidate : s.entries)
    if (candidate.used && candidate.who == who) e = &candidate;
  if (!e) {
    // A free place, or the one that tried longest ago.
    e = std::min_element(std::begin(s.entries), std::end(s.entries), [](const entry& a, const entry& b) {
      return std::make_pair(a.used, a.tried) < std::make_pair(b.used, b.tried);
    });
    *e = {who, true, burst, ticks, ticks};
  }
  double elapsed = std::chrono::duration<double>(clock::duration(std::max<std::int64_t>(0, ticks - e->refilled))).count();
  e->tokens = std::min(burst, e->tokens + elapsed * per_second);
  e->refilled = ticks;
  e->tried = ticks;
  if (e->tokens >= 1) {
    e->tokens -= 1;
    return clock::duration::zero();
  }
  return std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>((1 - e->tokens) / per_second));
}

}  // namespace granite::shm
