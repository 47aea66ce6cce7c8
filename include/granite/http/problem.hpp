#pragma once

// RFC 9457 problem details, and the one place that maps domain errors to
// HTTP statuses.
#include <string>

#include "granite/error.hpp"
#include "granite/http/message.hpp"

namespace granite::http {

response problem(int status, std::string detail, const request& req);

// invalid_argument 400, not_found 404, conflict 409, unavailable 503 (with
// Retry-After), internal 500.
response problem(const error& e, const request& req);

}  // namespace granite::http
