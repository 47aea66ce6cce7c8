#include "response_head.hpp"

#include <charconv>
#include <ctime>

#include "granite/http/message.hpp"
#include "granite/version.hpp"

namespace granite::http {

namespace {

const std::string& server_and_date() {
  static const std::string line = std::string("\r\nServer: granite/") + granite::version + "\r\nDate: ";
  return line;
}

void append_number(std::string& out, std::uint64_t n) {
  char buf[24];
  auto end = std::to_chars(buf, buf + sizeof buf, n).ptr;
  out.append(buf, end);
}

}  // namespace

const std::string& http_date() {
  thread_local std::time_t cached_second = 0;
  thread_local std::string cached;
  std::time_t now = std::time(nullptr);
  if (now != cached_second) {
    char buf[64];
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached = buf;
    cached_second = now;
  }
  return cached;
}

void response_head::start(int status) {
  status_ = status;
  out_.clear();
  out_ += "HTTP/1.1 ";
  append_number(out_, static_cast<std::uint64_t>(status));
  out_ += ' ';
  out_ += reason(status);
  out_ += server_and_date();
  out_ += http_date();
  out_ += "\r\n";
}

void response_head::header(std::string_view name, std::string_view value) {
  out_ += name;
  out_ += ": ";
  out_ += value;
  out_ += "\r\n";
}

void response_head::content_length(std::size_t n) {
  out_ += "Content-Length: ";
  append_number(out_, n);
  out_ += "\r\n";
}

void response_head::finish(std::string_view request_id, bool keep_alive, int version) {
  header("X-Request-Id", request_id);
  if (!keep_alive && version >= 11) out_ += "Connection: close\r\n";
  if (keep_alive && version < 11) out_ += "Connection: keep-alive\r\n";
  out_ += "\r\n";
}

}  // namespace granite::http
