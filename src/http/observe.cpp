#include "observe.hpp"

#include <algorithm>

#include "granite/http/router.hpp"
#include "granite/shm/metrics.hpp"
#include "request_reader.hpp"

namespace granite::http {

void count(shm::slot_metrics& m, const answered& a) {
  std::size_t route = a.matched && a.matched->index < shm::metric_routes ? a.matched->index : 0;
  auto method = static_cast<std::size_t>(a.method);
  m.requests[route][method][shm::status_slot(a.status)].fetch_add(1, std::memory_order_relaxed);
  m.duration[route][shm::duration_bucket(a.duration_us)].fetch_add(1, std::memory_order_relaxed);
  m.duration_us[route].fetch_add(a.duration_us, std::memory_order_relaxed);
  m.bytes_sent.fetch_add(a.head_bytes + a.body_bytes, std::memory_order_relaxed);
}

void log_access(obs::access_log& log, const answered& a, const asked& who, obs::access_record::cache_use cache) {
  obs::access_record r;
  r.request_id = who.request_id;
  r.client = who.client;
  if (who.req && who.head) {
    r.method = who.req->method_name;
    r.target = who.req->target;
    r.trace_id = who.head->trace_id;
  }
  if (a.matched) r.route = a.matched->pattern;
  r.status = a.status;
  r.bytes = a.body_bytes;
  r.duration_us = static_cast<std::int64_t>(a.duration_us);
  r.cache = cache;
  log.write(r);
}

ip_address address_of(const boost::asio::ip::address& a) {
  ip_address out;
  if (a.is_v4()) {
    auto v4 = a.to_v4().to_bytes();
    out.bytes[10] = out.bytes[11] = 0xff;
    std::copy(v4.begin(), v4.end(), out.bytes.begin() + 12);
  } else if (a.is_v6()) {
    out.bytes = a.to_v6().to_bytes();
  }
  return out;
}

void find_client(ip_address& client, std::string& text, const ip_address& peer, const std::string& peer_text,
                 std::string_view forwarded_for, const std::vector<ip_network>& trusted) {
  if (trusted.empty() || forwarded_for.empty()) {
    client = peer;
    text = peer_text;
    return;
  }
  client = forwarded_client(peer, forwarded_for, trusted);
  text = client.text();
}

}  // namespace granite::http
