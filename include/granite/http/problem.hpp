#pragma once

// RFC 9457 problem details, and the one place that maps domain errors to
// HTTP statuses.
#include <string>

#include "granite/error.hpp"
#include "granite/http/message.hpp"

namespace granite::http {

response problem(int status, std::string detail, const request& req);

// invalid_argument 400 (with an `errors` list of {field, message}),
// unauthenticated 401 (with WWW-Authenticate), forbidden 403, not_found 404,
// conflict 409, precondition_failed 412, unsupported_media_type 415,
// unprocessable 422, precondition_required 428, too_many_requests 429 (with
// Retry-After), unavailable 503 (with Retry-After), internal 500.
response problem(const error& e, const request& req);

}  // namespace granite::http
