#pragma once

// Writing responses: the status line and the headers, formatted into a buffer
// that a connection reuses from one response to the next (no allocation once
// it has grown). The body is sent beside it, in the same write.
#include <cstddef>
#include <string>
#include <string_view>

namespace granite::http {

class response_head {
 public:
  // "HTTP/1.1 <status> <reason>", then Server (naming the release, so that a
  // rollout can be watched from the outside) and Date.
  void start(int status);
  void header(std::string_view name, std::string_view value);
  void content_length(std::size_t n);
  // Header lines already formatted, each ending in CRLF.
  void raw(std::string_view lines) { out_ += lines; }
  // X-Request-Id, the connection's fate for this client (`version` 10 or 11:
  // HTTP/1.0 keeps alive only when told, 1.1 unless told), the blank line.
  void finish(std::string_view request_id, bool keep_alive, int version);

  int status() const { return status_; }
  const std::string& text() const { return out_; }

 private:
  std::string out_;
  int status_ = 0;
};

// The Date header's value, formatted at most once a second per thread.
const std::string& http_date();

}  // namespace granite::http
