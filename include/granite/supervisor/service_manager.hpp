#pragma once

#include <string>
#include <string_view>

namespace granite::supervisor {

// Tells the service manager that started us (systemd, Type=notify) about our
// state: "READY=1", "STOPPING=1", "RELOADING=1", "MAINPID=<pid>", "STATUS=..."
// lines, one datagram to the socket that $NOTIFY_SOCKET named at start (a
// path, or an abstract name when it starts with '@'). Does nothing without
// one; a failed send is logged, never fatal.
class service_manager {
 public:
  // `socket`: NOTIFY_SOCKET as the environment of the start gave it.
  explicit service_manager(std::string socket) : socket_(std::move(socket)) {}
  // Whether the datagram was sent.
  bool notify(std::string_view state) const;

 private:
  std::string socket_;
};

}  // namespace granite::supervisor
