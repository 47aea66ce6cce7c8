#pragma once

#include <chrono>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "granite/store/database.hpp"

namespace granite::store {

class connection;

// A worker's database threads, one connection each, so that the event loop
// never waits on PostgreSQL: the loop submits a job, a database thread runs
// it and the job posts its result back.
class pool {
 public:
  // A job gets the thread's connection, or null when the database cannot be
  // reached right now (the job answers 503 then).
  using job = std::function<void(connection*)>;
  using prepare_fn = std::function<void(connection&)>;

  pool(connect_options options, int size, int queue_limit, prepare_fn prepare);
  ~pool();

  // Connects every thread's connection; throws unavailable when one cannot.
  void start();
  // False when the queue is full: the caller answers 503 at once.
  bool submit(job j);
  // Cancels running queries, drops queued jobs and joins the threads.
  void stop();

 private:
  struct slot {
    std::unique_ptr<connection> conn;
    std::chrono::steady_clock::time_point last_attempt{};
    std::chrono::milliseconds backoff{0};
    std::mutex cancel_mutex;  // guards conn against cancel from stop()
  };
  void run(slot& s);
  void ensure_connected(slot& s);

  connect_options options_;
  int queue_limit_;
  prepare_fn prepare_;
  std::vector<std::unique_ptr<slot>> slots_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<job> queue_;
  bool stopping_ = false;
  // When some thread last (re)connected: the others retry at once rather
  // than wait out their backoff, so service returns together.
  std::atomic<std::chrono::steady_clock::rep> reconnected_at_{0};
};

}  // namespace granite::store
