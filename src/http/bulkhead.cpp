#include "granite/http/bulkhead.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace granite::http {

bulkhead::bulkhead(options o) : options_(std::move(o)) {}

bulkhead::~bulkhead() { stop(); }

void bulkhead::start() {
  for (int i = 0; i < options_.threads; ++i) threads_.emplace_back([this] { run(); });
}

bool bulkhead::submit(std::function<void()> job) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || queue_.size() >= static_cast<std::size_t>(options_.queue_limit)) return false;
    queue_.push_back(std::move(job));
  }
  ready_.notify_one();
  return true;
}

void bulkhead::stop() {
  std::deque<std::function<void()>> dropped;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    dropped.swap(queue_);
  }
  ready_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  // The dropped jobs are destroyed here, outside the lock.
}

void bulkhead::run() {
  // On Linux the nice value belongs to the thread: the event loop and the
  // database threads keep theirs, so under contention they win the CPU.
  if (options_.nice != 0) {
    errno = 0;
    int current = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
    if (errno == 0 && setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), current + options_.nice) != 0)
      spdlog::warn("{}: cannot lower the thread priority: {}", options_.name, std::strerror(errno));
  }
  while (true) {
    std::function<void()> job;
    {
      std::unique_lock lock(mutex_);
      ready_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    try {
      job();
    } catch (const std::exception& e) {
      spdlog::error("{}: a job failed: {}", options_.name, e.what());
    }
  }
}

}  // namespace granite::http
