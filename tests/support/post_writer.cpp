#include "support/post_writer.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "support/forum.hpp"
#include "support/http_client.hpp"

namespace granite::testkit {

using namespace std::chrono_literals;

post_writer::post_writer(int port, std::string token, std::string tag, bool keyed)
    : port_(port), keyed_(keyed), token_(std::move(token)), tag_(std::move(tag)), thread_([this] { run(); }) {}

void post_writer::stop() {
  running_ = false;
  if (thread_.joinable()) thread_.join();
}

namespace {
http_response post(const forum_client& api, const std::string& token, const std::string& text, const std::string& key) {
  auto body = nlohmann::json{{"thread", 1}, {"text", text}}.dump();
  try {
    if (key.empty()) return api.call("POST", "/api/posts", body, token);
    return api.call_with({{"Idempotency-Key", "\"" + key + "\""}}, "POST", "/api/posts", body, token);
  } catch (const std::exception& e) {
    return {0, {}, e.what()};
  }
}
}  // namespace

void post_writer::run() {
  auto until = clock_type::now() + 60s;
  while (running_ && clock_type::now() < until) {
    std::string text = tag_ + " " + std::to_string(sent_++);
    if (keyed_) {
      texts_.push_back(text);
      if (!keyed_post(text, tag_ + "-" + std::to_string(sent_ - 1))) break;
      continue;
    }
    auto started = clock_type::now();
    auto r = post(forum_client(port_), token_, text, "");
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

bool post_writer::keyed_post(const std::string& text, const std::string& key) {
  forum_client api(port_);
  auto give_up = clock_type::now() + 10s;
  // Sent until answered otherwise than "retry".
  auto answer = [&] {
    for (;;) {
      auto r = post(api, token_, text, key);
      ++statuses_[r.status];
      if ((r.status != 503 && r.status != 409 && r.status != 0) || clock_type::now() >= give_up) return r;
      ++refused_;
      std::this_thread::sleep_for(20ms);
    }
  };
  auto first = post(api, token_, text, key);
  ++statuses_[first.status];
  if (first.status == 201 && first.header("Idempotent-Replayed") == "true") ++resolved_;
  if (first.status == 503 || first.status == 409 || first.status == 0) {
    ++refused_;
    first = answer();
    if (first.status == 201 && first.header("Idempotent-Replayed") == "true") ++replayed_;
  }
  if (first.status != 201) {
    failures_.push_back(key + ": " + std::to_string(first.status) + " " + first.body);
    return false;
  }
  created_.push_back(text);
  auto again = answer();
  if (again.status != 201 || again.body != first.body || again.header("Idempotent-Replayed") != "true")
    mismatches_.push_back(key + ": first " + first.body + ", then " + std::to_string(again.status) + " " + again.body);
  return true;
}

void expect_written_once(pqxx::connection_base& c, const post_writer& w) {
  pqxx::nontransaction tx(c);
  auto counts = tx.exec_params("SELECT text, count(*) FROM posts WHERE text LIKE $1 GROUP BY text", w.tag() + " %");
  std::map<std::string, long> seen;
  for (const auto& row : counts) seen[row[0].as<std::string>()] = row[1].as<long>();
  for (const auto& text : w.created()) EXPECT_EQ(seen[text], 1) << text << " was answered 201";
  for (const auto& text : w.texts()) EXPECT_EQ(seen[text], 1) << text << " was sent with its key until created";
  for (const auto& [text, n] : seen) EXPECT_EQ(n, 1) << text << " was written " << n << " times";
}

std::string answers(const post_writer& w) {
  std::string out;
  for (auto [status, n] : w.statuses())
    out += (out.empty() ? "" : ", ") + std::to_string(status) + ": " + std::to_string(n);
  return out;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += "\n  " + l;
  return out;
}

}  // namespace granite::testkit
