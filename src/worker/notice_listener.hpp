#pragma once

// Receives the database's change notices on a connection of its own
// (store::notice_connection) and applies them to the worker's read cache, on
// the worker's event loop. While that connection is down the cache is
// flushed and bypassed; it reconnects in the background (100 ms, doubling to
// 5 s) and the cache is flushed again when it is back.
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "granite/http/cache.hpp"
#include "granite/store/listen.hpp"

namespace granite::worker {

class notice_listener {
 public:
  notice_listener(boost::asio::io_context& ioc, std::string conninfo, http::read_cache& cache);
  ~notice_listener();
  notice_listener(const notice_listener&) = delete;
  notice_listener& operator=(const notice_listener&) = delete;

  // Connects now (the worker is booting anyway); on failure keeps trying in
  // the background.
  void start();
  void stop();

 private:
  void listen_on(std::unique_ptr<store::notice_connection> conn);
  void close_connection();
  void wait_for_notices();
  void on_readable();
  void lost(const std::string& why);
  void retry_later();
  void connect_in_background();

  boost::asio::io_context& ioc_;
  std::string conninfo_;
  http::read_cache& cache_;
  std::unique_ptr<store::notice_connection> conn_;
  std::unique_ptr<boost::asio::posix::stream_descriptor> socket_;
  boost::asio::steady_timer retry_;
  std::chrono::milliseconds backoff_{100};
  std::thread connector_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace granite::worker
