#include "support/load.hpp"

#include <memory>

#include "support/http_client.hpp"

namespace granite::testkit {

load_loop::load_loop(options o) : o_(std::move(o)) {
  for (int i = 0; i < o_.clients; ++i) threads_.emplace_back([this] { client(); });
}

load_loop::~load_loop() { stop(); }

void load_loop::stop() {
  running_ = false;
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

std::vector<std::string> load_loop::failures() const {
  std::lock_guard lock(mutex_);
  return failures_;
}

void load_loop::client() {
  auto until = std::chrono::steady_clock::now() + o_.cap;
  std::unique_ptr<http_client> conn;
  bool reused = false;
  std::size_t next = 0;
  while (running_ && std::chrono::steady_clock::now() < until) {
    const std::string& target = o_.targets.empty() ? o_.target : o_.targets[next++ % o_.targets.size()];
    std::string error;
    auto started = std::chrono::steady_clock::now();
    try {
      if (!conn) {
        conn = std::make_unique<http_client>(o_.port);
        reused = false;
      }
      ++sent_;
      http_response r;
      try {
        r = conn->request("GET", target);
      } catch (const std::exception&) {
        // A keep-alive connection the server closed between two requests:
        // the request never reached it, and an HTTP client retries such an
        // idempotent request on a new connection. Only that case is retried.
        if (!reused) throw;
        conn = std::make_unique<http_client>(o_.port);
        r = conn->request("GET", target);
      }
      reused = true;
      if (r.status == 503) ++unavailable_;
      else if (r.status != 200) error = target + ": status " + std::to_string(r.status) + ": " + r.body;
      if (r.status != 200) last_refused_ = std::max(last_refused_.load(), started.time_since_epoch().count());
      if (r.header("Connection") == "close") {
        ++closes_;
        conn.reset();
      }
    } catch (const std::exception& e) {
      error = e.what();
      conn.reset();
    }
    long us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count();
    for (long seen = slowest_us_; us > seen && !slowest_us_.compare_exchange_weak(seen, us);) {
    }
    if (!error.empty()) {
      ++failed_;
      last_refused_ = std::max(last_refused_.load(), started.time_since_epoch().count());
      std::lock_guard lock(mutex_);
      if (failures_.size() < 5) failures_.push_back(error);
    }
    std::this_thread::sleep_for(o_.pause);
  }
}

}  // namespace granite::testkit
