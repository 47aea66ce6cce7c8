#include "granite/obs/access_log.hpp"

#include <fcntl.h>
#include <limits.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>

namespace granite::obs {

namespace {
using clock = std::chrono::steady_clock;
constexpr auto open_retry = std::chrono::seconds(1);

std::string shown(const std::string& path) { return path.empty() ? "standard error" : path; }

constexpr char hex[] = "0123456789abcdef";

// Which bytes go into a line as they are: printable ASCII but '"' and
// '\' (plain: no space either, so that a field is one word).
struct byte_classes {
  bool plain[256] = {};
  bool json[256] = {};
  constexpr byte_classes() {
    for (int b = 0x20; b < 0x7f; ++b) json[b] = b != '"' && b != '\\';
    for (int b = 0x21; b < 0x7f; ++b) plain[b] = json[b];
  }
};
constexpr byte_classes as_is;

// The longest run of bytes from `from` that go as they are.
std::size_t run_of(const bool (&keep)[256], std::string_view text, std::size_t from) {
  std::size_t end = from;
  while (end < text.size() && keep[static_cast<unsigned char>(text[end])]) ++end;
  return end - from;
}

// Text a client chose, on a plain line: printable ASCII as it is, other
// bytes (and '"', '\') as \xHH; nothing at all as "-".
void append_plain(std::string& out, std::string_view text) {
  if (text.empty()) {
    out += '-';
    return;
  }
  for (std::size_t i = 0; i < text.size();) {
    auto n = run_of(as_is.plain, text, i);
    out.append(text.data() + i, n);
    i += n;
    if (i == text.size()) break;
    auto byte = static_cast<unsigned char>(text[i++]);
    char escaped[4] = {'\\', 'x', hex[byte >> 4], hex[byte & 15]};
    out.append(escaped, 4);
  }
}

// A JSON string; bytes outside ASCII as \u00XX, so that any text the
// client sent makes valid JSON.
void append_json(std::string& out, std::string_view text) {
  out += '"';
  for (std::size_t i = 0; i < text.size();) {
    auto n = run_of(as_is.json, text, i);
    out.append(text.data() + i, n);
    i += n;
    if (i == text.size()) break;
    auto byte = static_cast<unsigned char>(text[i++]);
    switch (byte) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: {
        char escaped[6] = {'\\', 'u', '0', '0', hex[byte >> 4], hex[byte & 15]};
        out.append(escaped, 6);
      }
    }
  }
  out += '"';
}

void append_json_or_null(std::string& out, std::string_view text) {
  if (text.empty())
    out += "null";
  else
    append_json(out, text);
}

void append_number(std::string& out, std::int64_t n) {
  char buf[24];
  auto end = std::to_chars(buf, buf + sizeof buf, n).ptr;
  out.append(buf, static_cast<std::size_t>(end - buf));
}

std::string_view cache_word(access_record::cache_use c) {
  switch (c) {
    case access_record::cache_use::hit: return "hit";
    case access_record::cache_use::miss: return "miss";
    default: return {};
  }
}

void format_json(std::string& out, std::string_view time, int slot, int pid, const access_record& r) {
  out += "{\"time\":\"";
  out += time;
  out += "\",\"worker\":";
  append_number(out, slot);
  out += ",\"pid\":";
  append_number(out, pid);
  out += ",\"request_id\":";
  append_json(out, r.request_id);
  out += ",\"client\":";
  append_json(out, r.client);
  out += ",\"method\":";
  append_json_or_null(out, r.method);
  out += ",\"target\":";
  append_json_or_null(out, r.target);
  out += ",\"route\":";
  append_json_or_null(out, r.route);
  out += ",\"status\":";
  append_number(out, r.status);
  out += ",\"bytes\":";
  append_number(out, static_cast<std::int64_t>(r.bytes));
  out += ",\"duration_us\":";
  append_number(out, r.duration_us);
  out += ",\"cache\":";
  append_json_or_null(out, cache_word(r.cache));
  out += ",\"trace_id\":";
  append_json_or_null(out, r.trace_id);
  out += "}\n";
}

void format_plain(std::string& out, std::string_view time, int slot, int pid, const access_record& r) {
  out += time;
  out += " info [worker ";
  append_number(out, slot);
  out += ' ';
  append_number(out, pid);
  out += "] access ";
  append_plain(out, r.method);
  out += ' ';
  append_plain(out, r.target);
  out += ' ';
  append_number(out, r.status);
  out += ' ';
  append_number(out, static_cast<std::int64_t>(r.bytes));
  out += "B ";
  append_number(out, r.duration_us);
  out += "us rid=";
  append_plain(out, r.request_id);
  out += " client=";
  append_plain(out, r.client);
  out += " cache=";
  append_plain(out, cache_word(r.cache));
  if (!r.route.empty()) {
    out += " route=";
    append_plain(out, r.route);
  }
  if (!r.trace_id.empty()) {
    out += " trace=";
    append_plain(out, r.trace_id);
  }
  out += '\n';
}

}  // namespace

void format_access_line(std::string& out, access_format format, std::string_view time, int slot, int pid,
                        const access_record& r) {
  if (format == access_format::json)
    format_json(out, time, slot, pid, r);
  else
    format_plain(out, time, slot, pid, r);
}

access_log::access_log(options o)
    : path_(std::move(o.path)),
      format_(o.format),
      slot_(o.slot),
      pid_(o.pid),
      chunk_bytes_(o.chunk_bytes),
      max_queued_(o.max_queued) {
  current_.text.reserve(chunk_bytes_ + 1024);
  open_file(false);
  writer_ = std::thread([this] { write_loop(); });
}

access_log::~access_log() {
  if (!current_.text.empty()) hand_over(true);  // the last lines wait for the writer, however far behind
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  writer_.join();
  if (owns_fd_) ::close(fd_);
  if (auto lost = dropped_.load(); lost > 0)
    spdlog::warn("access log {}: {} of {} lines could not be written and were dropped", shown(path_), lost, lines_);
}

void access_log::append_time(std::string& out) {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  if (now.tv_sec != time_second_) {
    time_second_ = now.tv_sec;
    std::tm utc{};
    gmtime_r(&now.tv_sec, &utc);
    std::strftime(time_prefix_, sizeof time_prefix_, "%Y-%m-%dT%H:%M:%S.", &utc);
  }
  out.append(time_prefix_);
  char micros[8];
  auto us = static_cast<unsigned>(now.tv_nsec / 1000);
  for (int i = 5; i >= 0; --i, us /= 10) micros[i] = static_cast<char>('0' + us % 10);
  micros[6] = 'Z';
  out.append(micros, 7);
}

void access_log::write(const access_record& r) {
  time_.clear();
  append_time(time_);
  format_access_line(current_.text, format_, time_, slot_, pid_, r);
  ++current_.lines;
  ++lines_;
  if (current_.text.size() >= chunk_bytes_) hand_over();
}

void access_log::flush() {
  if (!current_.text.empty()) hand_over();
}

void access_log::reopen() {
  flush();
  {
    std::lock_guard lock(mutex_);
    chunk marker;
    marker.reopen = true;
    queued_.push_back(std::move(marker));
  }
  wake_.notify_one();
}

void access_log::hand_over(bool always) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (queued_text_ >= max_queued_ && !always) {
      // The writer is that far behind: these lines give way, the loop
      // never waits for the disk.
      dropped_.fetch_add(current_.lines, std::memory_order_relaxed);
      current_.text.clear();
      current_.lines = 0;
      return;
    }
    wake = queued_.empty();
    queued_.push_back(std::move(current_));
    ++queued_text_;
    current_ = chunk{};
    if (!spare_.empty()) {
      current_.text = std::move(spare_.back());
      spare_.pop_back();
    }
  }
  if (current_.text.capacity() < chunk_bytes_) current_.text.reserve(chunk_bytes_ + 1024);
  if (wake) wake_.notify_one();
}

access_log::counts access_log::totals() const {
  return {lines_, written_.load(std::memory_order_relaxed), dropped_.load(std::memory_order_relaxed)};
}

void access_log::write_loop() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !queued_.empty(); });
    if (queued_.empty()) return;  // stopping, and everything is written
    chunk c = std::move(queued_.front());
    queued_.pop_front();
    if (!c.reopen) --queued_text_;
    lock.unlock();
    if (c.reopen)
      open_file(true);
    else
      write_chunk(c);
    c.text.clear();
    lock.lock();
    if (!c.reopen && spare_.size() < 2) spare_.push_back(std::move(c.text));
  }
}

void access_log::write_chunk(const chunk& c) {
  if (fd_ < 0 && clock::now() >= next_open_) open_file(true);
  bool ok = fd_ >= 0 && write_all(c.text);
  if (ok) {
    written_.fetch_add(c.lines, std::memory_order_relaxed);
    if (failing_) {
      spdlog::info("access log {} is written again ({} lines were dropped)", shown(path_), dropped_while_failing_);
      failing_ = false;
    }
    return;
  }
  dropped_.fetch_add(c.lines, std::memory_order_relaxed);
  dropped_while_failing_ = failing_ ? dropped_while_failing_ + c.lines : c.lines;
  if (!failing_ && fd_ >= 0)
    spdlog::error("access log {}: cannot write: {}; lines are dropped (and counted) until it can be", shown(path_),
                  std::strerror(errno));
  failing_ = true;
}

// A regular file opened to append takes each write whole, so that workers
// writing to one file never cut each other's lines. A pipe does that for
// PIPE_BUF bytes at most: there, each write is cut at a line's end.
bool access_log::write_all(std::string_view text) {
  while (!text.empty()) {
    std::size_t n = text.size();
    if (atomic_lines_ && n > PIPE_BUF) {
      auto end = text.rfind('\n', PIPE_BUF - 1);
      n = end == std::string_view::npos ? text.find('\n') + 1 : end + 1;
      if (n == 0) n = text.size();  // no line end at all
    }
    auto piece = text.substr(0, n);
    while (!piece.empty()) {
      ssize_t done = ::write(fd_, piece.data(), piece.size());
      if (done < 0 && errno == EINTR) continue;
      if (done <= 0) {
        if (done == 0) errno = EIO;
        return false;
      }
      piece.remove_prefix(static_cast<std::size_t>(done));
    }
    text.remove_prefix(n);
  }
  return true;
}

void access_log::open_file(bool again) {
  if (path_.empty()) {
    fd_ = STDERR_FILENO;
    struct stat st{};
    atomic_lines_ = fstat(fd_, &st) == 0 && !S_ISREG(st.st_mode);
    return;
  }
  int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    next_open_ = clock::now() + open_retry;
    if (fd_ >= 0)
      spdlog::error("access log {}: cannot open it again: {}; writing on to the file already open", path_,
                    std::strerror(errno));
    else if (!again || !failing_)
      spdlog::error("access log {}: cannot open: {}; lines are dropped (and counted) until it can be "
                    "(tried again every second)",
                    path_, std::strerror(errno));
    failing_ = fd_ < 0;
    return;
  }
  if (owns_fd_) ::close(fd_);
  fd_ = fd;
  owns_fd_ = true;
  struct stat st{};
  atomic_lines_ = fstat(fd_, &st) == 0 && !S_ISREG(st.st_mode);
  if (again) spdlog::info("access log {} opened", path_);
}

}  // namespace granite::obs
