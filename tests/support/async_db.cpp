#include "support/async_db.hpp"

#include <gtest/gtest.h>

#include <chrono>

#include "granite/features/features.hpp"
#include "granite/store/event_loop.hpp"

namespace granite::testkit {

async_db::async_db(const std::string& url, int statement_timeout_ms) {
  store::database_options o;
  o.connect.url = url;
  o.connect.statement_timeout_ms = statement_timeout_ms;
  o.statements = features::statements();
  db_ = store::make_database(loop_, std::move(o));
  auto opened = std::make_shared<bool>(false);
  db_->start([opened](std::optional<std::string> error) {
    EXPECT_FALSE(error) << *error;
    *opened = true;
  });
  run_until([&] { return *opened; });
  EXPECT_TRUE(read(store::batch().add(store::ping)).ok()) << "the test's database does not answer";
}

async_db::~async_db() {
  db_->stop();
  loop_.restart();
  loop_.poll();
  db_.reset();
}

bool async_db::run_until(const std::function<bool()>& pred, int seconds) {
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!pred() && std::chrono::steady_clock::now() < until) {
    loop_.restart();
    loop_.run_for(std::chrono::milliseconds(10));
  }
  return pred();
}

store::answer async_db::run(lane l, store::batch b) {
  // Shared: an answer that comes after the test gave up must find it.
  auto out = std::make_shared<std::optional<store::answer>>();
  db_->submit(l, std::move(b), [out](store::answer a) { *out = std::move(a); });
  EXPECT_TRUE(run_until([&] { return out->has_value(); })) << "no answer within 10 s";
  return *out ? std::move(**out) : store::answer(store::failure{store::failure::kind::unavailable, {}, "no answer"});
}

}  // namespace granite::testkit
