#include "linger.hpp"

#include <array>
#include <boost/asio/steady_timer.hpp>
#include <memory>

namespace granite::http {

namespace {

namespace asio = boost::asio;
using error_code = boost::system::error_code;

class lingering : public std::enable_shared_from_this<lingering> {
 public:
  lingering(asio::ip::tcp::socket socket, std::size_t& count)
      : socket_(std::move(socket)), timer_(socket_.get_executor()), count_(count) {
    ++count_;
  }
  ~lingering() { --count_; }
  lingering(const lingering&) = delete;
  lingering& operator=(const lingering&) = delete;

  void start() {
    error_code ec;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
    if (ec) return finish();
    timer_.expires_after(linger_time);
    timer_.async_wait([self = shared_from_this()](error_code wait_ec) {
      if (!wait_ec) self->finish();
    });
    read();
  }

 private:
  void read() {
    socket_.async_read_some(asio::buffer(discard), [self = shared_from_this()](error_code ec, std::size_t n) {
      self->read_ += n;
      if (ec || self->read_ >= linger_bytes) return self->finish();
      self->read();
    });
  }

  void finish() {
    error_code ec;
    timer_.cancel();
    socket_.close(ec);
  }

  // What is read is thrown away: every lingering connection of the thread
  // reads into the same bytes.
  static thread_local inline std::array<char, 4096> discard;

  asio::ip::tcp::socket socket_;
  asio::steady_timer timer_;
  std::size_t& count_;
  std::size_t read_ = 0;
};

}  // namespace

void close_lingering(asio::ip::tcp::socket socket, std::size_t& count) {
  if (!socket.is_open()) return;
  std::make_shared<lingering>(std::move(socket), count)->start();
}

}  // namespace granite::http
