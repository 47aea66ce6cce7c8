#pragma once

// A client creating posts in thread 1 until stopped, each with a text of
// its own, so that the database tells which of them exist: for tests that
// cut the database from under writes and count what was lost or doubled.
//
// A keyed writer sends each post with an Idempotency-Key of its own and,
// as a client that retries should, sends it again with the same key after
// a 503, a 409 or no answer, until it is created (or 10 s pass); it then
// repeats it once more, which must be answered as the first time.
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
  post_writer(int port, std::string token, std::string tag, bool keyed = false);
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
  long sent() const { return sent_; }  // posts begun; may be read while it runs
  clock_type::time_point last_refused_sent() const { return last_refused_sent_; }
  double slowest_ms() const { return slowest_ms_; }
  // Keyed: every text sent (each must exist once, however often it was
  // retried); the created ones whose 201 was a replay (a retry after a
  // write that had committed unanswered); answers to the same key that
  // differed from its first 201.
  std::vector<std::string> texts() const { return texts_; }
  long replayed() const { return replayed_; }
  // ... and those whose first send was answered from the key: granite sent
  // the write again itself after its connection was cut, and found it had
  // committed.
  long resolved() const { return resolved_; }
  std::vector<std::string> mismatches() const { return mismatches_; }

 private:
  void run();
  // One post with its key, retried until created; false when it never was.
  bool keyed_post(const std::string& text, const std::string& key);

  int port_;
  bool keyed_;
  std::string token_, tag_;
  std::atomic<bool> running_{true};
  std::vector<std::string> created_, failures_, refusals_, texts_, mismatches_;
  long replayed_ = 0, resolved_ = 0;
  std::map<int, long> statuses_;
  std::atomic<long> sent_{0};
  long refused_ = 0;
  clock_type::time_point last_refused_sent_{};
  double slowest_ms_ = 0;
  std::thread thread_;
};

// Each post the writer was told was created exists exactly once in the
// database `c` reaches, and no text of the writer's exists twice (no write
// was applied twice).
void expect_written_once(pqxx::connection_base& c, const post_writer& w);

// The writer's answers by status, as "201: 90, 503: 3".
std::string answers(const post_writer& w);

// Lines for a test's failure message.
std::string joined(const std::vector<std::string>& lines);

}  // namespace granite::testkit
