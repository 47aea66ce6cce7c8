#include "granite/http/problem.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace granite::http {

namespace {

nlohmann::ordered_json problem_body(int status, std::string detail, const request& req) {
  nlohmann::ordered_json body = {
      {"type", "about:blank"},
      {"title", reason(status)},
      {"status", status},
      {"detail", std::move(detail)},
  };
  // A request that could not be parsed has no path, and so no instance.
  if (!req.path.empty()) body["instance"] = req.path;
  if (!req.request_id.empty()) body["requestId"] = req.request_id;
  return body;
}

response with_body(int status, const nlohmann::ordered_json& body) {
  // The path and the messages may quote client input, which may hold any
  // byte: invalid UTF-8 is replaced (U+FFFD) so that the problem itself
  // always serializes.
  response r;
  r.status = status;
  r.content_type = problem_type;
  r.body = body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  return r;
}

int status_of(error::code kind) {
  switch (kind) {
    case error::code::invalid_argument: return 400;
    case error::code::unauthenticated: return 401;
    case error::code::forbidden: return 403;
    case error::code::not_found: return 404;
    case error::code::conflict: return 409;
    case error::code::precondition_failed: return 412;
    case error::code::precondition_required: return 428;
    case error::code::unsupported_media_type: return 415;
    case error::code::unprocessable: return 422;
    case error::code::too_many_requests: return 429;
    case error::code::unavailable: return 503;
    case error::code::internal: break;
  }
  return 500;
}

}  // namespace

response problem(int status, std::string detail, const request& req) {
  return with_body(status, problem_body(status, std::move(detail), req));
}

response problem(const error& e, const request& req) {
  int status = status_of(e.kind);
  if (e.kind == error::code::internal) {
    // A bug: what went wrong is for the log, which the request id finds.
    spdlog::error("{} {} rid={} failed: {}", method_of(req), req.target, req.request_id, e.message);
    return with_body(status,
                     problem_body(status, "an internal error occurred; the request id identifies it in granite's log", req));
  }
  auto body = problem_body(status, e.message, req);
  if (e.kind == error::code::invalid_argument) {
    // Always a list, so that clients can show every bad field at once.
    auto errors = nlohmann::ordered_json::array();
    for (const auto& f : e.fields) errors.push_back({{"field", f.field}, {"message", f.message}});
    if (e.fields.empty()) errors.push_back({{"field", ""}, {"message", e.message}});
    body["errors"] = std::move(errors);
  }
  auto out = with_body(status, body);
  if (status == 401) out.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"granite\"");
  if (e.retry_after_s > 0 || status == 503)
    out.headers.emplace_back("Retry-After", std::to_string(std::max(e.retry_after_s, 1)));
  return out;
}

}  // namespace granite::http
