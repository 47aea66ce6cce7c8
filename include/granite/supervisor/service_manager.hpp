#pragma once

#include <string_view>

namespace granite::supervisor {

// Tells the service manager that started us (systemd, Type=notify) about our
// state: "READY=1", "STOPPING=1", "RELOADING=1", "MAINPID=<pid>", "STATUS=..."
// lines, one datagram to the socket named by $NOTIFY_SOCKET (a path, or an
// abstract name when it starts with '@'). Does nothing without one; a failed
// send is logged, never fatal. Returns whether the datagram was sent.
bool notify_service_manager(std::string_view state);

}  // namespace granite::supervisor
