#include "support/post_writer.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "support/forum.hpp"
#include "support/http_client.hpp"

namespace granite::testkit {

using namespace std::chrono_literals;

post_writer::post_writer(int port, std::string token, std::string tag)
    : port_(port), token_(std::move(token)), tag_(std::move(tag)), thread_([this] { run(); }) {}

void post_writer::stop() {
  running_ = false;
  if (thread_.joinable()) thread_.join();
}

void post_writer::run() {
  forum_client api(port_);
  auto until = clock_type::now() + 60s;
  while (running_ && clock_type::now() < until) {
    std::string text = tag_ + " " + std::to_string(sent_++);
    auto started = clock_type::now();
    http_response r;
    try {
      r = api.call("POST", "/api/posts", nlohmann::json{{"thread", 1}, {"text", text}}.dump(), token_);
    } catch (const std::exception& e) {
      r.status = 0;
      r.body = e.what();
    }
    slowest_ms_ = std::max(slowest_ms_, std::chrono::duration<double, std::milli>(clock_type::now() - started).count());
    ++statuses_[r.status];
    if (r.status == 201) {
      created_.push_back(text);
    } else {
      last_refused_sent_ = started;
      if (r.status == 503 && ++refused_ <= 3)
        refusals_.push_back(r.body);
      else if (r.status == 503)
        ;
      else if (failures_.size() < 5)
        failures_.push_back(std::to_string(r.status) + ": " + r.body);
      else
        failures_.push_back("...");
    }
    std::this_thread::sleep_for(2ms);
  }
}

void expect_written_once(pqxx::connection_base& c, const post_writer& w) {
  pqxx::nontransaction tx(c);
  auto counts = tx.exec_params("SELECT text, count(*) FROM posts WHERE text LIKE $1 GROUP BY text", w.tag() + " %");
  std::map<std::string, long> seen;
  for (const auto& row : counts) seen[row[0].as<std::string>()] = row[1].as<long>();
  for (const auto& text : w.created()) EXPECT_EQ(seen[text], 1) << text << " was answered 201";
  for (const auto& [text, n] : seen) EXPECT_EQ(n, 1) << text << " was written " << n << " times";
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += "\n  " + l;
  return out;
}

}  // namespace granite::testkit
