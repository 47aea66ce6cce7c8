#include "observe.hpp"

#include <algorithm>

#include "granite/http/router.hpp"
#include "granite/shm/metrics.hpp"
#include "request_head.hpp"

namespace granite::http {

namespace {

void count(shm::slot_metrics& m, const answered& a) {
  std::size_t route = a.matched && a.matched->index < shm::metric_routes ? a.matched->index : 0;
  auto method = static_cast<std::size_t>(a.method);
  auto duration_us = micros_between(a.started, a.ready);
  m.requests[route][method][shm::status_slot(a.status)].fetch_add(1, std::memory_order_relaxed);
  m.duration[route][shm::duration_bucket(duration_us)].fetch_add(1, std::memory_order_relaxed);
  m.duration_us[route].fetch_add(duration_us, std::memory_order_relaxed);
  m.bytes_sent.fetch_add(a.head_bytes + a.body_bytes, std::memory_order_relaxed);
}

void log_access(obs::access_log& log, const answered& a) {
  obs::access_record r;
  r.request_id = a.request_id;
  r.client = a.client;
  if (a.req && a.head) {
    r.method = a.req->method_name;
    r.target = a.req->target;
    r.trace_id = a.head->trace_id;
  }
  if (a.matched) r.route = a.matched->pattern;
  r.status = a.status;
  r.bytes = a.body_bytes;
  r.duration_us = static_cast<std::int64_t>(micros_between(a.started, std::chrono::steady_clock::now()));
  r.cache = a.cache;
  log.write(r);
}

}  // namespace

connection_report::connection_report(shm::slot_metrics* metrics, shm::gauge_cell* gauges, obs::access_log* log)
    : metrics_(metrics), gauges_(gauges), log_(log) {
  if (gauges_) gauges_->connections.fetch_add(1, std::memory_order_relaxed);
}

connection_report::~connection_report() {
  if (!gauges_) return;
  gauges_->connections.fetch_sub(1, std::memory_order_relaxed);
  if (in_flight_) gauges_->in_flight.fetch_sub(1, std::memory_order_relaxed);
}

void connection_report::request_read() {
  if (!gauges_ || in_flight_) return;
  gauges_->in_flight.fetch_add(1, std::memory_order_relaxed);
  in_flight_ = true;
}

void connection_report::answered(const http::answered& a, stage when) {
  if (when == stage::written) {
    if (log_) log_access(*log_, a);
    return;
  }
  if (in_flight_) {
    gauges_->in_flight.fetch_sub(1, std::memory_order_relaxed);
    in_flight_ = false;
  }
  if (metrics_) count(*metrics_, a);
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
