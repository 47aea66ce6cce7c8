#pragma once

// Content codings of cacheable responses (RFC 9110 §8.4, §12.5.3): a gzip
// variant made once, when a response is kept in the read cache, or for the
// one request that takes it when the response is not kept; and which
// variant a request takes.
#include <cstddef>
#include <string>
#include <string_view>

namespace granite::http {

struct cached_response;

// Bodies smaller than this go as they are: gzip's 18 bytes of framing and a
// saving within one packet are not worth a second copy.
inline constexpr std::size_t smallest_gzip_body = 1024;

// The gzip of `body` (libdeflate, level 1: a fifth to a half of level 6's
// time for 3 to 11 % more bytes on the forum's pages; nginx's default for
// answers it compresses as it sends them), or "" when the body is smaller
// than smallest_gzip_body or would not shrink by at least an eighth.
std::string gzip_of(std::string_view body);

// Whether an Accept-Encoding value (every field, joined by ", ") takes gzip
// over the identity: "gzip" or "x-gzip" (or "*" when neither is named) with
// a weight above 0 and at least the identity's, when "identity" (or "*")
// gives it one; unnamed, the identity ranks below any coding named (RFC
// 9110 §12.5.3). Names and "q" are case-insensitive; an element that breaks
// the grammar is skipped. No value at all: the identity.
bool prefers_gzip(std::string_view accept_encoding);

// The variant of a kept response a request gets.
struct variant {
  std::string_view body;
  std::string_view etag;
  bool gzip = false;
};
variant choose_variant(const cached_response& kept, std::string_view accept_encoding);

}  // namespace granite::http
