#pragma once

// How a worker stops. SIGTERM, a load-balancer drain: /health turns 503 and
// every response closes its connection, but the worker keeps accepting for
// drain.delay_s; then it closes the idle connections, stops accepting and
// gives in-flight requests drain.timeout_s. Idle keep-alive connections stay
// open through the delay: the load balancer may still send a request on one
// until it has seen /health fail, and closing it under that request would
// fail it. SIGQUIT (retire): the same without the delay, idle connections
// closed after a second (see idle_grace). SIGINT, or any
// signal during a stop: stop accepting now, in-flight requests get one
// second.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>

#include "granite/config/config.hpp"
#include "granite/http/session.hpp"

namespace granite::worker {

class acceptor_loop;

class stopper {
 public:
  stopper(boost::asio::io_context& ioc, acceptor_loop& acceptor, http::server_context& ctx,
          const config::config::drain_t& d);

  void on_signal(int sig);

 private:
  enum class phase { serving, draining, stopping };
  using clock = std::chrono::steady_clock;

  void enter(phase p);
  void drain();
  void stop_accepting(clock::duration grace);
  void wait_for_sessions();

  boost::asio::io_context& ioc_;
  acceptor_loop& acceptor_;
  http::server_context& ctx_;
  config::config::drain_t drain_;
  boost::asio::steady_timer delay_;
  boost::asio::steady_timer poll_;
  static constexpr std::chrono::seconds idle_grace{1};

  phase phase_ = phase::serving;
  clock::time_point deadline_ = clock::time_point::max();
  clock::time_point close_idle_at_;  // idle connections close from then on
};

}  // namespace granite::worker
