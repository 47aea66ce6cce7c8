#pragma once

// A bounded load loop on loopback: a few client threads sending GETs on
// keep-alive connections until stopped (or until a hard cap), counting every
// request and every failure.
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace granite::testkit {

class load_loop {
 public:
  struct options {
    int port;
    std::string target = "/api/users/1";
    std::vector<std::string> targets{};  // when given: each client cycles through them instead
    int clients = 4;
    std::chrono::seconds cap{60};  // never runs longer than this
    // Between two requests of one client: the loop counts failures, it does
    // not need to saturate a 2-core machine that also runs the server.
    std::chrono::microseconds pause{500};
  };
  explicit load_loop(options o);
  ~load_loop();

  // Stops the clients and waits for them.
  void stop();
  long sent() const { return sent_; }
  long failed() const { return failed_; }            // anything but 200 and 503
  long unavailable() const { return unavailable_; }  // 503s
  long closed_by_server() const { return closes_; }  // responses that said Connection: close
  double slowest_ms() const { return slowest_us_ / 1000.0; }  // the slowest request, retry included
  // When the last request that was not answered 200 was sent (the epoch
  // when there was none).
  std::chrono::steady_clock::time_point last_refused_sent() const {
    return std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(last_refused_));
  }
  std::vector<std::string> failures() const;  // the first few, for the test's message

 private:
  void client();
  options o_;
  std::atomic<bool> running_{true};
  std::atomic<long> sent_{0}, failed_{0}, unavailable_{0}, closes_{0};
  std::atomic<long> slowest_us_{0};
  std::atomic<std::chrono::steady_clock::rep> last_refused_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> failures_;
  std::vector<std::thread> threads_;
};

}  // namespace granite::testkit
