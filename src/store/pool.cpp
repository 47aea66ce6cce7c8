#include "granite/store/pool.hpp"

#include <spdlog/spdlog.h>

#include <pqxx/connection>

namespace granite::store {

namespace {
// A lost connection is retried at most this often; jobs in between fail fast
// instead of each waiting for a connect timeout.
constexpr auto reconnect_interval = std::chrono::milliseconds(500);
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

std::size_t pool::queued() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
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
  if (now - s.last_attempt < reconnect_interval) return;
  s.last_attempt = now;
  try {
    auto fresh = std::make_unique<connection>(options_);
    if (prepare_) prepare_(*fresh);
    std::lock_guard lock(s.cancel_mutex);
    s.conn = std::move(fresh);
    spdlog::info("database connection re-established");
  } catch (const std::exception& e) {
    spdlog::warn("database still unreachable: {}", e.what());
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
      spdlog::warn("database connection lost; will reconnect");
      std::lock_guard lock(s.cancel_mutex);
      s.conn.reset();
    }
  }
}

}  // namespace granite::store
