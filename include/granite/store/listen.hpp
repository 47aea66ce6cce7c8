#pragma once

// A connection that LISTENs on the change-notice channel (store/notices.hpp),
// read without blocking: its owner waits until socket() is readable, on an
// event loop of its own, and then calls take().
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace granite::store {

class notice_connection {
 public:
  // Connects and LISTENs. Blocks for up to the connect timeout (not for an
  // event loop that serves). Throws unavailable.
  explicit notice_connection(const std::string& conninfo);
  ~notice_connection();
  notice_connection(const notice_connection&) = delete;
  notice_connection& operator=(const notice_connection&) = delete;

  int socket() const;
  // Reads what has arrived and gives each notice to apply(text, the
  // sending backend's pid). False when the connection is lost: error() says
  // why.
  bool take(const std::function<void(std::string_view notice, int backend)>& apply);
  const std::string& error() const { return error_; }

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
  std::string error_;
};

}  // namespace granite::store
