#include "granite/http/session.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <optional>

#include "granite/obs/log.hpp"
#include "linger.hpp"
#include "observe.hpp"
#include "request_reader.hpp"
#include "responder.hpp"

namespace granite::http {

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

namespace {
constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";
}  // namespace

// One connection, in the shape of Beast's own asynchronous server: do_read /
// on_read, do_write / on_write, and fail() for a connection that is gone.
// What a request is answered with is the responder's (responder.hpp); what
// the instance is told of it, the report's (observe.hpp).
// Its timeouts are deadlines that the worker's sweep checks
// (server_context::sweep) rather than a timer per operation:
//   waiting: the first byte of a request (header timeout on a new connection,
//            idle timeout between requests); silence just closes;
//   header:  the rest of the header, from its first byte; then 408;
//   body:    the body, from the end of the header; then 408;
//   writing: the client reading its response (body timeout); then close.
class session : public std::enable_shared_from_this<session>, public responder::listener {
 public:
  session(asio::ip::tcp::socket socket, server_context& ctx)
      : socket_(std::move(socket)), ctx_(ctx), responder_(ctx), report_(ctx.metrics, ctx.gauges, ctx.access_log) {
    ctx_.sessions.insert(this);
    beast::error_code ec;
    peer_ = address_of(socket_.remote_endpoint(ec).address());
    peer_text_ = peer_.text();
  }
  ~session() { ctx_.sessions.erase(this); }

  void start() {
    asio::dispatch(socket_.get_executor(), [self = shared_from_this()] { self->next_request(); });
  }

  // Called while the worker stops: a connection waiting for its next request
  // closes now, a busy one after its response. A new connection that has not
  // sent its first request yet gets a second to do so.
  void close_when_idle(clock::time_point now) {
    bool fresh = requests_ == 0 && now - accepted_at_ < std::chrono::seconds(1);
    if (idle() && !fresh) close();
  }

  void check_deadline(clock::time_point now) {
    if (now < deadline_) return;
    deadline_ = clock::time_point::max();
    if (phase_ == phase::header || phase_ == phase::body) {
      late_ = true;  // the read ends with operation_aborted, answered 408
      beast::error_code ec;
      socket_.cancel(ec);
      return;
    }
    close();
  }

 private:
  enum class phase { waiting, header, body, busy, writing };

  // Waiting for a request of which no byte has arrived yet.
  bool idle() const { return phase_ == phase::waiting && buffer_.size() == 0; }

  // --- reading ------------------------------------------------------------

  void next_request() {
    reader_.emplace(req_, head_);
    reader_->limit_header(ctx_.limit.header_bytes);
    reader_->limit_body(ctx_.limit.body_bytes);
    reader_->eager(true);
    phase_ = phase::waiting;
    late_ = false;
    if (buffer_.size() > 0) return parse();  // a pipelined request is already here
    deadline_ = clock::now() + (requests_ == 0 ? ctx_.limit.header_timeout : ctx_.limit.idle_timeout);
    do_read();
  }

  void do_read() {
    socket_.async_read_some(buffer_.prepare(read_bytes), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
      self->on_read(ec, n);
    });
  }

  void on_read(beast::error_code ec, std::size_t n) {
    buffer_.commit(n);
    if (ec == asio::error::eof && reader_->got_some() && !late_) {
      beast::error_code eof_ec;
      reader_->put_eof(eof_ec);  // a body delimited by the end of the stream, or a cut-off request
      if (!eof_ec && reader_->is_done()) return on_request();
      return refuse(eof_ec ? eof_ec : ec);
    }
    if (ec && late_) return refuse(ec);
    if (ec) return fail(ec, "read");
    parse();
  }

  // Feeds what has arrived to the parser; reads more while it wants more.
  void parse() {
    while (buffer_.size() > 0) {
      beast::error_code ec;
      auto used = reader_->feed(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == bhttp::error::need_more) break;
      if (ec) return refuse(ec);
      if (reader_->is_done()) return on_request();
      if (used == 0) break;
    }
    // The deadline passed while these bytes arrived, and they were not all.
    if (late_) return refuse(asio::error::operation_aborted);
    auto now = clock::now();
    if (phase_ == phase::waiting && reader_->got_some()) {
      phase_ = phase::header;
      deadline_ = now + ctx_.limit.header_timeout;
    }
    if (phase_ == phase::header && reader_->is_header_done()) {
      phase_ = phase::body;
      deadline_ = now + ctx_.limit.body_timeout;
      // A client that sends its body only when told to (curl does above
      // 1 KiB) is told at once; a body over the limit was refused with the
      // header.
      if (head_.expect_continue) return do_continue();
    }
    do_read();
  }

  void do_continue() {
    asio::async_write(socket_, asio::buffer(continue_line.data(), continue_line.size()),
                      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_continue(ec); });
  }

  void on_continue(beast::error_code ec) {
    if (ec) return fail(ec, "write 100-continue");
    do_read();
  }

  // --- handling -----------------------------------------------------------

  void on_request() {
    phase_ = phase::busy;
    deadline_ = clock::time_point::max();
    started_ = clock::now();
    ++requests_;
    parsed_ = true;
    split_target(req_.target, req_.path, req_.query);
    if (!plain_request_id(req_.request_id)) obs::next_request_id(req_.request_id);
    keep_alive_ = reader_->keep_alive() && !ctx_.closing &&
                  (ctx_.limit.max_requests == 0 || requests_ < ctx_.limit.max_requests);
    report_.request_read();
    find_client(req_.client, client_, peer_, peer_text_, head_.forwarded_for, ctx_.trusted_proxies);
    responder_.answer(req_, head_, shared_from_this());
  }

  // A request that could not be read: answer why, then close.
  void refuse(beast::error_code ec) {
    bool in_body = phase_ == phase::body;
    keep_alive_ = false;
    parsed_ = false;
    started_ = clock::now();
    phase_ = phase::busy;
    client_ = peer_text_;
    request req;
    req.request_id = obs::next_request_id();
    req_.request_id = req.request_id;
    responder_.refuse(unreadable(ec, late_, in_body, ctx_.limit, reader_->refused(), req));
    ready();
  }

  // --- writing ------------------------------------------------------------

  // The responder has the response: it goes out with the connection's fate.
  void ready() override {
    if (ctx_.closing) keep_alive_ = false;
    responder_.head().finish(req_.request_id, keep_alive_, head_.version);
    do_write();
  }

  void do_write() {
    phase_ = phase::writing;
    auto now = clock::now();
    deadline_ = now + ctx_.limit.body_timeout;  // a client that does not read its response
    const auto& out = responder_.head();
    auto body = responder_.body();
    answered_ = {responder_.matched(), parsed_ ? req_.method : verb::other, out.status(), out.text().size(),
                 body.size(), started_, now, responder_.cache_use(), req_.request_id, client_,
                 parsed_ ? &req_ : nullptr, parsed_ ? &head_ : nullptr};
    report_.answered(answered_, connection_report::stage::ready);
    std::array<asio::const_buffer, 2> buffers{asio::buffer(out.text()), asio::buffer(body.data(), body.size())};
    asio::async_write(socket_, buffers, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->on_write(ec);
    });
  }

  void on_write(beast::error_code ec) {
    report_.answered(answered_, connection_report::stage::written);
    responder_.written();
    if (ec) return fail(ec, "write");
    if (!keep_alive_) {  // the client may have sent more already
      deadline_ = clock::time_point::max();
      return close_lingering(std::move(socket_), ctx_.lingering);
    }
    next_request();
  }

  // The client is gone, or its connection failed: nothing to answer.
  void fail(beast::error_code ec, const char* what) {
    spdlog::debug("connection closed: {}: {}", what, ec.message());
    close();
  }

  void close() {
    deadline_ = clock::time_point::max();
    beast::error_code ec;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
    socket_.close(ec);
  }

  static constexpr std::size_t read_bytes = 4096;

  asio::ip::tcp::socket socket_;
  server_context& ctx_;
  beast::flat_buffer buffer_;
  request req_;        // reused: its strings keep their capacity
  request_head head_;  // likewise
  std::optional<request_reader> reader_;
  responder responder_;  // what the request is answered with
  connection_report report_;
  phase phase_ = phase::waiting;
  clock::time_point deadline_ = clock::time_point::max();
  bool late_ = false;  // the deadline cut the read off
  std::uint64_t requests_ = 0;
  clock::time_point accepted_at_ = clock::now();
  bool keep_alive_ = true;
  bool parsed_ = false;  // the request being answered was read (not refused)
  answered answered_{};  // the response being written
  clock::time_point started_;
  ip_address peer_;
  std::string peer_text_;
  std::string client_;  // of the request being answered
};

void server_context::close_connections() {
  closing = true;
  auto now = clock::now();
  std::vector<session*> open(sessions.begin(), sessions.end());
  for (auto* s : open) s->close_when_idle(now);
}

void server_context::sweep() {
  auto now = clock::now();
  for (auto* s : sessions) s->check_deadline(now);
}

bool start_session(asio::ip::tcp::socket socket, server_context& ctx) {
  // A connection answered for the last time still holds its descriptor
  // while it lingers: it counts, or clients that never close could take
  // every descriptor the worker has.
  if (ctx.sessions.size() + ctx.lingering >= ctx.limit.max_connections) {
    beast::error_code ec;
    socket.close(ec);
    return false;
  }
  std::make_shared<session>(std::move(socket), ctx)->start();
  return true;
}

}  // namespace granite::http
