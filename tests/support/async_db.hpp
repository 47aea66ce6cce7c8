#pragma once

// The worker's pipelined database (store/async.hpp) for a test: its own
// event loop, run only while the test waits for an answer.
#include <boost/asio/io_context.hpp>
#include <memory>
#include <optional>
#include <string>

#include "granite/store/async.hpp"

namespace granite::testkit {

class async_db {
 public:
  // Connects to `url` with every feature's statements prepared; waits until
  // the database answers.
  explicit async_db(const std::string& url, int statement_timeout_ms = 5000);
  ~async_db();

  store::answer read(store::batch b) { return run(lane::read, std::move(b)); }
  store::answer write(store::batch b) { return run(lane::write, std::move(b)); }
  // Runs the loop until pred() holds or `seconds` pass; returns pred().
  bool run_until(const std::function<bool()>& pred, int seconds = 10);

  store::database& db() { return *db_; }
  boost::asio::io_context& loop() { return loop_; }

 private:
  using lane = store::database::lane;
  store::answer run(lane l, store::batch b);

  boost::asio::io_context loop_;
  std::unique_ptr<store::database> db_;
};

}  // namespace granite::testkit
