#pragma once

// A client creating posts in thread 1 until stopped, each with a text of
// its own, so that the database tells which of them exist: for tests that
// cut the database from under writes and count what was lost or doubled.
#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace pqxx {
class connection_base;
}

namespace granite::testkit {

class post_writer {
 public:
  using clock_type = std::chrono::steady_clock;
  post_writer(int port, std::string token, std::string tag);
  ~post_writer() { stop(); }
  post_writer(const post_writer&) = delete;
  post_writer& operator=(const post_writer&) = delete;

  void stop();
  // After stop():
  const std::string& tag() const { return tag_; }
  std::vector<std::string> created() const { return created_; }  // answered 201
  long refused() const { return refused_; }                      // 503s
  std::vector<std::string> failures() const { return failures_; }  // anything but 201 and 503 (the first few)
  std::vector<std::string> refusals() const { return refusals_; }  // the first 503s' bodies
  std::map<int, long> statuses() const { return statuses_; }      // answers by status (0: no answer)
  long sent() const { return sent_; }
  clock_type::time_point last_refused_sent() const { return last_refused_sent_; }
  double slowest_ms() const { return slowest_ms_; }

 private:
  void run();

  int port_;
  std::string token_, tag_;
  std::atomic<bool> running_{true};
  std::vector<std::string> created_, failures_, refusals_;
  std::map<int, long> statuses_;
  long sent_ = 0, refused_ = 0;
  clock_type::time_point last_refused_sent_{};
  double slowest_ms_ = 0;
  std::thread thread_;
};

// Each post the writer was told was created exists exactly once in the
// database `c` reaches, and no text of the writer's exists twice (no write
// was applied twice).
void expect_written_once(pqxx::connection_base& c, const post_writer& w);

// Lines for a test's failure message.
std::string joined(const std::vector<std::string>& lines);

}  // namespace granite::testkit
