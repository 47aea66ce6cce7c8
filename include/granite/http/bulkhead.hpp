#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <coroutine>
#include <exception>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace granite::http {

// A bounded pool of threads of its own for CPU-heavy request work (password
// hashing), so that a storm of such requests cannot starve the rest of the
// worker: its threads run only on CPU time the event loop and the database
// threads leave idle (SCHED_IDLE), at most `queue_limit` jobs wait, and a
// job that does not fit is refused at once (the route answers 503 with
// Retry-After). A job that waits longer than `max_wait` is told so instead
// of being run, at its deadline even while every thread is busy, resting or
// starved of CPU: its client is answered, not left waiting. Each thread
// keeps at most `cpu_percent` of a CPU busy.
class bulkhead {
 public:
  using clock = std::chrono::steady_clock;
  // idle: SCHED_IDLE, only CPU time nothing else wants (hashing waits while
  // the CPUs are saturated); low: nice 19, a small share even then.
  enum class priority { normal, low, idle };
  struct options {
    std::string name;  // for logs: "password hashing"
    int threads = 1;
    int queue_limit = 8;
    clock::duration max_wait = std::chrono::seconds(5);
    enum priority priority = priority::idle;
    // The share of one CPU each thread may keep busy over time, in percent,
    // with bursts of up to `burst` of busy time at full speed: a lone
    // request never waits, a storm is paced. Priority alone does not bound
    // the CPU a storm takes where CPU time is metered (a VM's or a
    // container's quota, burstable instances): the rest of the worker would
    // pay for it.
    int cpu_percent = 100;
    clock::duration burst = std::chrono::milliseconds(100);
  };

  explicit bulkhead(options o);
  ~bulkhead();
  bulkhead(const bulkhead&) = delete;
  bulkhead& operator=(const bulkhead&) = delete;

  void start();
  // False when the queue is full or the bulkhead is stopping. The job gets
  // `expired`: it waited longer than max_wait (or the bulkhead stopped
  // before it ran).
  bool submit(std::function<void(bool expired)> job);
  // Queued jobs are told they expired, running ones finish, the threads are
  // joined.
  void stop();

  const std::string& name() const { return options_.name; }

  // What the bulkhead did since it started (for the metrics).
  struct stats {
    std::uint64_t ran = 0;      // jobs run
    std::uint64_t busy_us = 0;  // their time on a thread, in microseconds
    std::uint64_t full = 0;     // jobs refused: the queue was full
    std::uint64_t expired = 0;  // jobs not run: they waited past max_wait, or the bulkhead stopped
    std::size_t queued = 0;     // jobs waiting now
  };
  stats snapshot() const;

  // How a coroutine that awaited run() is resumed: on the event loop, by
  // whoever gives this (the worker: a post to its loop).
  void resume_on(std::function<void(std::coroutine_handle<>)> resume) { resume_ = std::move(resume); }

  enum class refusal { none, full, expired };
  template <class T>
  struct outcome {
    std::optional<T> value;  // empty when refused
    refusal refused = refusal::none;
  };

  // co_await cpu.run(f): f() on a bulkhead thread, the awaiting coroutine
  // resumed on the loop with what it returned (or what it threw), or at once
  // when the queue is full.
  template <class T>
  class awaiter {
   public:
    awaiter(bulkhead& b, std::function<T()> work) : b_(b), work_(std::move(work)) {}
    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> h) {
      bool queued = b_.submit([this, h](bool expired) {
        if (expired) {
          out_.refused = refusal::expired;
        } else {
          try {
            out_.value.emplace(work_());
          } catch (...) {
            error_ = std::current_exception();
          }
        }
        b_.resume_(h);
      });
      if (!queued) out_.refused = refusal::full;
      return queued;
    }
    outcome<T> await_resume() {
      if (error_) std::rethrow_exception(error_);
      return std::move(out_);
    }

   private:
    bulkhead& b_;
    std::function<T()> work_;
    outcome<T> out_;
    std::exception_ptr error_;
  };
  template <class F>
  auto run(F f) -> awaiter<decltype(f())> {
    return {*this, std::move(f)};
  }

 private:
  struct queued {
    std::function<void(bool)> job;
    clock::time_point since;
  };
  void run();
  // The warden (a thread at normal priority, asleep but for deadlines):
  // tells each queued job that outlives max_wait so, at once.
  void expire_overdue();
  void lower_priority();
  // Per thread: CPU time it may still spend at once (a token bucket that
  // fills at cpu_percent of real time, up to burst).
  struct budget {
    clock::duration credit;
    clock::time_point refilled;
  };
  void spend(budget& b, clock::duration busy);

  options options_;
  std::vector<std::thread> threads_;
  mutable std::mutex mutex_;
  std::condition_variable ready_;    // a job is queued, or stop
  std::condition_variable resting_;  // stop: threads resting after a job wake up
  std::condition_variable watch_;    // the warden: a job is queued, or stop
  std::thread warden_;
  std::deque<queued> queue_;
  bool stopping_ = false;
  std::uint64_t full_ = 0;  // under mutex_
  // Written by the bulkhead's threads, read by the metrics.
  std::atomic<std::uint64_t> ran_{0}, busy_us_{0}, expired_{0};
  std::function<void(std::coroutine_handle<>)> resume_ = [](std::coroutine_handle<> h) { h.resume(); };
};

}  // namespace granite::http
