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
  warden_ = std::thread([this] { expire_overdue(); });
}

bool bulkhead::submit(std::function<void(bool expired)> job) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return false;
    if (queue_.size() >= static_cast<std::size_t>(options_.queue_limit)) {
      ++full_;
      return false;
    }
    queue_.push_back({std::move(job), clock::now()});
  }
  ready_.notify_one();
  watch_.notify_one();
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
  watch_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  if (warden_.joinable()) warden_.join();
  // Outside the lock: a dropped job learns that it will not run (a
  // coroutine that awaited it is resumed, refused).
  expired_.fetch_add(dropped.size(), std::memory_order_relaxed);
  for (auto& q : dropped) q.job(true);
}

bulkhead::stats bulkhead::snapshot() const {
  stats s;
  {
    std::lock_guard lock(mutex_);
    s.full = full_;
    s.queued = queue_.size();
  }
  s.ran = ran_.load(std::memory_order_relaxed);
  s.busy_us = busy_us_.load(std::memory_order_relaxed);
  s.expired = expired_.load(std::memory_order_relaxed);
  return s;
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

void bulkhead::expire_overdue() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    // The queue is in the order of submission: its front is due first.
    std::deque<queued> overdue;
    auto now = clock::now();
    while (!queue_.empty() && now - queue_.front().since > options_.max_wait) {
      overdue.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    if (!overdue.empty()) {
      // Outside the lock, as stop() does: the job resumes its coroutine.
      lock.unlock();
      expired_.fetch_add(overdue.size(), std::memory_order_relaxed);
      for (auto& q : overdue) q.job(true);
      lock.lock();
      continue;
    }
    if (queue_.empty())
      watch_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    else
      watch_.wait_until(lock, queue_.front().since + options_.max_wait + std::chrono::milliseconds(1));
  }
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
    bool expired = started - next.since > options_.max_wait;
    try {
      next.job(expired);
    } catch (const std::exception& e) {
      spdlog::error("{}: a job failed: {}", options_.name, e.what());
    }
    auto busy = clock::now() - started;
    if (expired) {
      expired_.fetch_add(1, std::memory_order_relaxed);
    } else {
      ran_.fetch_add(1, std::memory_order_relaxed);
      busy_us_.fetch_add(static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(busy).count()),
                         std::memory_order_relaxed);
    }
    spend(cpu, busy);
  }
}

}  // namespace granite::http
