#pragma once

// What the responder and the access line read of a request's header
// beyond the `request` itself. Private to http/.
#include <string>

namespace granite::http {

// What a session keeps of a request's header beyond the `request` itself.
struct request_head {
  int version = 11;
  std::string if_none_match;  // every If-None-Match field, joined by ", "
  std::string if_match;       // every If-Match field, joined by ", "
  bool if_match_sent = false;  // at least one If-Match field came (its value may be empty)
  std::string accept_encoding;  // every Accept-Encoding field, joined by ", "
  std::string forwarded_for;  // every X-Forwarded-For field, joined by ", "
  std::string trace_id;       // X-Amzn-Trace-Id (the load balancer's), for the access log
  std::string position;       // Granite-Position, as sent (the first)
  std::string cookie;         // every Cookie field, joined by "; "
  bool expect_continue = false;
};

}  // namespace granite::http
