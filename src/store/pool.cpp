#include "granite/store/pool.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <pqxx/connection>

#include "granite/store/connection.hpp"

namespace granite::store {

namespace {
// A lost connection is retried with backoff (doubling from the first to the
// most); jobs in between fail fast (503) instead of each waiting for a
// connect timeout. The most is short so that service is back within a second
// of the database.
constexpr auto backoff_first = std::chrono::milliseconds(50);
constexpr auto backoff_most = std::chrono::milliseconds(500);
}  // namespace

pool::pool(connect_options options, int size, int queue_limit, prepare_fn prepare)
    : options_(std::move(options)), queue_limit_(queue_limit), prepare_(std::move(prepare)) {
  for (int i = 0; i < size; ++i) slots_.push_back(std::make_unique<slot>());
}

pool::~pool() { stop(); }

void pool::start() {
  for (auto& s : slots_) {
    s->conn = std::make_unique<connection>(options_);
    if (prepare_) prepare_(*s->conn);
  }
  for (auto& s : slots_) threads_.emplace_back([this, raw = s.get()] { run(*raw); });
}

bool pool::submit(job j) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || queue_.size() >= static_cast<std::size_t>(queue_limit_)) return false;
    queue_.push_back(std::move(j));
  }
  ready_.notify_one();
  return true;
}

void pool::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    queue_.clear();
  }
  ready_.notify_all();
  for (auto& s : slots_) {
    std::lock_guard lock(s->cancel_mutex);
    if (s->conn && s->conn->is_open()) {
      try {
        s->conn->raw().cancel_query();
      } catch (const std::exception&) {
        // Nothing to cancel or the connection is gone: either way it stops.
      }
    }
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void pool::ensure_connected(slot& s) {
  if (s.conn && s.conn->is_open()) return;
  auto now = std::chrono::steady_clock::now();
  bool others_reconnected = reconnected_at_.load() > s.last_attempt.time_since_epoch().count();
  if (now - s.last_attempt < s.backoff && !others_reconnected) return;
  s.last_attempt = now;
  try {
    auto fresh = std::make_unique<connection>(options_);
    if (prepare_) prepare_(*fresh);
    std::lock_guard lock(s.cancel_mutex);
    s.conn = std::move(fresh);
    s.backoff = std::chrono::milliseconds(0);
    reconnected_at_ = std::chrono::steady_clock::now().time_since_epoch().count();
    spdlog::info("database connection re-established");
  } catch (const std::exception& e) {
    s.backoff = std::clamp(s.backoff * 2, backoff_first, backoff_most);
    spdlog::warn("database unreachable (next try in {} ms): {}", s.backoff.count(), e.what());
  }
}

void pool::run(slot& s) {
  while (true) {
    job j;
    {
      std::unique_lock lock(mutex_);
      ready_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      j = std::move(queue_.front());
      queue_.pop_front();
    }
    ensure_connected(s);
    bool usable = s.conn && s.conn->is_open();
    j(usable ? s.conn.get() : nullptr);
    if (usable && !s.conn->is_open()) {
      spdlog::warn("database connection lost; reconnecting");
      std::lock_guard lock(s.cancel_mutex);
      s.conn.reset();
      s.last_attempt = {};  // the next job tries at once
      s.backoff = std::chrono::milliseconds(0);
    }
  }
}

}  // namespace granite::store
