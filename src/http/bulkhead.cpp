#include "granite/http/bulkhead.hpp"

#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace granite::http {

bulkhead::bulkhead(options o) : options_(std::move(o)) {}

bulkhead::~bulkhead() { stop(); }

void bulkhead::start() {
  for (int i = 0; i < options_.threads; ++i) threads_.emplace_back([this] { run(); });
}

bool bulkhead::submit(std::function<void(bool expired)> job) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || queue_.size() >= static_cast<std::size_t>(options_.queue_limit)) return false;
    queue_.push_back({std::move(job), clock::now()});
  }
  ready_.notify_one();
  return true;
}

void bulkhead::stop() {
  std::deque<queued> dropped;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    dropped.swap(queue_);
  }
  ready_.notify_all();
  resting_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  // Outside the lock: a dropped job learns that it will not run (a
  // coroutine that awaited it is resumed, refused).
  for (auto& q : dropped) q.job(true);
}

void bulkhead::lower_priority() {
  int why = 0;
  if (options_.priority == priority::idle) {
    // SCHED_IDLE (Linux, per thread, no privilege needed): the thread runs
    // only on CPU time nothing else wants, and any other thread that wakes
    // up preempts it at once.
    sched_param none{};
    if (sched_setscheduler(0, SCHED_IDLE, &none) == 0) return;
    why = errno;
  }
  // nice 19: the least weight, but a share even when the CPUs are saturated.
  if (setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 19) == 0) {
    if (why) spdlog::warn("{}: SCHED_IDLE refused ({}); running at nice 19", options_.name, std::strerror(why));
    return;
  }
  spdlog::warn("{}: cannot lower the thread priority: {}", options_.name, std::strerror(errno));
}

void bulkhead::spend(budget& b, clock::duration busy) {
  if (options_.cpu_percent >= 100) return;
  auto now = clock::now();
  b.credit = std::min(options_.burst, b.credit + (now - b.refilled) * options_.cpu_percent / 100) - busy;
  b.refilled = now;
  if (b.credit >= clock::duration::zero()) return;
  // In debt: rest until the bucket is back at zero.
  auto rest = -b.credit * 100 / options_.cpu_percent;
  std::unique_lock lock(mutex_);
  resting_.wait_for(lock, rest, [&] { return stopping_; });
}

void bulkhead::run() {
  if (options_.priority != priority::normal) lower_priority();
  budget cpu{options_.burst, clock::now()};
  while (true) {
    queued next;
    {
      std::unique_lock lock(mutex_);
      ready_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      next = std::move(queue_.front());
      queue_.pop_front();
    }
    auto started = clock::now();
    try {
      next.job(started - next.since > options_.max_wait);
    } catch (const std::exception& e) {
      spdlog::error("{}: a job failed: {}", options_.name, e.what());
    }
    spend(cpu, clock::now() - started);
  }
}

}  // namespace granite::http
