#include "granite/http/problem.hpp"

#include <nlohmann/json.hpp>

namespace granite::http {

response problem(int status, std::string detail, const request& req) {
  nlohmann::ordered_json body = {
      {"type", "about:blank"},
      {"title", reason(status)},
      {"status", status},
      {"detail", std::move(detail)},
  };
  // The path is client input and may hold any byte: invalid UTF-8 is replaced
  // (U+FFFD) below so that the problem itself always serializes. A request
  // that could not be parsed has no path, and so no instance.
  if (!req.path.empty()) body["instance"] = req.path;
  if (!req.request_id.empty()) body["requestId"] = req.request_id;
  response out{status, std::string(problem_type),
               body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace), {}};
  return out;
}

response problem(const error& e, const request& req) {
  switch (e.kind) {
    case error::code::invalid_argument: return problem(400, e.message, req);
    case error::code::not_found: return problem(404, e.message, req);
    case error::code::conflict: return problem(409, e.message, req);
    case error::code::unavailable: {
      auto out = problem(503, e.message, req);
      out.headers.emplace_back("Retry-After", "1");
      return out;
    }
    case error::code::internal: break;
  }
  return problem(500, e.message, req);
}

}  // namespace granite::http
