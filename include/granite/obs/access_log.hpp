#pragma once

// A worker's access log: lines are formatted on the event loop into a chunk
// of memory, and a thread of the log's own writes whole chunks (when one is
// full, and at least every `log.flush_ms`). A line costs its formatting and
// nothing else: no system call, no lock, no wake-up; a chunk of 64 KiB
// (several hundred lines) costs one hand-over and one write.
//
// Logging never stops serving: when the file cannot be opened or written
// (a full disk, a missing directory), or the writer falls behind by more
// than `max_queued` chunks, lines are dropped, counted and reported in the
// log, and serving goes on.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace granite::obs {

// What an access line says of one request.
struct access_record {
  enum class cache_use { none, hit, miss };  // none: the route is not cached
  std::string_view request_id;
  std::string_view client;    // the client's address (see http.trusted_proxies)
  std::string_view method;    // as sent; empty: the request could not be read
  std::string_view target;    // as sent
  std::string_view route;     // the pattern that answered ("/api/users/{id}"); empty: none
  std::string_view trace_id;  // X-Amzn-Trace-Id as sent; empty: none
  int status = 0;
  std::uint64_t bytes = 0;  // of the body
  std::int64_t duration_us = 0;
  cache_use cache = cache_use::none;
};

enum class access_format { plain, json };

// One line, as the log writes it (with a newline). Plain:
//   2026-11-26T14:21:21.763488Z info [worker 0 4361] access GET /api/users/1 200 322B 1660us
//   rid=2f6c98c5-1 client=192.0.2.7 cache=hit route=/api/users/{id} trace=Root=1-67891233-abcdef
// (one line; route and trace only when there is one), the client's text
// with bytes outside printable ASCII, '"' and '\' written as \xHH. JSON:
//   {"time":"...","worker":0,"pid":4361,"request_id":"...","client":"...","method":"GET",
//    "target":"...","route":"/api/users/{id}","status":200,"bytes":322,"duration_us":1660,
//    "cache":"hit","trace_id":null}
// with every string escaped as JSON asks and each byte outside ASCII as
// \u00XX (so the line is ASCII, valid JSON whatever the client sent);
// route, cache and trace_id are null when there is none.
void format_access_line(std::string& out, access_format format, std::string_view time, int slot, int pid,
                        const access_record& r);

class access_log {
 public:
  struct options {
    std::string path;  // empty: standard error
    access_format format = access_format::plain;
    int slot = 0;
    int pid = 0;
    std::size_t chunk_bytes = 64 * 1024;
    std::size_t max_queued = 16;  // chunks waiting for the writer; beyond, the newest is dropped
  };
  struct counts {
    std::uint64_t lines = 0;    // formatted
    std::uint64_t written = 0;  // in the file
    std::uint64_t dropped = 0;  // could not be written
  };

  explicit access_log(options o);
  // Writes what is buffered, then stops the writer.
  ~access_log();
  access_log(const access_log&) = delete;
  access_log& operator=(const access_log&) = delete;

  // Formats the line into the chunk being filled. Event loop only.
  void write(const access_record& r);

  // Hands over what is buffered: the loop's timer calls this every
  // log.flush_ms.
  void flush();
  // Opens the file again once what is buffered now is written (SIGUSR1,
  // after the file was rotated). Standard error is kept.
  void reopen();

  counts totals() const;

 private:
  struct chunk {
    std::string text;
    std::uint64_t lines = 0;
    bool reopen = false;  // not text: the writer reopens the file here
  };

  // Appends "2026-11-26T14:21:21.763488Z", the time now in UTC (the date
  // and time of day formatted once a second).
  void append_time(std::string& out);
  // The chunk being filled goes to the writer; dropped when the writer is
  // max_queued chunks behind, unless `always`.
  void hand_over(bool always = false);
  void write_loop();
  void write_chunk(const chunk& c);
  bool write_all(std::string_view text);
  void open_file(bool again);

  const std::string path_;
  const access_format format_;
  const int slot_;
  const int pid_;
  const std::size_t chunk_bytes_;
  const std::size_t max_queued_;

  // The loop's side.
  chunk current_;
  std::uint64_t lines_ = 0;
  std::int64_t time_second_ = -1;
  char time_prefix_[24] = {};  // "2026-11-26T14:21:21."
  std::string time_;

  // Shared with the writer, under mutex_.
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<chunk> queued_;
  std::vector<std::string> spare_;  // written chunks' memory, for reuse
  std::size_t queued_text_ = 0;     // chunks of text in queued_
  bool stopping_ = false;
  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> dropped_{0};

  // The writer's side.
  int fd_ = -1;
  bool owns_fd_ = false;
  bool atomic_lines_ = false;  // a pipe or socket: writes of PIPE_BUF at most, cut at line ends
  bool failing_ = false;       // writes fail; said once, and again when they succeed
  std::uint64_t dropped_while_failing_ = 0;
  std::chrono::steady_clock::time_point next_open_{};
  std::thread writer_;
};

}  // namespace granite::obs
