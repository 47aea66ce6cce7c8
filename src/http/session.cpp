#include "granite/http/session.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <optional>

#include "dispatch.hpp"
#include "encoding.hpp"
#include "granite/http/cache.hpp"
#include "granite/http/ids.hpp"
#include "granite/obs/access_log.hpp"
#include "granite/obs/log.hpp"
#include "granite/shm/metrics.hpp"
#include "linger.hpp"
#include "observe.hpp"
#include "request_reader.hpp"
#include "response_head.hpp"

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
// Its timeouts are deadlines that the worker's sweep checks
// (server_context::sweep) rather than a timer per operation:
//   waiting: the first byte of a request (header timeout on a new connection,
//            idle timeout between requests); silence just closes;
//   header:  the rest of the header, from its first byte; then 408;
//   body:    the body, from the end of the header; then 408;
//   writing: the client reading its response (body timeout); then close.
class session : public std::enable_shared_from_this<session> {
 public:
  session(asio::ip::tcp::socket socket, server_context& ctx) : socket_(std::move(socket)), ctx_(ctx) {
    ctx_.sessions.insert(this);
    beast::error_code ec;
    peer_ = address_of(socket_.remote_endpoint(ec).address());
    peer_text_ = peer_.text();
    if (ctx_.gauges) ctx_.gauges->connections.fetch_add(1, std::memory_order_relaxed);
  }
  ~session() {
    ctx_.sessions.erase(this);
    if (ctx_.gauges) {
      ctx_.gauges->connections.fetch_sub(1, std::memory_order_relaxed);
      if (in_flight_) ctx_.gauges->in_flight.fetch_sub(1, std::memory_order_relaxed);
    }
  }

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
    head_only_ = req_.method == verb::head;
    fill_.reset();
    if (ctx_.gauges) {
      ctx_.gauges->in_flight.fetch_add(1, std::memory_order_relaxed);
      in_flight_ = true;
    }
    find_client(req_.client, client_, peer_, peer_text_, head_.forwarded_for, ctx_.trusted_proxies);
    handle();
  }

  void handle() {
    bool read = req_.method == verb::get || req_.method == verb::head;
    route_ = nullptr;
    cache_use_ = obs::access_record::cache_use::none;
    auto position = presented_position(head_.position, head_.cookie);
    if (!position) return respond(problem(position.err(), req_));
    req_.position = *position;
    // A position the instance's cache may not have caught up with yet (a
    // write through another instance): the read goes to the database.
    if (read && (req_.position == 0 || ctx_.cache.holds_position(req_.position))) {
      if (auto hit = ctx_.cache.find(req_.target)) {
        route_ = hit->from;
        cache_use_ = obs::access_record::cache_use::hit;
        return send_cached(std::move(hit));
      }
    }
    auto m = ctx_.routes.find(req_);
    if (!m.found) return respond(std::move(m.refusal));
    route_ = m.found;
    // A malformed key is refused before anything is done, on every write
    // (the routes that keep no write under a key take none).
    if (!read && req_.idempotency_keys > 0)
      if (auto key = idempotency_key(req_); !key) return respond(problem(key.err(), req_));
    if (read && m.found->cache) {
      cache_use_ = obs::access_record::cache_use::miss;
      ctx_.cache.count_miss();
      want_fill(*m.found->cache, m.values);
    }
    if (auto* run = std::get_if<plain_handler>(&m.found->run)) return respond(answer_plain(*run, req_, m.values));
    // The request and its params stay here, unchanged, until the answer.
    params_ = std::move(m.values);
    dispatch(std::get<async_handler>(m.found->run), req_, params_, ctx_.svc,
             [self = shared_from_this()](response r) { self->respond(std::move(r)); });
  }

  // A cacheable read: its 200 will carry an ETag and be kept, unless a
  // change notice for what it shows arrives before it is answered.
  void want_fill(const cache_rule& rule, const params& values) {
    std::int64_t id = 0;
    if (!rule.param.empty()) {
      auto parsed = parse_id(values.get(rule.param), rule.param);
      if (!parsed) return;  // the route answers 400
      id = *parsed;
    }
    fill_ = pending_fill{{rule.kind, id}, ctx_.cache.epoch()};
  }

  // A request that could not be read: answer why, then close.
  void refuse(beast::error_code ec) {
    bool in_body = phase_ == phase::body;
    keep_alive_ = false;
    head_only_ = false;
    parsed_ = false;
    started_ = clock::now();
    phase_ = phase::busy;
    fill_.reset();
    route_ = nullptr;
    cache_use_ = obs::access_record::cache_use::none;
    client_ = peer_text_;
    request req;
    req.request_id = obs::next_request_id();
    req_.request_id = req.request_id;
    respond(unreadable(ec, late_, in_body, ctx_.limit, reader_->refused(), req));
  }

  // --- writing ------------------------------------------------------------

  void respond(response r) {
    if (r.position) {
      // Before the write's notices: a worker that reads them finds the
      // floor past the write.
      ctx_.cache.raise_floor(r.position);
      auto at = format_lsn(r.position);
      r.headers.emplace_back(position_header, at);
      r.headers.emplace_back("Set-Cookie", std::string(position_cookie) + "=" + at + "; Path=/; Max-Age=" +
                                               std::to_string(position_cookie_max_age_s) + "; SameSite=Lax");
    }
    for (const auto& c : r.changes) ctx_.cache.apply_own_change(c.notice, c.drops);
    if (fill_ && r.status == 200) {
      // Compressed when it may be kept (once, for every later hit), or for
      // this client when it takes gzip.
      bool compress = ctx_.cache.may_keep(r.body.size()) || prefers_gzip(head_.accept_encoding);
      auto kept = kept_response(std::move(r), route_, compress);
      ctx_.cache.fill(req_.target, fill_->group, kept, fill_->since);
      return send_cached(std::move(kept));
    }
    out_.start(r.status);
    if (!r.content_type.empty()) out_.header("Content-Type", r.content_type);
    for (const auto& [name, value] : r.headers) out_.header(name, value);
    bool bodiless = r.status == 204 || r.status == 304 || r.status < 200;
    if (!bodiless) out_.content_length(r.body.size());  // a HEAD's is that of the GET
    finish_head();
    body_ = std::move(r.body);
    if (head_only_ || bodiless) body_.clear();
    do_write(body_);
  }

  // A kept response, or one about to be kept, in the variant the client
  // takes: 304 when it has that one.
  void send_cached(std::shared_ptr<const cached_response> kept) {
    auto v = choose_variant(*kept, head_.accept_encoding);
    bool not_modified = !head_.if_none_match.empty() && etag_matches(head_.if_none_match, v.etag);
    out_.start(not_modified ? 304 : 200);
    if (!not_modified) {
      out_.header("Content-Type", json_type);
      if (v.gzip) out_.header("Content-Encoding", "gzip");
      out_.content_length(v.body.size());
      out_.raw(kept->headers);
    }
    out_.header("ETag", v.etag);
    if (kept->varies) out_.header("Vary", "Accept-Encoding");
    finish_head();
    cached_ = std::move(kept);
    do_write(not_modified || head_only_ ? std::string_view() : v.body);
  }

  void finish_head() {
    if (ctx_.closing) keep_alive_ = false;
    out_.finish(req_.request_id, keep_alive_, head_.version);
  }

  void do_write(std::string_view body) {
    phase_ = phase::writing;
    auto now = clock::now();
    deadline_ = now + ctx_.limit.body_timeout;  // a client that does not read its response
    answered_ = {route_, parsed_ ? req_.method : verb::other, out_.status(), out_.text().size(), body.size(),
                 micros_between(started_, now)};
    // Counted before the client can have it: once a client holds its
    // answer, the instance's metrics hold it too (whatever befalls the
    // worker next).
    count(answered_);
    std::array<asio::const_buffer, 2> buffers{asio::buffer(out_.text()), asio::buffer(body.data(), body.size())};
    asio::async_write(socket_, buffers, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->on_write(ec);
    });
  }

  void on_write(beast::error_code ec) {
    if (ctx_.access_log) {
      answered_.duration_us = micros_between(started_, clock::now());  // the line's duration includes the write
      log_access(*ctx_.access_log, answered_,
                 {req_.request_id, client_, parsed_ ? &req_ : nullptr, parsed_ ? &head_ : nullptr}, cache_use_);
    }
    cached_.reset();
    if (ec) return fail(ec, "write");
    if (!keep_alive_) {  // the client may have sent more already
      deadline_ = clock::time_point::max();
      return close_lingering(std::move(socket_), ctx_.lingering);
    }
    next_request();
  }

  // The instance's metrics: a few relaxed atomic adds on this slot's cells.
  void count(const answered& a) {
    if (in_flight_) {
      ctx_.gauges->in_flight.fetch_sub(1, std::memory_order_relaxed);
      in_flight_ = false;
    }
    if (ctx_.metrics) http::count(*ctx_.metrics, a);
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

  struct pending_fill {
    cache_group group;
    std::uint64_t since;
  };

  asio::ip::tcp::socket socket_;
  server_context& ctx_;
  beast::flat_buffer buffer_;
  request req_;        // reused: its strings keep their capacity
  params params_;      // the route's {params} of the request being answered
  request_head head_;  // likewise
  response_head out_;  // the status line and headers of the response, likewise
  std::optional<request_reader> reader_;
  phase phase_ = phase::waiting;
  clock::time_point deadline_ = clock::time_point::max();
  bool late_ = false;  // the deadline cut the read off
  std::optional<pending_fill> fill_;
  std::string body_;  // the response's body, unless it is a kept one
  std::shared_ptr<const cached_response> cached_;
  std::uint64_t requests_ = 0;
  clock::time_point accepted_at_ = clock::now();
  bool keep_alive_ = true;
  bool head_only_ = false;
  bool parsed_ = false;
  answered answered_{};  // the response being written
  clock::time_point started_;
  ip_address peer_;
  std::string peer_text_;
  std::string client_;  // of the request being answered
  const route* route_ = nullptr;
  obs::access_record::cache_use cache_use_ = obs::access_record::cache_use::none;
  bool in_flight_ = false;  // counted in the gauges' requests in flight
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
