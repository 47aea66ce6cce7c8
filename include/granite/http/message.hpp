#pragma once

// The request and response that handlers see. Deliberately free of Beast and
// Asio: features, the router and their tests never include the networking
// headers; only http/session.cpp converts between these and the wire.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "granite/http/invalidation.hpp"
#include "granite/network.hpp"
#include "granite/text.hpp"

namespace granite::http {

enum class verb { get, head, post, put, patch, delete_, options, other };

verb parse_verb(std::string_view name);
std::string_view verb_name(verb v);

// If-Match (RFC 9110 §13.1.1) as a PATCH or DELETE carries it: absent,
// `*` (any current representation), or the strong entity-tags it lists,
// quotes included. Weak ones are left out: If-Match compares strongly, so
// they never match.
struct if_match {
  bool present = false;
  bool any = false;
  std::vector<std::string> tags;
};

struct request {
  verb method = verb::get;
  std::string method_name;  // as sent: what a refusal names, verb::other's too
  std::string target;  // as sent, e.g. "/api/users?limit=5"
  std::string path;    // target without the query, still percent-encoded
  std::string query;   // after '?', without it
  std::string request_id;
  std::string content_type;
  std::string authorization;  // the Authorization header, as sent
  std::string accept;         // the Accept header, as sent
  std::string idempotency_key;  // the Idempotency-Key header, as sent
  int idempotency_keys = 0;     // how many Idempotency-Key fields came (more than one is refused)
  std::string body;
  ip_address client;  // the peer, or whom a trusted proxy names (http.trusted_proxies)
  // The position in the primary's log the client presents (a write's
  // answer gave it, in the Granite-Position header or cookie): a read is
  // answered from a state at or past it. 0: none.
  std::uint64_t position = 0;
  // Read by the responder for PATCH and DELETE only (a malformed one is
  // 400 before the handler runs); a conditional write compares it with
  // the record's version inside its own statement.
  struct if_match if_match;
};

// What a page of a list route (keyset pagination, features/page.hpp) holds:
// the first records above `after`, the last of them `last` (`after` when the
// page is empty), and `next` the first record after the page, 0 when there
// is none (no Link to it). A page read below a cursor (?before=, or
// order=desc) is `mirrored`: the same, over the ids negated (the first
// records below -after, down to -last; -next the first one under them).
// The read cache keeps a page until a change can touch it (http/cache.hpp).
struct page_span {
  std::int64_t after = 0;
  std::int64_t last = 0;
  std::int64_t next = 0;
  bool mirrored = false;
  bool operator==(const page_span&) const = default;
};

struct response {
  int status = 200;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // beyond the standard ones
  // The changes of a write (see http/cache.hpp), applied to this worker's
  // read cache, and put in the instance's ring, before the response
  // leaves: read-your-writes.
  struct change {
    std::string notice;  // for the ring (store/changes.hpp)
    invalidation drops;  // for this worker's cache
  };
  std::vector<change> changes;
  // A page of a list: what it spans. A cached page without one is dropped
  // by any change of its group.
  std::optional<page_span> page;
  // A write's commit position (store::answer::position), 0 when unknown:
  // the instance's floor rises to it, and the client is given it
  // (Granite-Position, and the cookie of the same name) to present to any
  // instance.
  std::uint64_t position = 0;
  // A record's ETag, made of its version (features/versions.hpp): sent with
  // every answer that carries the record (a read, a write's, a 412), and
  // the base of a kept read's variants' tags. Empty: a kept read's ETag is
  // a hash of its bytes (a page).
  std::string etag;
};

// The header and cookie of read-your-writes across instances, and how long
// the cookie lives (a replica passes a position in milliseconds).
inline constexpr std::string_view position_header = "Granite-Position";
inline constexpr std::string_view position_cookie = "granite_position";
inline constexpr int position_cookie_max_age_s = 60;

inline constexpr std::string_view json_type = "application/json; charset=utf-8";
inline constexpr std::string_view text_type = "text/plain; charset=utf-8";
inline constexpr std::string_view problem_type = "application/problem+json";

// The request's method as sent, or its verb's name when none was kept.
inline std::string_view method_of(const request& r) {
  return r.method_name.empty() ? verb_name(r.method) : std::string_view(r.method_name);
}

response text(int status, std::string body);
response json(int status, std::string body);
// 201 with Location and the new record.
response created(std::string location, std::string json_body);
// 204, no body.
response no_content();

// The standard reason phrase ("Not Found"), or "Unknown".
std::string_view reason(int status);

using granite::percent_decode;  // granite/text.hpp

// The name=value pairs of a query string, decoded, in order; nullopt when an
// escape is malformed.
std::optional<std::vector<std::pair<std::string, std::string>>> parse_query(std::string_view query);

// Splits a request target into path and query; absolute-form targets
// ("http://host/path") are reduced to their path.
void split_target(std::string_view target, std::string& path, std::string& query);

}  // namespace granite::http
