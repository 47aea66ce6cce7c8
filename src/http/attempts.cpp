#include "granite/http/attempts.hpp"

#include <cmath>

#include "granite/shm/client_buckets.hpp"

namespace granite::http {

int attempt_limit::wait_s(const ip_address& client) {
  if (!buckets_ || per_minute_ <= 0) return 0;
  auto key = client.is_v4() ? client.bytes : client.masked(64).bytes;  // an IPv6 client by its /64
  auto wait = buckets_->take(key, per_minute_ / 60.0, burst_, shm::client_buckets::clock::now());
  if (wait == shm::client_buckets::clock::duration::zero()) return 0;
  if (refused_) refused_->fetch_add(1, std::memory_order_relaxed);
  return std::max(1, static_cast<int>(std::ceil(std::chrono::duration<double>(wait).count())));
}

}  // namespace granite::http
