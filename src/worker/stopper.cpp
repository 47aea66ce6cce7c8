#include "stopper.hpp"

#include <signal.h>
#include <spdlog/spdlog.h>

#include "acceptor.hpp"
#include "granite/shm/metrics.hpp"

namespace granite::worker {

stopper::stopper(boost::asio::io_context& ioc, acceptor_loop& acceptor, http::server_context& ctx,
                 const config::config::drain_t& d)
    : ioc_(ioc), acceptor_(acceptor), ctx_(ctx), drain_(d), delay_(ioc), poll_(ioc) {}

void stopper::on_signal(int sig) {
  if (phase_ == phase::serving && sig == SIGTERM) return drain();
  bool retire = phase_ == phase::serving && sig == SIGQUIT;
  // A retiring worker (a reload, a resize, an upgrade: the other workers
  // serve on) leaves its idle keep-alive connections a second: a client
  // that sends on one meanwhile gets its answer with Connection: close
  // instead of a connection closed under its request.
  if (retire) close_idle_at_ = clock::now() + idle_grace;
  stop_accepting(retire ? std::chrono::seconds(drain_.timeout_s) : std::chrono::seconds(1));
}

// The phase goes into the worker's gauge cell at once: a scrape during the
// drain sees it.
void stopper::enter(phase p) {
  phase_ = p;
  if (!ctx_.gauges) return;
  auto state = p == phase::draining ? shm::worker_state::draining : shm::worker_state::stopping;
  ctx_.gauges->state.store(static_cast<std::int64_t>(state), std::memory_order_relaxed);
}

void stopper::drain() {
  enter(phase::draining);
  spdlog::info("draining: /health answers 503; accepting for {} s more", drain_.delay_s);
  ctx_.closing = true;
  delay_.expires_after(std::chrono::seconds(drain_.delay_s));
  delay_.async_wait([this](boost::system::error_code ec) {
    if (!ec) stop_accepting(std::chrono::seconds(drain_.timeout_s));
  });
}

void stopper::stop_accepting(clock::duration grace) {
  deadline_ = std::min(deadline_, clock::now() + grace);
  if (phase_ == phase::stopping) return;
  enter(phase::stopping);
  delay_.cancel();
  acceptor_.close();
  spdlog::info("stopped accepting; {} connections open, at most {} ms for their requests", ctx_.sessions.size(),
               std::chrono::duration_cast<std::chrono::milliseconds>(grace).count());
  wait_for_sessions();
}

void stopper::wait_for_sessions() {
  ctx_.closing = true;  // every response closes its connection
  if (clock::now() >= close_idle_at_) ctx_.close_connections();
  // Connections closing after their last answer count too: the client may
  // not have read all of it yet.
  if (ctx_.sessions.empty() && ctx_.lingering == 0) return ioc_.stop();
  if (clock::now() >= deadline_) {
    spdlog::warn("stop deadline reached with {} connections still open; closing them",
                 ctx_.sessions.size() + ctx_.lingering);
    return ioc_.stop();
  }
  poll_.expires_after(std::chrono::milliseconds(20));
  poll_.async_wait([this](boost::system::error_code ec) {
    if (!ec) wait_for_sessions();
  });
}

}  // namespace granite::worker
