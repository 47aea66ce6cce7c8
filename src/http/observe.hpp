#pragma once

// What the sessions tell the instance about each request: its counts in the
// metrics (shm/metrics.hpp), and the peer's address as granite writes it.
// Private to http/.
#include <boost/asio/ip/address.hpp>
#include <cstdint>

#include "granite/http/message.hpp"
#include "granite/network.hpp"
#include "granite/obs/access_log.hpp"

namespace granite::shm {
struct slot_metrics;
}

namespace granite::http {

struct route;

// A request answered: a few relaxed atomic adds on its slot's cells.
struct answered {
  const route* matched;  // null: no route
  verb method;           // verb::other for a request that could not be read
  int status;
  std::uint64_t bytes;        // of the response: head and body
  std::uint64_t duration_us;  // from the request read to the response ready (metrics) or written (log)
};
void count(shm::slot_metrics& m, const answered& a);

struct request_head;

// Who asked what, for the access line; request and head are null for a
// request that could not be read.
struct asked {
  std::string_view request_id;
  std::string_view client;
  const request* req;
  const request_head* head;
};
void log_access(obs::access_log& log, const answered& a, const asked& who, std::uint64_t body_bytes,
                obs::access_record::cache_use cache);

// An Asio address as granite's (IPv4 as IPv4-mapped IPv6).
ip_address address_of(const boost::asio::ip::address& a);

}  // namespace granite::http
