#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace granite::http {

// A bounded pool of threads of its own for CPU-heavy request work (password
// hashing), so that a storm of such requests cannot starve the rest of the
// worker: its threads run at a lower scheduling priority than the event loop
// and the database threads, at most `queue_limit` jobs wait, and a job that
// does not fit is refused at once (the route answers 503 with Retry-After).
class bulkhead {
 public:
  struct options {
    std::string name;  // for logs: "password hashing"
    int threads = 1;
    int queue_limit = 8;
    int nice = 10;  // added to the threads' nice value (Linux: per thread)
  };

  explicit bulkhead(options o);
  ~bulkhead();
  bulkhead(const bulkhead&) = delete;
  bulkhead& operator=(const bulkhead&) = delete;

  void start();
  // False when the queue is full or the bulkhead is stopping.
  bool submit(std::function<void()> job);
  // Drops queued jobs, lets running ones finish and joins the threads.
  void stop();

  const std::string& name() const { return options_.name; }

 private:
  void run();

  options options_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
};

}  // namespace granite::http
