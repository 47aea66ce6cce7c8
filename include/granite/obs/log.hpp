#pragma once

#include <spdlog/spdlog.h>

#include <string>
#include <string_view>

namespace granite::obs {

// The leader logs synchronously: it logs little, and it must not own a logger
// thread when it forks.
void init_leader(std::string_view level);

// Called in a worker after fork: an asynchronous logger, so a slow stderr
// never blocks the event loop (when its queue is full the oldest line is
// dropped rather than the worker waiting).
void init_worker(int slot, std::string_view level);

// Called in the change feed's process after fork: plain synchronous lines
// (it logs little, and nothing waits on it).
void init_feed(std::string_view level);

// A command-line tool (migrate, seed, check-config): plain synchronous lines.
void init_tool(std::string_view level);

// Flushes and stops the logger thread (before a worker exits).
void shutdown();

// A request id unique across processes: a random per-process prefix and a counter.
std::string next_request_id();
// The same, into `out` (whose capacity is reused).
void next_request_id(std::string& out);

}  // namespace granite::obs
