#include "granite/obs/log.hpp"

#include <spdlog/async.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <random>

namespace granite::obs {

namespace {

// Time in UTC, level, then who wrote the line: role, slot, pid.
constexpr const char* pattern = "%Y-%m-%dT%H:%M:%S.%fZ %l [%n] %v";

std::string request_prefix;
std::atomic<std::uint64_t> request_counter{0};

void install(std::shared_ptr<spdlog::logger> logger, std::string_view level) {
  logger->set_pattern(pattern, spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::from_str(std::string(level)));
  logger->flush_on(spdlog::level::warn);
  spdlog::drop_all();
  spdlog::set_default_logger(std::move(logger));
}

void new_request_prefix() {
  std::random_device rd;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", static_cast<unsigned>(rd()));
  request_prefix = buf;
  request_counter = 0;
}

}  // namespace

void init_leader(std::string_view level) {
  install(std::make_shared<spdlog::logger>("leader " + std::to_string(getpid()),
                                           std::make_shared<spdlog::sinks::stderr_sink_mt>()),
          level);
}

void init_tool(std::string_view level) {
  install(std::make_shared<spdlog::logger>("granite " + std::to_string(getpid()),
                                           std::make_shared<spdlog::sinks::stderr_sink_mt>()),
          level);
}

void init_feed(std::string_view level) {
  install(std::make_shared<spdlog::logger>("changes " + std::to_string(getpid()),
                                           std::make_shared<spdlog::sinks::stderr_sink_mt>()),
          level);
}

void init_worker(int slot, std::string_view level) {
  // The queue is allocated whole (about 400 bytes a line): 2048 lines are
  // 0.8 MiB of every worker's memory, and tens of milliseconds of a busy
  // access log. When it is full, the oldest lines give way.
  spdlog::init_thread_pool(2048, 1);
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::async_logger>(
      "worker " + std::to_string(slot) + " " + std::to_string(getpid()), std::move(sink), spdlog::thread_pool(),
      spdlog::async_overflow_policy::overrun_oldest);
  install(std::move(logger), level);
  new_request_prefix();
}

void shutdown() { spdlog::shutdown(); }

void next_request_id(std::string& out) {
  if (request_prefix.empty()) new_request_prefix();
  char buf[48];
  int n = std::snprintf(buf, sizeof buf, "%s-%llx", request_prefix.c_str(),
                        static_cast<unsigned long long>(++request_counter));
  out.assign(buf, static_cast<std::size_t>(n));
}

std::string next_request_id() {
  std::string out;
  next_request_id(out);
  return out;
}

}  // namespace granite::obs
