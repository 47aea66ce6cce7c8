#pragma once

// What the sessions tell the instance about each request: its counts in the
// metrics (shm/metrics.hpp), and the peer's address as granite writes it.
// Private to http/.
#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "granite/http/message.hpp"
#include "granite/network.hpp"
#include "granite/obs/access_log.hpp"

namespace granite::shm {
struct slot_metrics;
}

namespace granite::http {

struct route;

// A request answered. Counted in the metrics when its response is ready to
// send (a few relaxed atomic adds on its slot's cells), logged once written.
struct answered {
  const route* matched;  // null: no route
  verb method;           // verb::other for a request that could not be read
  int status;
  std::uint64_t head_bytes;
  std::uint64_t body_bytes;
  std::uint64_t duration_us;  // from the request read to the response ready (metrics) or written (log)
};
void count(shm::slot_metrics& m, const answered& a);

inline std::uint64_t micros_between(std::chrono::steady_clock::time_point from,
                                    std::chrono::steady_clock::time_point to) {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(to - from).count());
}

struct request_head;

// Who asked what, for the access line; request and head are null for a
// request that could not be read.
struct asked {
  std::string_view request_id;
  std::string_view client;
  const request* req;
  const request_head* head;
};
void log_access(obs::access_log& log, const answered& a, const asked& who, obs::access_record::cache_use cache);

// An Asio address as granite's (IPv4 as IPv4-mapped IPv6).
ip_address address_of(const boost::asio::ip::address& a);

// Who sent a request, into `client` and its text into `text` (whose
// capacity is reused): the peer, or whom a trusted proxy names in
// X-Forwarded-For.
void find_client(ip_address& client, std::string& text, const ip_address& peer, const std::string& peer_text,
                 std::string_view forwarded_for, const std::vector<ip_network>& trusted);

}  // namespace granite::http
