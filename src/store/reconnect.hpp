#pragma once

// When a connection is tried again, for every connection granite keeps
// (the workers' lanes, the change feed's): at once after one that was ready
// is lost, after `first` when an attempt fails, doubling up to `most` while
// attempts go on failing. An outage is reported once when it begins and
// once when it ends, not at every attempt.
#include <algorithm>
#include <chrono>
#include <utility>

namespace granite::store {

class reconnector {
 public:
  using clock = std::chrono::steady_clock;
  using duration = std::chrono::milliseconds;

  constexpr reconnector(duration first, duration most) : first_(first), most_(most) {}

  struct verdict {
    clock::time_point next;  // when the next attempt may begin
    bool outage_began;       // the first failure since the connection was last up
  };
  // An attempt failed at `now`.
  verdict failed(clock::time_point now) {
    backoff_ = std::clamp(backoff_ * 2, first_, most_);
    last_failure_ = now;
    bool began = !down_;
    down_ = true;
    return {now + backoff_, began};
  }
  // An attempt succeeded: whether an outage ended with it.
  bool succeeded() {
    backoff_ = duration(0);
    return std::exchange(down_, false);
  }

  bool down() const { return down_; }
  constexpr duration backoff() const { return backoff_; }
  constexpr duration first() const { return first_; }
  constexpr duration most() const { return most_; }
  // When the last attempt failed (the epoch: none has).
  clock::time_point last_failure() const { return last_failure_; }

 private:
  duration first_, most_;
  duration backoff_{0};
  clock::time_point last_failure_{};
  bool down_ = false;
};

// Every connection to PostgreSQL a worker or the change feed keeps: an
// outage is noticed within tens of milliseconds and its end within half a
// second.
inline constexpr reconnector database_reconnector{std::chrono::milliseconds(50), std::chrono::milliseconds(500)};

}  // namespace granite::store
