#pragma once

// The forum API as the end-to-end tests use it: sign-up, sign-in, and calls
// with a JSON body and a bearer token.
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "support/http_client.hpp"
#include "support/testkit.hpp"

namespace granite::testkit {

inline const std::string test_password = "correct horse battery staple";

// Settings for suites that sign many people up: password hashing neither
// waits for idle CPU nor paces itself, and a job that waited long is still
// run, so that a busy CI machine cannot starve it or turn it into a 503 (the
// bulkhead's own tests cover all three).
inline std::vector<std::string> brisk_hashing() {
  return {"--set", "auth.hash_priority=low", "--set", "auth.hash_cpu_percent=100", "--set",
          "auth.hash_wait_limit_ms=60000"};
}

class forum_client {
 public:
  explicit forum_client(int port) : port_(port) {}

  // One request on a fresh connection; a non-empty body goes as
  // application/json unless content_type says otherwise.
  http_response call(const std::string& method, const std::string& target, const std::string& body = "",
                     const std::string& token = "", const std::string& content_type = "application/json") const;
  // The same with more header fields.
  http_response call_with(const std::vector<std::pair<std::string, std::string>>& more, const std::string& method,
                          const std::string& target, const std::string& body = "",
                          const std::string& token = "") const;

  // Each fails the test (and returns 0 or "") when the answer is not 201;
  // sign-up and sign-in first retry a request the hashing queue shed (503).
  std::int64_t sign_up(const std::string& username, const std::string& password = test_password) const;
  std::string sign_in(const std::string& username, const std::string& password = test_password) const;
  // sign_up + sign_in.
  struct account {
    std::int64_t id;
    std::string token;
  };
  account member(const std::string& username) const;
  std::int64_t start_thread(const std::string& token, const std::string& title) const;
  std::int64_t write_post(const std::string& token, std::int64_t thread, const std::string& text) const;

 private:
  // POST to a route that hashes a password, retrying a shed (503) request.
  http_response hashed(const std::string& target, const std::string& body) const;
  int port_;
};

// A suite whose tests share one granite (two workers, brisk hashing) on one
// seeded scratch database. Each suite (the template argument) has its own.
template <class Suite>
struct forum_suite : ::testing::Test {
  static inline std::unique_ptr<scratch_database> db;
  static inline std::unique_ptr<server> srv;
  static inline std::unique_ptr<forum_client> api;

  static void SetUpTestSuite() {
    db = std::make_unique<scratch_database>();
    srv = std::make_unique<server>(server::options{.database_url = db->seeded(), .extra_args = brisk_hashing()});
    api = std::make_unique<forum_client>(srv->port());
  }
  static void TearDownTestSuite() {
    api.reset();
    srv.reset();
    db.reset();
  }
};

// A suite whose tests share one seeded scratch database and each start the
// granite they need. Each suite (the template argument) has its own.
template <class Suite>
struct seeded_suite : ::testing::Test {
  static inline std::unique_ptr<scratch_database> db;
  static inline std::string url;

  static void SetUpTestSuite() {
    db = std::make_unique<scratch_database>();
    url = db->seeded();
  }
  static void TearDownTestSuite() { db.reset(); }
};

// The "errors" of a 400 problem as "field: message" lines, sorted by field.
std::string field_errors(const http_response& r);

// GET /health/cache on this connection: the answering worker's read cache.
// Fails the test unless it is a 200.
nlohmann::json cache_stats(http_client& c);

// One kept-alive connection to each of a server's workers (the kernel spreads
// new connections over their listening sockets); fails the test unless it
// reaches them all.
std::vector<std::unique_ptr<http_client>> one_per_worker(int port, std::size_t workers);

}  // namespace granite::testkit
