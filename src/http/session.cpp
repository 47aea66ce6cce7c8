#include "granite/http/session.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <ctime>
#include <optional>
#include <pqxx/except>

#include "granite/http/bulkhead.hpp"
#include "granite/http/problem.hpp"
#include "granite/obs/log.hpp"
#include "granite/store/pool.hpp"

namespace granite::http {

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

namespace {

// The Date header, formatted at most once a second per thread.
const std::string& http_date() {
  thread_local std::time_t cached_second = 0;
  thread_local std::string cached;
  std::time_t now = std::time(nullptr);
  if (now != cached_second) {
    char buf[64];
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached = buf;
    cached_second = now;
  }
  return cached;
}

// A client's X-Request-Id is kept when it is a plain token; otherwise a new id.
std::string request_id_from(std::string_view given) {
  if (given.empty() || given.size() > 128) return obs::next_request_id();
  for (char ch : given) {
    bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                 ch == '_' || ch == '.' || ch == ':';
    if (!plain) return obs::next_request_id();
  }
  return std::string(given);
}

response unavailable(std::string detail, const request& req) {
  return problem(error{error::code::unavailable, std::move(detail)}, req);
}

response internal(const char* where, const std::exception& e, const request& req) {
  spdlog::error("{} failed for {} {} rid={}: {}", where, verb_name(req.method), req.target, req.request_id, e.what());
  return problem(500, "an internal error occurred; the request id identifies it in granite's log", req);
}

// Runs a database step on a pool thread; every failure becomes a response.
outcome run_db_step(const db_step& step, const request& req, store::connection* c) {
  if (!c) return done(unavailable("the database is unreachable; retry shortly", req));
  try {
    return step(req, *c);
  } catch (const pqxx::broken_connection&) {
    return done(unavailable("the database connection was lost; retry shortly", req));
  } catch (const pqxx::sql_error& e) {
    if (e.sqlstate() == "57014") return done(unavailable("the database did not answer in time; retry shortly", req));
    if (e.sqlstate().starts_with("57P") || e.sqlstate().starts_with("08"))
      return done(unavailable("the database is restarting or unreachable; retry shortly", req));
    return done(internal("query", e, req));
  } catch (const std::exception& e) {
    return done(internal("handler", e, req));
  }
}

template <class Step>
outcome guarded(const Step& step, const request& req) {
  try {
    return step();
  } catch (const std::exception& e) {
    return done(internal("handler", e, req));
  }
}

}  // namespace

class session : public std::enable_shared_from_this<session> {
 public:
  session(asio::ip::tcp::socket socket, server_context& ctx) : stream_(std::move(socket)), ctx_(ctx) {
    ctx_.sessions.insert(this);
  }
  ~session() { ctx_.sessions.erase(this); }

  void start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->do_read(); });
  }

  // Called while the worker stops: a connection waiting for its next request
  // closes now, a busy one after its response. A new connection that has not
  // sent its first request yet gets a second to do so.
  void close_when_idle(clock::time_point now) {
    bool fresh = requests_ == 0 && now - accepted_at_ < std::chrono::seconds(1);
    if (idle() && !fresh) {
      beast::error_code ec;
      stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
      stream_.close();
    }
  }

 private:
  // Waiting for a request of which no byte has arrived yet.
  bool idle() const { return waiting_ && buffer_.size() == 0 && !(parser_ && parser_->got_some()); }

  // Reading a request has three clocks, so that a client trickling bytes
  // holds a connection only so long: the first byte (idle timeout between
  // requests, header timeout on a new connection), the rest of the header
  // (header timeout), the body (body timeout). The first is the stream's own:
  // silence just closes. The other two answer 408 before closing.
  void do_read() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(ctx_.limit.header_bytes));
    parser_->body_limit(ctx_.limit.body_bytes);
    waiting_ = true;
    if (buffer_.size() > 0) return read_header();  // a pipelined request is already here
    stream_.expires_after(requests_ == 0 ? ctx_.limit.header_timeout : ctx_.limit.idle_timeout);
    stream_.async_read_some(buffer_.prepare(first_read_bytes),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->buffer_.commit(n);
                              if (ec) return self->on_read(ec);
                              self->read_header();
                            });
  }

  void read_header() {
    stream_.expires_never();
    arm_deadline(ctx_.limit.header_timeout, "header");
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    if (ec || parser_->is_done()) return on_read(ec);
    // A client that sends its body only when told to (curl does above 1 KiB)
    // is told at once; a body over the limit was refused with the header.
    if (beast::iequals(parser_->get()[bhttp::field::expect], "100-continue")) {
      deadline_.cancel();
      go_ahead_.emplace(bhttp::status::continue_, 11);
      stream_.expires_after(ctx_.limit.body_timeout);
      return bhttp::async_write(stream_, *go_ahead_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
        self->stream_.expires_never();
        if (ec) return self->close();
        self->read_body();
      });
    }
    read_body();
  }

  void read_body() {
    arm_deadline(ctx_.limit.body_timeout, "body");
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void arm_deadline(std::chrono::seconds after, const char* what) {
    late_ = false;
    deadline_what_ = what;
    deadline_after_ = after;
    deadline_.expires_after(after);
    deadline_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec) return;  // cancelled: the read finished in time
      self->late_ = true;
      beast::error_code cancel_ec;
      self->stream_.socket().cancel(cancel_ec);
    });
  }

  void on_read(beast::error_code ec) {
    waiting_ = false;
    deadline_.cancel();
    // A read that completed as the deadline fired still counts: only a read
    // the deadline cut off is late.
    if (ec && late_) return refuse(ec);
    if (ec == bhttp::error::end_of_stream || ec == asio::error::eof || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
        ec == asio::error::bad_descriptor)
      return close();
    if (ec) return refuse(ec);

    started_ = clock::now();
    ++requests_;
    auto& msg = parser_->get();
    request req;
    req.method = parse_verb(msg.method_string());
    req.target = std::string(msg.target());
    split_target(req.target, req.path, req.query);
    req.request_id = request_id_from(msg["X-Request-Id"]);
    req.content_type = std::string(msg[bhttp::field::content_type]);
    req.authorization = std::string(msg[bhttp::field::authorization]);
    req.body = std::move(msg.body());
    keep_alive_ = msg.keep_alive() && !ctx_.closing &&
                  (ctx_.limit.max_requests == 0 || requests_ < ctx_.limit.max_requests);
    head_ = req.method == verb::head;
    method_ = std::string(msg.method_string());
    target_ = req.target;
    request_id_ = req.request_id;
    handle(std::move(req));
  }

  void handle(request in) {
    auto m = ctx_.routes.find(in);
    if (!m.found) return respond(std::move(m.refusal));
    // A plain route answers here, on the loop: nothing to share with a pool.
    if (auto* run = std::get_if<plain_handler>(&m.found->run)) {
      try {
        return respond((*run)(in, m.values));
      } catch (const std::exception& e) {
        return respond(internal("handler", e, in));
      }
    }
    auto req = std::make_shared<const request>(std::move(in));
    if (auto* run = std::get_if<db_handler>(&m.found->run))
      return advance(on_database([run, values = std::move(m.values)](const request& r, store::connection& c) {
                       return done((*run)(r, values, c));
                     }),
                     req, true);
    const auto& staged = std::get<staged_handler>(m.found->run);
    advance(guarded([&] { return staged(*req, m.values); }, *req), req, true);
  }

  // Takes a request's work one step further: a response goes back to the
  // event loop; a step goes to the pool it names, and what it returns comes
  // back here. A full pool answers 503 at once. Runs on any thread.
  void advance(outcome o, const std::shared_ptr<const request>& req, bool on_loop) {
    auto self = shared_from_this();
    if (auto* r = std::get_if<response>(&o.next)) {
      if (on_loop) return respond(std::move(*r));
      asio::post(stream_.get_executor(), [self, r = std::move(*r)]() mutable { self->respond(std::move(r)); });
      return;
    }
    if (auto* step = std::get_if<db_step>(&o.next)) {
      bool queued = ctx_.db.submit([self, req, step = std::move(*step)](store::connection* c) {
        self->advance(run_db_step(step, *req, c), req, false);
      });
      if (!queued)
        advance(done(unavailable("too many requests are waiting for the database; retry shortly", *req)), req, on_loop);
      return;
    }
    bool queued = ctx_.cpu.submit([self, req, step = std::move(std::get<cpu_step>(o.next))](bool expired) {
      if (expired)
        return self->advance(done(unavailable("waited too long for " + self->ctx_.cpu.name() + "; retry shortly", *req)),
                             req, false);
      self->advance(guarded([&] { return step(*req); }, *req), req, false);
    });
    if (!queued)
      advance(done(unavailable("too many requests are waiting for " + ctx_.cpu.name() + "; retry shortly", *req)), req,
              on_loop);
  }

  // A request that could not be parsed: answer why, then close.
  void refuse(beast::error_code ec) {
    keep_alive_ = false;
    head_ = false;
    started_ = clock::now();
    method_ = "-";
    target_ = "-";
    request req;
    req.request_id = request_id_ = obs::next_request_id();
    if (late_)
      return respond(problem(408, std::string("the request ") + deadline_what_ + " did not arrive within " +
                                      std::to_string(deadline_after_.count()) + " s (http." + deadline_what_ +
                                      "_timeout_s)",
                             req));
    if (ec == bhttp::error::header_limit)
      return respond(problem(431, "the request header is larger than " + std::to_string(ctx_.limit.header_bytes) +
                                      " bytes (http.header_limit_bytes)",
                             req));
    if (ec == bhttp::error::body_limit)
      return respond(problem(413, "the request body is larger than " + std::to_string(ctx_.limit.body_bytes) +
                                      " bytes (http.body_limit_bytes)",
                             req));
    respond(problem(400, "malformed HTTP request: " + ec.message(), req));
  }

  void respond(response r) {
    if (ctx_.closing) keep_alive_ = false;
    auto& out = response_;
    out = {};
    out.version(11);
    out.result(static_cast<unsigned>(r.status));
    out.set(bhttp::field::server, "granite");
    out.set(bhttp::field::date, http_date());
    if (!r.content_type.empty()) out.set(bhttp::field::content_type, r.content_type);
    for (auto& [name, value] : r.headers) out.set(name, value);
    out.set("X-Request-Id", request_id_);
    out.keep_alive(keep_alive_);
    body_bytes_ = r.body.size();
    out.body() = std::move(r.body);
    out.prepare_payload();
    if (head_) out.body().clear();  // Content-Length stays that of the GET
    status_ = r.status;
    do_write();
  }

  void do_write() {
    stream_.expires_after(ctx_.limit.body_timeout);  // a client that does not read its response
    bhttp::async_write(stream_, response_,
                       [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    log_access();
    if (ec) return close();
    if (!keep_alive_) return close();
    do_read();
  }

  void log_access() {
    if (!ctx_.access_log) return;
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - started_).count();
    spdlog::info("access {} {} {} {}B {}us rid={}", method_, target_, status_, head_ ? 0 : body_bytes_, us,
                 request_id_);
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
    stream_.close();
  }

  static constexpr std::size_t first_read_bytes = 4096;

  beast::tcp_stream stream_;
  server_context& ctx_;
  beast::flat_buffer buffer_;
  asio::steady_timer deadline_{stream_.get_executor()};
  const char* deadline_what_ = "";  // "header" or "body": the read the deadline guards
  std::chrono::seconds deadline_after_{};
  bool late_ = false;  // the deadline cut that read off
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bhttp::response<bhttp::string_body> response_;
  std::optional<bhttp::response<bhttp::empty_body>> go_ahead_;  // 100 Continue
  bool waiting_ = false;
  std::uint64_t requests_ = 0;
  clock::time_point accepted_at_ = clock::now();
  bool keep_alive_ = true;
  bool head_ = false;
  int status_ = 0;
  std::size_t body_bytes_ = 0;
  std::string method_, target_, request_id_;
  clock::time_point started_;
};

void server_context::close_connections() {
  closing = true;
  auto now = clock::now();
  std::vector<session*> open(sessions.begin(), sessions.end());
  for (auto* s : open) s->close_when_idle(now);
}

bool start_session(asio::ip::tcp::socket socket, server_context& ctx) {
  if (ctx.sessions.size() >= ctx.limit.max_connections) {
    beast::error_code ec;
    socket.close(ec);
    return false;
  }
  std::make_shared<session>(std::move(socket), ctx)->start();
  return true;
}

}  // namespace granite::http
