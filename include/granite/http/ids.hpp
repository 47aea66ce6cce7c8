#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "granite/error.hpp"
#include "granite/http/message.hpp"

namespace granite::http {

// A record id from a path segment: decimal digits only, 1 .. 2^63-1.
// `what` names the id in the error ("user id").
result<std::int64_t> parse_id(std::string_view text, std::string_view what);

// The request's Idempotency-Key: nothing when it has none. As the IETF
// httpapi draft has it, a Structured Field string ("...", with \" and \\);
// a bare token of visible ASCII is taken too, as many clients send one.
// 1 to 255 characters. Refused (invalid_argument) when malformed, empty,
// longer, or sent twice.
result<std::optional<std::string>> idempotency_key(const request& req);

// The position a request presents for read-your-writes: the
// Granite-Position header, else the granite_position cookie (0: neither).
// A malformed header is refused (invalid_argument); a malformed cookie is
// ignored (another application's cookie of the same name, a client that
// mangled it).
result<std::uint64_t> presented_position(std::string_view header, std::string_view cookies);

}  // namespace granite::http
