#include "granite/http/session.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <charconv>
#include <ctime>
#include <optional>
#include <pqxx/except>

#include "granite/http/bulkhead.hpp"
#include "granite/http/cache.hpp"
#include "granite/http/ids.hpp"
#include "granite/http/problem.hpp"
#include "granite/obs/log.hpp"
#include "granite/store/pool.hpp"
#include "granite/version.hpp"

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

// The end of the status line, the Server header naming the release (so that a
// rollout can be watched from the outside) and the Date header's name.
const std::string& server_and_date() {
  static const std::string line = std::string("\r\nServer: granite/") + granite::version + "\r\nDate: ";
  return line;
}

std::string_view view(beast::string_view s) { return {s.data(), s.size()}; }

// A client's X-Request-Id is kept when it is a plain token.
bool plain_request_id(std::string_view given) {
  if (given.empty() || given.size() > 128) return false;
  for (char ch : given) {
    bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                 ch == '_' || ch == '.' || ch == ':';
    if (!plain) return false;
  }
  return true;
}

void append_number(std::string& out, std::uint64_t n) {
  char buf[24];
  auto end = std::to_chars(buf, buf + sizeof buf, n).ptr;
  out.append(buf, end);
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

// What a session keeps of a request's header beyond the `request` itself.
struct request_head {
  int version = 11;
  std::string method;  // as sent, for the access log
  std::string if_none_match;
  bool expect_continue = false;
};

// Beast's parser (its grammar, its header and body limits) writing into the
// session's request and head, whose strings keep their capacity from one
// request to the next: reading a request allocates nothing once they have
// grown. The first of repeated fields counts, as with Beast's own fields.
class request_reader final : public bhttp::basic_parser<true> {
 public:
  request_reader(request& req, request_head& head) : req_(req), head_(head) {
    req_.target.clear();
    req_.content_type.clear();
    req_.authorization.clear();
    req_.request_id.clear();
    req_.body.clear();
    head_.if_none_match.clear();
    head_.expect_continue = false;
  }

 private:
  void on_request_impl(bhttp::verb, beast::string_view method, beast::string_view target, int version,
                       beast::error_code&) override {
    req_.method = parse_verb(view(method));
    head_.method.assign(method.data(), method.size());
    req_.target.assign(target.data(), target.size());
    head_.version = version;
  }
  void on_response_impl(int, beast::string_view, int, beast::error_code&) override {}
  void on_field_impl(bhttp::field name, beast::string_view name_text, beast::string_view value,
                     beast::error_code&) override {
    auto keep_first = [&](std::string& into, bool& seen) {
      if (!seen) into.assign(value.data(), value.size());
      seen = true;
    };
    switch (name) {
      case bhttp::field::content_type: return keep_first(req_.content_type, seen_content_type_);
      case bhttp::field::authorization: return keep_first(req_.authorization, seen_authorization_);
      case bhttp::field::if_none_match:
        if (!head_.if_none_match.empty()) head_.if_none_match += ", ";
        head_.if_none_match.append(value.data(), value.size());
        return;
      case bhttp::field::expect:
        if (!seen_expect_) head_.expect_continue = beast::iequals(value, "100-continue");
        seen_expect_ = true;
        return;
      default:
        if (beast::iequals(name_text, "x-request-id")) keep_first(req_.request_id, seen_request_id_);
    }
  }
  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& length, beast::error_code&) override {
    if (length) req_.body.reserve(static_cast<std::size_t>(*length));
  }
  std::size_t on_body_impl(beast::string_view s, beast::error_code&) override {
    req_.body.append(s.data(), s.size());
    return s.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view s, beast::error_code& ec) override {
    return on_body_impl(s, ec);
  }
  void on_finish_impl(beast::error_code&) override {}

  request& req_;
  request_head& head_;
  bool seen_content_type_ = false, seen_authorization_ = false, seen_request_id_ = false, seen_expect_ = false;
};

constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";

}  // namespace

// One connection. Its timeouts are deadlines that the worker's sweep checks
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

  void next_request() {
    reader_.emplace(req_, head_);
    reader_->header_limit(static_cast<std::uint32_t>(ctx_.limit.header_bytes));
    reader_->body_limit(ctx_.limit.body_bytes);
    reader_->eager(true);
    phase_ = phase::waiting;
    late_ = false;
    if (buffer_.size() > 0) return parse();  // a pipelined request is already here
    deadline_ = clock::now() + (requests_ == 0 ? ctx_.limit.header_timeout : ctx_.limit.idle_timeout);
    read_more();
  }

  void read_more() {
    socket_.async_read_some(buffer_.prepare(read_bytes), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
      self->buffer_.commit(n);
      self->on_bytes(ec);
    });
  }

  void on_bytes(beast::error_code ec) {
    if (ec == asio::error::eof && reader_->got_some() && !late_) {
      beast::error_code eof_ec;
      reader_->put_eof(eof_ec);  // a body delimited by the end of the stream, or a cut-off request
      if (!eof_ec && reader_->is_done()) return on_request();
      return refuse(eof_ec ? eof_ec : ec);
    }
    if (ec && late_) return refuse(ec);
    if (ec) return close();
    parse();
  }

  // Feeds what has arrived to the parser; reads more while it wants more.
  void parse() {
    while (buffer_.size() > 0) {
      beast::error_code ec;
      auto used = reader_->put(buffer_.data(), ec);
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
      if (head_.expect_continue) {
        return asio::async_write(socket_, asio::buffer(continue_line.data(), continue_line.size()),
                                 [self = shared_from_this()](beast::error_code ec, std::size_t) {
                                   if (ec) return self->close();
                                   self->read_more();
                                 });
      }
    }
    read_more();
  }

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
    handle();
  }

  void handle() {
    bool read = req_.method == verb::get || req_.method == verb::head;
    if (read) {
      if (auto hit = ctx_.cache.find(req_.target)) return send_cached(std::move(hit));
    }
    auto m = ctx_.routes.find(req_);
    if (!m.found) return respond(std::move(m.refusal));
    if (read && m.found->cache) want_fill(*m.found->cache, m.values);
    // A plain route answers here, on the loop: nothing to share with a pool.
    if (auto* run = std::get_if<plain_handler>(&m.found->run)) {
      try {
        return respond((*run)(req_, m.values));
      } catch (const std::exception& e) {
        return respond(internal("handler", e, req_));
      }
    }
    auto req = std::make_shared<const request>(req_);
    if (auto* run = std::get_if<db_handler>(&m.found->run))
      return advance(on_database([run, values = std::move(m.values)](const request& r, store::connection& c) {
                       return done((*run)(r, values, c));
                     }),
                     req, true);
    const auto& staged = std::get<staged_handler>(m.found->run);
    advance(guarded([&] { return staged(*req, m.values); }, *req), req, true);
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

  // Takes a request's work one step further: a response goes back to the
  // event loop; a step goes to the pool it names, and what it returns comes
  // back here. A full pool answers 503 at once. Runs on any thread.
  void advance(outcome o, const std::shared_ptr<const request>& req, bool on_loop) {
    auto self = shared_from_this();
    if (auto* r = std::get_if<response>(&o.next)) {
      if (on_loop) return respond(std::move(*r));
      asio::post(socket_.get_executor(), [self, r = std::move(*r)]() mutable { self->respond(std::move(r)); });
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
    bool body_late = phase_ == phase::body;
    keep_alive_ = false;
    head_only_ = false;
    parsed_ = false;
    started_ = clock::now();
    phase_ = phase::busy;
    fill_.reset();
    request req;
    req.request_id = obs::next_request_id();
    req_.request_id = req.request_id;
    if (late_) {
      const char* what = body_late ? "body" : "header";
      auto after = body_late ? ctx_.limit.body_timeout : ctx_.limit.header_timeout;
      return respond(problem(408, std::string("the request ") + what + " did not arrive within " +
                                      std::to_string(after.count()) + " s (http." + what + "_timeout_s)",
                             req));
    }
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

  // The status line and the headers every response has.
  void start_head(int status) {
    status_ = status;
    out_.clear();
    out_ += "HTTP/1.1 ";
    append_number(out_, static_cast<std::uint64_t>(status));
    out_ += ' ';
    out_ += reason(status);
    out_ += server_and_date();
    out_ += http_date();
    out_ += "\r\n";
  }

  void header(std::string_view name, std::string_view value) {
    out_ += name;
    out_ += ": ";
    out_ += value;
    out_ += "\r\n";
  }

  void content_length(std::size_t n) {
    out_ += "Content-Length: ";
    append_number(out_, n);
    out_ += "\r\n";
  }

  void end_head() {
    header("X-Request-Id", req_.request_id);
    if (ctx_.closing) keep_alive_ = false;
    if (!keep_alive_ && head_.version >= 11) out_ += "Connection: close\r\n";
    if (keep_alive_ && head_.version < 11) out_ += "Connection: keep-alive\r\n";
    out_ += "\r\n";
  }

  void respond(response r) {
    for (const auto& notice : r.invalidate) ctx_.cache.apply_own_notice(notice);
    if (fill_ && r.status == 200) {
      auto kept = std::make_shared<cached_response>();
      for (const auto& [name, value] : r.headers) kept->headers.append(name).append(": ").append(value).append("\r\n");
      kept->etag = etag_of(r.body);
      kept->body = std::move(r.body);
      ctx_.cache.fill(req_.target, fill_->group, kept, fill_->since);
      return send_cached(std::move(kept));
    }
    start_head(r.status);
    if (!r.content_type.empty()) header("Content-Type", r.content_type);
    for (const auto& [name, value] : r.headers) header(name, value);
    bool bodiless = r.status == 204 || r.status == 304 || r.status < 200;
    if (!bodiless) content_length(r.body.size());  // a HEAD's is that of the GET
    end_head();
    body_ = std::move(r.body);
    if (head_only_ || bodiless) body_.clear();
    send(body_);
  }

  // A kept response, or one about to be kept: 304 when the client has it.
  void send_cached(std::shared_ptr<const cached_response> kept) {
    bool not_modified = !head_.if_none_match.empty() && etag_matches(head_.if_none_match, kept->etag);
    start_head(not_modified ? 304 : 200);
    if (!not_modified) {
      header("Content-Type", json_type);
      content_length(kept->body.size());
      out_ += kept->headers;
    }
    header("ETag", kept->etag);
    end_head();
    cached_ = std::move(kept);
    send(not_modified || head_only_ ? std::string_view() : std::string_view(cached_->body));
  }

  void send(std::string_view body) {
    phase_ = phase::writing;
    deadline_ = clock::now() + ctx_.limit.body_timeout;  // a client that does not read its response
    body_bytes_ = body.size();
    std::array<asio::const_buffer, 2> buffers{asio::buffer(out_), asio::buffer(body.data(), body.size())};
    asio::async_write(socket_, buffers, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->on_write(ec);
    });
  }

  void on_write(beast::error_code ec) {
    log_access();
    cached_.reset();
    if (ec || !keep_alive_) return close();
    next_request();
  }

  void log_access() {
    if (!ctx_.access_log) return;
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - started_).count();
    std::string_view method = parsed_ ? std::string_view(head_.method) : "-";
    std::string_view target = parsed_ ? std::string_view(req_.target) : "-";
    spdlog::info("access {} {} {} {}B {}us rid={}", method, target, status_, body_bytes_, us, req_.request_id);
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
  request req_;         // reused: its strings keep their capacity
  request_head head_;   // likewise
  std::optional<request_reader> reader_;
  phase phase_ = phase::waiting;
  clock::time_point deadline_ = clock::time_point::max();
  bool late_ = false;  // the deadline cut the read off
  std::optional<pending_fill> fill_;
  std::string out_;   // the response's status line and headers
  std::string body_;  // the response's body, unless it is a kept one
  std::shared_ptr<const cached_response> cached_;
  std::uint64_t requests_ = 0;
  clock::time_point accepted_at_ = clock::now();
  bool keep_alive_ = true;
  bool head_only_ = false;
  bool parsed_ = false;
  int status_ = 0;
  std::size_t body_bytes_ = 0;
  clock::time_point started_;
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
  if (ctx.sessions.size() >= ctx.limit.max_connections) {
    beast::error_code ec;
    socket.close(ec);
    return false;
  }
  std::make_shared<session>(std::move(socket), ctx)->start();
  return true;
}

}  // namespace granite::http
