#pragma once

// What the sessions tell the instance about their connections and requests:
// the gauges and counts of the metrics (shm/metrics.hpp) and the access
// log; and the peer's address as granite writes it. Private to http/.
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
struct gauge_cell;
}

namespace granite::http {

struct route;
struct request_head;

// A request answered, as the metrics and the access line see it. The
// request and its head are null for a request that could not be read.
struct answered {
  const route* matched;  // null: no route
  verb method;           // verb::other for a request that could not be read
  int status;
  std::uint64_t head_bytes;
  std::uint64_t body_bytes;
  std::chrono::steady_clock::time_point started;  // the request read whole
  std::chrono::steady_clock::time_point ready;    // its response ready to send
  obs::access_record::cache_use cache;
  std::string_view request_id;
  std::string_view client;
  const request* req;
  const request_head* head;
};

inline std::uint64_t micros_between(std::chrono::steady_clock::time_point from,
                                    std::chrono::steady_clock::time_point to) {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(to - from).count());
}

// What one connection tells the instance: the open connections and the
// requests in flight (the process's gauges), and each answer through one
// hook, answered(): counted in the worker slot's metrics when its response
// is ready (a few relaxed atomic adds, before the client can have it, so
// that once a client holds its answer the instance's metrics hold it too),
// and written to the access log once sent, its duration including the
// write. Any of the three may be null: not counted, not logged.
class connection_report {
 public:
  enum class stage { ready, written };
  connection_report(shm::slot_metrics* metrics, shm::gauge_cell* gauges, obs::access_log* log);
  ~connection_report();
  connection_report(const connection_report&) = delete;
  connection_report& operator=(const connection_report&) = delete;

  void request_read();
  void answered(const http::answered& a, stage when);

 private:
  shm::slot_metrics* metrics_;
  shm::gauge_cell* gauges_;
  obs::access_log* log_;
  bool in_flight_ = false;
};

// An Asio address as granite's (IPv4 as IPv4-mapped IPv6).
ip_address address_of(const boost::asio::ip::address& a);

// Who sent a request, into `client` and its text into `text` (whose
// capacity is reused): the peer, or whom a trusted proxy names in
// X-Forwarded-For.
void find_client(ip_address& client, std::string& text, const ip_address& peer, const std::string& peer_text,
                 std::string_view forwarded_for, const std::vector<ip_network>& trusted);

}  // namespace granite::http
